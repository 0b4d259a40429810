-- TicketBoss schema, part 4: seat pools, so that several API processes can sell one event without invalidating
-- each other's version; the database's clock; leases for work one process does at a time.
--
-- An event's available seats are split over a few seat pools, one row each. A commit is one version-guarded
-- UPDATE of one pool row (the pool of the process making it), with the reservation rows it accounts for. A
-- rebalance locks the event row and all its pools, in that order, and moves seats between pools; it changes no
-- version (the event's available seats, their sum, stay the same). The event row's available_seats is now a
-- reserve, seats in no pool: zero once this migration has run, it takes seats returned by an API process of an
-- earlier release still running during a rolling deploy, and the next rebalance moves them into the pools.
-- Invariant, for every event: available_seats + sum(pool available_seats) + sum(seats of 'confirmed' and 'held'
-- rows) = total_seats, and active_reservations + sum(pool active_reservations) counts those rows. The event's
-- version, as the API shows it, is its own version plus its pools' versions. A commit never writes the event row.
--
-- Safe on a live database: no table is rewritten and nothing waits long. The new table's foreign key takes a SHARE
-- ROW EXCLUSIVE lock on events, and the seats move in one statement that locks each event row: writes to events
-- wait until this transaction commits (milliseconds for thousands of events). An API process of an earlier
-- release still running sees no available seats once the move is committed and refuses new reservations (it never
-- oversells); the seats it returns go to the event row's reserve, and events it creates get their pools on first
-- use. Its count of reservations may then take the event row's below zero (the pools hold the rest of the count),
-- so that check goes.

-- A pool's active_reservations is the change its commits made to the event's count of reservations taking seats
-- (a cancellation may be committed on another pool than its reservation, so it may be negative); touched_at is
-- its last commit, which tells a rebalance which pools are in use; granted_at is when a rebalance last moved seats
-- into it for a batch, which protects them from the next rebalances until that batch had time to commit.
ALTER TABLE events DROP CONSTRAINT events_active_reservations_non_negative;

CREATE TABLE event_seat_pools (
  event_id             text        NOT NULL,
  pool                 integer     NOT NULL,
  available_seats      integer     NOT NULL,
  version              bigint      NOT NULL DEFAULT 0,
  active_reservations  integer     NOT NULL DEFAULT 0,
  touched_at           timestamptz NOT NULL DEFAULT '-infinity',
  granted_at           timestamptz NOT NULL DEFAULT '-infinity',
  CONSTRAINT event_seat_pools_pkey PRIMARY KEY (event_id, pool),
  CONSTRAINT event_seat_pools_event_fkey FOREIGN KEY (event_id) REFERENCES events (event_id),
  CONSTRAINT event_seat_pools_pool_range CHECK (pool BETWEEN 0 AND 63),
  CONSTRAINT event_seat_pools_available_non_negative CHECK (available_seats >= 0),
  CONSTRAINT event_seat_pools_version_non_negative CHECK (version >= 0)
);

-- Existing events: their available seats spread evenly over 8 pools (the default TICKETBOSS_SEAT_POOLS).
WITH old AS (
  SELECT event_id, available_seats FROM events ORDER BY event_id FOR NO KEY UPDATE
), emptied AS (
  UPDATE events e SET available_seats = 0 FROM old WHERE e.event_id = old.event_id AND old.available_seats > 0
)
INSERT INTO event_seat_pools (event_id, pool, available_seats)
SELECT old.event_id, g.pool, old.available_seats / 8 + CASE WHEN g.pool < old.available_seats % 8 THEN 1 ELSE 0 END
  FROM old CROSS JOIN generate_series(0, 7) AS g(pool);

-- The database's clock, which decides time for every API process (a hold's createdAt and expiresAt, expiries,
-- cancellations): each process reads it and keeps it with its own monotonic clock, so hosts whose clocks differ
-- agree. Tests that move time replace this function with one that adds an offset.
CREATE FUNCTION ticketboss_now() RETURNS timestamptz LANGUAGE sql VOLATILE AS $$ SELECT clock_timestamp() $$;

-- Work that one API process does at a time (the sweeper): the holder renews its lease before it runs out; once
-- it has run out, any process may take it.
CREATE TABLE ticketboss_leases (
  name        text        NOT NULL,
  holder      text        NOT NULL,
  expires_at  timestamptz NOT NULL,
  CONSTRAINT ticketboss_leases_pkey PRIMARY KEY (name)
);
