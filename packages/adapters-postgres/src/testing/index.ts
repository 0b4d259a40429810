export { createTestDatabase, type TestDatabase } from './test-database.js';
export { startTestPostgresServer, type TestPostgresServer } from './postgres-server.js';
export { waitUntil } from './wait.js';
export { databaseNow, setDatabaseClockOffset } from './database-clock-offset.js';
export { addEndpoint, insertPartner, queuedJobs, type QueuedJob } from './webhooks.js';
