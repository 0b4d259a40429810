/** `pnpm start`: the settings, a logger, start(), and signals; everything else is in start.ts. */
import { loadConfigOrExit } from './config.js';
import { PortInUseError } from './port.js';
import { closeOnSignals } from './signals.js';
import { createLogger, start, type Started } from './start.js';

const config = loadConfigOrExit(process.env);
const logger = createLogger(config);
let started: Started | undefined;
closeOnSignals(config, logger, () => started);
try {
  started = await start(config, logger);
} catch (error) {
  if (error instanceof PortInUseError) process.stderr.write(`ticketboss: ${error.message}\n`);
  // One line that says what stopped start-up, with the error's stack (and cause) for whoever has to find out why.
  else logger.fatal({ err: error }, error instanceof Error ? error.message : String(error));
  process.exit(1);
}
