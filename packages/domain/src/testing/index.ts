export { createInMemoryEventRepository, type InMemoryEventRepository } from './in-memory-event-repository.js';
