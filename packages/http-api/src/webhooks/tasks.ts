/**
 * The job queue's two tasks: posting a delivery, and expiring a hold on time. A task throws only when it
 * could not do its work (the database unreachable): the queue then runs it again later. Attempts that reach an
 * endpoint and fail are retried by TicketBoss's own policy (deliver.ts), not by throwing.
 */
import type { Clock, ReservationService } from '@ticketboss/domain';
import type { Logger } from 'pino';
import { deliver, type DeliverDeps } from './deliver.js';

export type Task = (payload: unknown) => Promise<void>;

/** The longest a hold expiry job waits for a hold that is not quite past its expiry by this process's clock. */
const MAX_EXPIRY_WAIT_MS = 2000;

const stringField = (payload: unknown, field: string): string | undefined => {
  const value = typeof payload === 'object' && payload !== null ? (payload as Record<string, unknown>)[field] : null;
  return typeof value === 'string' ? value : undefined;
};

export function webhookTasks(deps: {
  readonly deliver: DeliverDeps;
  readonly reservations: ReservationService;
  readonly clock: Clock;
  readonly logger: Logger;
}): { readonly deliver: Task; readonly expireHold: Task } {
  const { logger } = deps;
  return {
    /** Payload `{ deliveryId }`: one attempt of the delivery. */
    async deliver(payload) {
      const deliveryId = stringField(payload, 'deliveryId');
      if (!deliveryId) return logger.warn({ payload }, 'webhook delivery job: no deliveryId in the payload; dropped');
      const result = await deliver(deps.deliver, deliveryId);
      logger.debug({ deliveryId, result }, 'webhook delivery');
    },

    /** Payload `{ eventId, reservationId }`, run at the hold's expiry: expires it then, if it is still a hold. */
    async expireHold(payload) {
      const reservationId = stringField(payload, 'reservationId');
      if (!reservationId) return logger.warn({ payload }, 'hold expiry job: no reservationId in the payload; dropped');
      for (let round = 1; round <= 3; round += 1) {
        const outcome = await deps.reservations.expireHold(reservationId);
        switch (outcome.kind) {
          case 'swept':
            if (outcome.expired.length > 0) logger.debug({ holds: outcome.expired.length }, 'expired holds marked');
            return;
          case 'not_held':
            return;
          case 'contended':
            // Too busy now: the queue runs the job again later, and the sweeper meanwhile.
            throw new Error(`hold ${reservationId}: its event was too busy to expire it`);
          case 'not_yet': {
            // The queue ran the job by the database's clock; this process's estimate of it may be a little behind.
            const waitMs = outcome.expiresAt.getTime() - deps.clock.now().getTime() + 1;
            if (waitMs > MAX_EXPIRY_WAIT_MS) {
              // Moved (a clock changed): the sweeper expires it in time all the same.
              return logger.debug({ reservationId, waitMs }, 'hold expiry job ran early; left to the sweeper');
            }
            await new Promise((resolve) => setTimeout(resolve, Math.max(0, waitMs)));
          }
        }
      }
    },
  };
}
