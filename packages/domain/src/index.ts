export * from './event.js';
export * from './reservation.js';
export * from './ports.js';
export * from './reservations.js';
export * from './plan-batch.js';
export * from './coalescer.js';
export * from './recent-reservations.js';
