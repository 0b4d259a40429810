/**
 * `pnpm ticketboss <command>`: the operator's command line. It works on the database directly, through the same
 * use cases as the HTTP API, so a partner or event made here is exactly what the admin routes would have made.
 */
import pino from 'pino';
import { ConfigError, loadConfig, type Config } from '../server/config.js';
import type { OpenDatabase } from '../server/database.js';
import { createServices, unrefTimers } from '../server/services.js';
import { EXIT, parseCommandLine, USAGE, UsageError, type Invocation } from './command-line.js';
import { execute } from './commands.js';
import { connect, reasonOf } from './connection.js';
import { Failure, write } from './output.js';

async function main(args: string[]): Promise<number> {
  let invocation: Invocation;
  try {
    invocation = parseCommandLine(args);
  } catch (error) {
    if (!(error instanceof UsageError)) throw error;
    await write(process.stderr, `ticketboss: ${error.message}\n${error.showUsage ? `\n${USAGE}` : ''}`);
    return EXIT.usage;
  }
  if (invocation.kind === 'help') {
    await write(process.stderr, USAGE);
    return invocation.asked ? EXIT.ok : EXIT.usage;
  }
  const { command, json } = invocation;
  const fail = async (code: string, message: string) => {
    if (json) await write(process.stdout, `${JSON.stringify({ error: message, code })}\n`);
    else await write(process.stderr, `ticketboss: ${message}\n`);
    return EXIT.failed;
  };

  let config: Config;
  try {
    // Quiet by default: a command's output is its answer, not the server's progress lines.
    config = loadConfig({ ...process.env, LOG_LEVEL: process.env.LOG_LEVEL || 'warn' });
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    return fail('CONFIG_ERROR', error.message);
  }
  // Logs go to stderr, so that stdout holds only the answer (one JSON document with --json).
  const logger = pino({ level: config.logLevel }, pino.destination(2));
  let database: OpenDatabase | undefined;
  try {
    database = await connect(config, logger);
    const services = await createServices(database.db, { maxWaitMs: config.maxWaitMs, timers: unrefTimers });
    const answer = await execute(command, services, database).finally(() => services.close());
    await write(process.stdout, json ? `${JSON.stringify(answer.json, null, 2)}\n` : answer.text);
    return answer.status;
  } catch (error) {
    if (error instanceof Failure) return fail(error.code, error.message);
    logger.debug({ err: error }, 'command failed');
    return fail('FAILED', reasonOf(error));
  } finally {
    await database?.close().catch(() => undefined);
  }
}

// An embedded PostgreSQL started for this command is stopped by its launcher's exit hook, which a signal's
// default action would skip: exit through process.exit instead.
process.once('SIGINT', () => process.exit(130));
process.once('SIGTERM', () => process.exit(143));
process.exitCode = await main(process.argv.slice(2));
