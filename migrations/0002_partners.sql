-- TicketBoss schema, part 2: partners and their API keys; many events, each with its own seat limit per
-- reservation; partners list their own reservations page by page.

-- Set when the event is created; the seed's default event keeps the seed's limit of 10.
ALTER TABLE events
  ADD COLUMN max_seats_per_reservation integer NOT NULL DEFAULT 10,
  ADD CONSTRAINT events_max_seats_per_reservation_range CHECK (max_seats_per_reservation BETWEEN 1 AND 1000);

CREATE TABLE partners (
  partner_id  text        NOT NULL,
  name        text        NOT NULL,
  created_at  timestamptz NOT NULL DEFAULT now(),
  CONSTRAINT partners_pkey PRIMARY KEY (partner_id),
  CONSTRAINT partners_partner_id_format CHECK (partner_id ~ '^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$'),
  CONSTRAINT partners_name_length CHECK (length(btrim(name)) > 0 AND char_length(name) <= 200)
);

-- A token is shown once, when it is issued; only its SHA-256 is kept. Its key id is part of the token (and of
-- its visible prefix "tb_<key_id>_"), so a request's key is found by id and its hash compared in constant time.
CREATE TABLE api_keys (
  key_id      text        NOT NULL,
  partner_id  text        NOT NULL,
  token_hash  bytea       NOT NULL,
  created_at  timestamptz NOT NULL DEFAULT now(),
  revoked_at  timestamptz,
  CONSTRAINT api_keys_pkey PRIMARY KEY (key_id),
  CONSTRAINT api_keys_partner_fkey FOREIGN KEY (partner_id) REFERENCES partners (partner_id),
  CONSTRAINT api_keys_key_id_format CHECK (key_id ~ '^[a-z0-9]{16}$'),
  CONSTRAINT api_keys_token_hash_sha256 CHECK (octet_length(token_hash) = 32)
);

CREATE INDEX api_keys_partner_idx ON api_keys (partner_id);

-- A partner's reservations of one event, oldest first: the order of GET /v1/events/:eventId/reservations.
CREATE INDEX reservations_partner_event_created_idx ON reservations (partner_id, event_id, created_at, reservation_id);
