import {
  InvalidPagePosition,
  isReservationId,
  type Page,
  type Reservation,
  type ReservationQuery,
  type ReservationStatus,
} from '@ticketboss/domain';
import { sql, type Kysely } from 'kysely';
import type { Database } from './database.js';
import { toReservation } from './event-rows.js';
import { transient } from './sql-errors.js';

/** A page of a partner's reservations of an event, in the order they were made, with their status as of `now`. */
export async function selectReservationPage(
  db: Kysely<Database>,
  { partnerId, eventId, status, limit, after }: ReservationQuery,
  now: Date,
): Promise<Page<Reservation>> {
  const start = after === undefined ? undefined : parseReservationPosition(after);
  let query = db
    .selectFrom('reservations')
    .selectAll()
    .select(sql<string>`((extract(epoch FROM created_at) * 1000000)::bigint)::text`.as('position_micros'))
    .where('partner_id', '=', partnerId)
    .where('event_id', '=', eventId)
    .orderBy('created_at')
    .orderBy('reservation_id')
    .limit(limit + 1);
  if (status !== undefined) query = query.where(statusCondition(status, now));
  if (start) {
    query = query.where(
      sql<boolean>`(created_at, reservation_id) > (${EPOCH} + ${start.micros}::bigint * interval '1 microsecond', ${start.reservationId}::uuid)`,
    );
  }
  const rows = await transient(() => query.execute());
  const page = rows.slice(0, limit);
  const last = page.at(-1);
  const items = page.map((row) => toReservation(row, now));
  return rows.length > limit && last ? { items, next: `${last.position_micros}|${last.reservation_id}` } : { items };
}

/** The condition a listing's `status` filter stands for, as of `now`. */
function statusCondition(status: ReservationStatus, now: Date) {
  switch (status) {
    case 'held':
      return sql<boolean>`status = 'held' AND expires_at > ${now}`;
    case 'expired':
      return sql<boolean>`(status = 'expired' OR (status = 'held' AND expires_at <= ${now}))`;
    case 'confirmed':
    case 'cancelled':
      return sql<boolean>`status = ${status}`;
  }
}

/** Up to 16 digits: any instant from 1970 to 2286, so the database never sees a time it cannot hold. */
const POSITION_MICROS = /^\d{1,16}$/;
const EPOCH = sql`timestamptz '1970-01-01 00:00:00+00'`;

/**
 * A reservation page position: the exact creation time of the last item, in whole microseconds since 1970 (the
 * database's own precision, so no item is skipped or repeated), and its id.
 */
function parseReservationPosition(position: string): { micros: string; reservationId: string } {
  const [micros = '', reservationId = '', ...rest] = position.split('|');
  if (rest.length > 0 || !POSITION_MICROS.test(micros) || !isReservationId(reservationId)) {
    throw new InvalidPagePosition('not a reservation position');
  }
  return { micros, reservationId };
}
