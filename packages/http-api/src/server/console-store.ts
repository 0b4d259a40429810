/**
 * STAND-IN, replaced at merge by the adapter's createConsoleStore (branch console-store): the partners half on
 * adapters-postgres's partner-activity-store, the events half not there yet.
 */
import { addPartnerActivity, listPartnerOverviews, prunePartnerActivity } from '@ticketboss/adapters-postgres';
import type { DatabaseHandle } from '@ticketboss/adapters-postgres';
import type { Clock, ConsoleStore } from '@ticketboss/domain';

const notImplemented = async (): Promise<never> => {
  throw new Error('not implemented yet');
};

export function createConsoleStore(db: DatabaseHandle, clock: Clock): ConsoleStore {
  return {
    listEventOverviews: notImplemented,
    eventActivity: notImplemented,
    listPartnerOverviews: (query) => listPartnerOverviews(db, clock.now(), query),
    addPartnerActivity: (counts) => addPartnerActivity(db, counts),
    pruneActivity: (now) => prunePartnerActivity(db, now),
  };
}
