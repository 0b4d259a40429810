export { buildApp, BODY_LIMIT_BYTES, type AppDeps } from './app.js';
export { loadConfig, ConfigError, type Config } from './config.js';
