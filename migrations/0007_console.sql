-- TicketBoss schema, part 7: what the operator console (/console, the /v1/admin/... routes) reads besides the
-- events and reservations themselves. Two small rollups, both pruned by the sweeper:
--
-- event_activity: per event, per second, per seat pool, the changes applied to its reservations and seats. Written
-- by the statement that applies them (the commit statement, and an event's update), so it is exact and never
-- ahead of or behind the reservations: a rolled-back change records nothing. One row per pool, so that commits on
-- different pools never wait for each other here (a commit already holds its pool's row lock; an event's update,
-- pool -1, holds every pool's). A hold's expiry is counted in the second of its expiresAt (when its seats came
-- back, as GET /v1/events/:eventId counts them), whenever it is marked. Kept 1 hour.
--
-- partner_activity: per partner, per minute, what the API processes answered that partner: requests, new
-- reservations (holds included) and their seats, refusals for lack of seats, 429s, the last request's time.
-- Counted by each process and added here about once a second (a process killed in that second loses its count),
-- since a 429 must cost no database write of its own. Kept 24 hours.

-- And per seat pool, its last sale (a reservation confirmed at once, or a hold confirmed), set by the commit that
-- sells in the pool row it already writes: an event's last sale is the latest of its pools', exact, however long
-- ago, and read with the event's summary without a walk through the rollup. Null for a pool that never sold.

CREATE TABLE event_activity (
  event_id         text        NOT NULL,
  second           timestamptz NOT NULL,
  -- The seat pool whose commit wrote the row; -1 for an event's update (new capacity, expiries it marked).
  pool             smallint    NOT NULL,
  -- Reservations confirmed at once (POST .../reservations), and their seats.
  reservations     integer     NOT NULL DEFAULT 0,
  reserved_seats   integer     NOT NULL DEFAULT 0,
  -- Holds taken, and their seats.
  holds            integer     NOT NULL DEFAULT 0,
  held_seats       integer     NOT NULL DEFAULT 0,
  -- Holds confirmed, and their seats.
  confirmations    integer     NOT NULL DEFAULT 0,
  confirmed_seats  integer     NOT NULL DEFAULT 0,
  -- Reservations and live holds cancelled, and the seats that came back.
  cancellations    integer     NOT NULL DEFAULT 0,
  cancelled_seats  integer     NOT NULL DEFAULT 0,
  -- Holds expired (in the second of their expiresAt), and the seats that came back.
  expiries         integer     NOT NULL DEFAULT 0,
  expired_seats    integer     NOT NULL DEFAULT 0,
  -- New totalSeats minus the old, by an event's update.
  capacity_change  integer     NOT NULL DEFAULT 0,
  CONSTRAINT event_activity_pkey PRIMARY KEY (event_id, second, pool)
);

-- The events list's selling rates (every event's last minute) and pruning.
CREATE INDEX event_activity_second_idx ON event_activity (second);

CREATE TABLE partner_activity (
  partner_id       text        NOT NULL,
  minute           timestamptz NOT NULL,
  requests         integer     NOT NULL DEFAULT 0,
  reservations     integer     NOT NULL DEFAULT 0,
  seats            integer     NOT NULL DEFAULT 0,
  refusals         integer     NOT NULL DEFAULT 0,
  rate_limited     integer     NOT NULL DEFAULT 0,
  last_request_at  timestamptz NOT NULL,
  CONSTRAINT partner_activity_pkey PRIMARY KEY (partner_id, minute)
);

CREATE INDEX partner_activity_minute_idx ON partner_activity (minute);

-- The pool's last sale (see above): set by the commit statement, never moved back.
ALTER TABLE event_seat_pools ADD COLUMN last_sale_at timestamptz;
