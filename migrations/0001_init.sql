-- TicketBoss schema, part 1: events and their reservations.
-- Invariant, for every event: available_seats + sum(seats of confirmed reservations) = total_seats.
-- Every change to an event's seats is one version-guarded UPDATE of its row, in the same transaction as the
-- reservation rows it accounts for.

CREATE TABLE events (
  event_id             text        NOT NULL,
  name                 text        NOT NULL,
  total_seats          integer     NOT NULL,
  available_seats      integer     NOT NULL,
  active_reservations  integer     NOT NULL DEFAULT 0,
  version              bigint      NOT NULL DEFAULT 0,
  created_at           timestamptz NOT NULL DEFAULT now(),
  updated_at           timestamptz NOT NULL DEFAULT now(),
  CONSTRAINT events_pkey PRIMARY KEY (event_id),
  CONSTRAINT events_event_id_format CHECK (event_id ~ '^[a-z0-9][a-z0-9-]{0,63}$'),
  CONSTRAINT events_name_not_blank CHECK (length(btrim(name)) > 0),
  CONSTRAINT events_total_seats_non_negative CHECK (total_seats >= 0),
  CONSTRAINT events_available_seats_in_range CHECK (available_seats BETWEEN 0 AND total_seats),
  CONSTRAINT events_active_reservations_non_negative CHECK (active_reservations >= 0),
  CONSTRAINT events_version_non_negative CHECK (version >= 0)
);

CREATE TABLE reservations (
  reservation_id  uuid        NOT NULL,
  event_id        text        NOT NULL,
  partner_id      text        NOT NULL,
  seats           integer     NOT NULL,
  status          text        NOT NULL,
  created_at      timestamptz NOT NULL DEFAULT now(),
  cancelled_at    timestamptz,
  CONSTRAINT reservations_pkey PRIMARY KEY (reservation_id),
  CONSTRAINT reservations_event_fkey FOREIGN KEY (event_id) REFERENCES events (event_id),
  CONSTRAINT reservations_partner_id_length CHECK (char_length(partner_id) BETWEEN 1 AND 64),
  CONSTRAINT reservations_seats_positive CHECK (seats >= 1),
  CONSTRAINT reservations_status_known CHECK (status IN ('confirmed', 'cancelled')),
  CONSTRAINT reservations_cancelled_at_matches_status CHECK ((status = 'cancelled') = (cancelled_at IS NOT NULL))
);

-- The invariant check reads only active reservations.
CREATE INDEX reservations_event_confirmed_idx ON reservations (event_id) INCLUDE (seats) WHERE status = 'confirmed';
