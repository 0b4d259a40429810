import { TransientFailure } from '@ticketboss/domain';

export function sqlState(error: unknown): string | undefined {
  const code = typeof error === 'object' && error !== null ? (error as { code?: unknown }).code : undefined;
  return typeof code === 'string' && /^[0-9A-Z]{5}$/.test(code) ? code : undefined;
}

/**
 * Failures after which nothing was applied and the same statement may simply be tried again: a lock wait that
 * ran out (lock_timeout), a statement cancelled by statement_timeout, or (our lock order should rule it out) a
 * deadlock.
 */
export function isRetryable(error: unknown): boolean {
  const state = sqlState(error);
  return state === '55P03' || state === '57014' || state === '40P01';
}

/** Runs a read, turning a retryable failure into the domain's TransientFailure. */
export async function transient<T>(read: () => Promise<T>): Promise<T> {
  try {
    return await read();
  } catch (error) {
    if (isRetryable(error)) throw new TransientFailure((error as Error).message, { cause: error });
    throw error;
  }
}
