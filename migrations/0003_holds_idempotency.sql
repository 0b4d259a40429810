-- TicketBoss schema, part 3: holds that expire, and Idempotency-Key records.
--
-- A hold is a reservation with status 'held' and an expires_at. Its seats are taken from available_seats when it
-- is made, like a confirmed reservation's. From expires_at on it no longer counts: every read adds the seats of
-- held rows whose expires_at has passed back to available_seats, and the next change to the event (a commit, or
-- the sweeper) marks them 'expired' and returns their seats in the same version-guarded statement. So the stored
-- invariant stays: available_seats + sum(seats of 'confirmed' and 'held' rows) = total_seats, and
-- active_reservations counts those rows.

ALTER TABLE reservations
  ADD COLUMN expires_at timestamptz,
  DROP CONSTRAINT reservations_status_known,
  ADD CONSTRAINT reservations_status_known CHECK (status IN ('held', 'confirmed', 'cancelled', 'expired')),
  ADD CONSTRAINT reservations_hold_expires CHECK (status NOT IN ('held', 'expired') OR expires_at IS NOT NULL);

-- The holds of one event, by expiry: read by every summary and every commit.
CREATE INDEX reservations_event_held_idx ON reservations (event_id, expires_at) INCLUDE (seats) WHERE status = 'held';
-- The sweeper's question: which events have holds past their expiry?
CREATE INDEX reservations_held_expiry_idx ON reservations (expires_at) INCLUDE (event_id) WHERE status = 'held';
-- The invariant check reads the rows that take seats.
DROP INDEX reservations_event_confirmed_idx;
CREATE INDEX reservations_event_active_idx ON reservations (event_id) INCLUDE (seats)
  WHERE status IN ('confirmed', 'held');

-- One row per (partner, route, key). While a request is in flight status_code is NULL and claim_token names the
-- request holding it until locked_until; a request that finds the lease run out (its holder died) takes it over.
-- Once decided, status_code and response_body hold the answer, byte for byte, written in the same statement as
-- the reservation it made. Rows older than the retention (24 h by default) are purged.
CREATE TABLE idempotency_keys (
  partner_id     text        NOT NULL,
  route          text        NOT NULL,
  idem_key       text        NOT NULL,
  fingerprint    text        NOT NULL,
  claim_token    uuid        NOT NULL,
  locked_until   timestamptz NOT NULL,
  status_code    integer,
  response_body  text,
  created_at     timestamptz NOT NULL,
  completed_at   timestamptz,
  CONSTRAINT idempotency_keys_pkey PRIMARY KEY (partner_id, route, idem_key),
  CONSTRAINT idempotency_keys_key_length CHECK (char_length(idem_key) BETWEEN 1 AND 255),
  CONSTRAINT idempotency_keys_completed CHECK ((status_code IS NULL) = (response_body IS NULL)
                                               AND (status_code IS NULL) = (completed_at IS NULL))
);

CREATE INDEX idempotency_keys_created_idx ON idempotency_keys (created_at);
