/** `audit`: the invariant checked on every event, in one read-only snapshot. */
import { createDatabase, findInvariantBreaches, type InvariantBreach } from '@ticketboss/adapters-postgres';
import { EXIT } from './command-line.js';
import { done, type Answer } from './output.js';

export async function audit(connectionString: string): Promise<Answer> {
  // The check reads every reservation: a connection of its own, without the request timeouts.
  const db = createDatabase({ connectionString, poolSize: 1 });
  try {
    // One snapshot for the count and the check, so that both describe the same moment.
    const { checked, breaches } = await db
      .transaction()
      .setIsolationLevel('repeatable read')
      .setAccessMode('read only')
      .execute(async (trx) => {
        const row = await trx
          .selectFrom('events')
          .select((eb) => eb.fn.countAll().as('count'))
          .executeTakeFirstOrThrow();
        return { checked: Number(row.count), breaches: await findInvariantBreaches(trx) };
      });
    const json = { ok: breaches.length === 0, eventsChecked: checked, breaches };
    if (breaches.length === 0) return done(`ok: ${checked} events checked, invariant holds\n`, json);
    const summary = `${breaches.length} of ${checked} events break the invariant (available + reserved = total)`;
    return { status: EXIT.breaches, text: [...breaches.map(breachText), summary, ''].join('\n'), json };
  } finally {
    await db.destroy();
  }
}

function breachText(breach: InvariantBreach): string {
  return (
    `breach: event ${breach.eventId}: total ${breach.totalSeats}, available ${breach.availableSeats}, ` +
    `confirmed ${breach.reservedSeats}, held ${breach.heldSeats} (available + confirmed + held = ` +
    `${breach.availableSeats + breach.reservedSeats + breach.heldSeats}); ` +
    `${breach.confirmedReservations} confirmed reservations, ${breach.heldReservations} live holds and ` +
    `${breach.unmarkedExpiredHolds} expired holds not yet marked; the event row counts ${breach.recordedReservationCount}`
  );
}
