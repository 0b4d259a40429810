export * from './sell-out.js';
export * from './chromium.js';
