import { createServer, type Server } from 'node:net';

/** The port is taken: one line for the operator, naming the setting. */
export class PortInUseError extends Error {
  constructor(
    readonly port: number,
    readonly host: string,
  ) {
    super(`PORT ${port} is in use by another process; stop it or set PORT`);
    this.name = 'PortInUseError';
  }
}

export interface HeldPort {
  /** Frees the port for the server, which binds it next. */
  release(): Promise<void>;
}

/**
 * Binds PORT before anything else starts (database, admin token, demo partner), and keeps it bound until the
 * server takes it over: a port in use stops start-up before anything is created, and another process cannot take
 * the port during a start-up that lasts seconds (only in the moment between release() and the server's listen).
 * Connections that reach the placeholder meanwhile are closed at once, as a refused one would be. Port 0 (any
 * free port) needs no placeholder.
 */
export async function holdPort(port: number, host: string): Promise<HeldPort> {
  if (port === 0) return { release: async () => undefined };
  const placeholder: Server = createServer((socket) => socket.destroy());
  await new Promise<void>((resolve, reject) => {
    placeholder.once('error', (error: NodeJS.ErrnoException) =>
      reject(error.code === 'EADDRINUSE' ? new PortInUseError(port, host) : error),
    );
    placeholder.listen({ port, host, exclusive: true }, resolve);
  });
  let released: Promise<void> | undefined;
  return {
    release: () => (released ??= new Promise((resolve) => placeholder.close(() => resolve()))),
  };
}
