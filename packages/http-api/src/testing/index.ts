export * from './sell-out.js';
