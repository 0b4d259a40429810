export { createInMemoryEventRepository, type InMemoryEventRepository } from './in-memory-event-repository.js';
export * from './manual-clock.js';
