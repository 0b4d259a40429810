export { buildApp, BODY_LIMIT_BYTES, type AppDeps } from './server/app.js';
export { loadConfig, ConfigError, type Config } from './server/config.js';
