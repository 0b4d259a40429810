-- TicketBoss schema, part 6: webhooks. A partner registers endpoints; every change of one of its reservations is
-- recorded as a delivery to each of its enabled endpoints subscribed to that change's type, by triggers on
-- reservations, so in the same statement (and transaction) as the change itself, whichever path made it (a commit,
-- the sweeper, an event update). Each delivery gets a job of the job queue (0005, graphile-worker), which posts it.

CREATE TABLE webhook_endpoints (
  webhook_id             uuid        NOT NULL,
  partner_id             text        NOT NULL,
  url                    text        NOT NULL,
  description            text,
  event_types            text[]      NOT NULL,
  enabled                boolean     NOT NULL DEFAULT true,
  secret                 text        NOT NULL,
  previous_secret        text,
  previous_secret_until  timestamptz,
  -- Since when every attempt has failed; cleared by a success or by enabling the endpoint.
  failing_since          timestamptz,
  -- Why TicketBoss disabled the endpoint (its attempts failed for days); NULL when the partner disabled it.
  disabled_reason        text,
  created_at             timestamptz NOT NULL DEFAULT now(),
  updated_at             timestamptz NOT NULL DEFAULT now(),
  CONSTRAINT webhook_endpoints_pkey PRIMARY KEY (webhook_id),
  CONSTRAINT webhook_endpoints_partner_fkey FOREIGN KEY (partner_id) REFERENCES partners (partner_id) ON DELETE CASCADE,
  CONSTRAINT webhook_endpoints_url_length CHECK (char_length(url) BETWEEN 1 AND 2048),
  CONSTRAINT webhook_endpoints_description_length CHECK (char_length(description) <= 200),
  CONSTRAINT webhook_endpoints_event_types_known CHECK (
    cardinality(event_types) > 0
    AND event_types <@ ARRAY['reservation.created', 'reservation.held', 'reservation.confirmed',
                             'reservation.cancelled', 'reservation.expired']::text[]),
  CONSTRAINT webhook_endpoints_previous_secret CHECK ((previous_secret IS NULL) = (previous_secret_until IS NULL))
);

-- A partner's endpoints, oldest first (and the partners foreign key's cascade).
CREATE INDEX webhook_endpoints_partner_idx ON webhook_endpoints (partner_id, created_at);
-- The triggers' probe: does any partner of the changed reservations have an enabled endpoint?
CREATE INDEX webhook_endpoints_partner_enabled_idx ON webhook_endpoints (partner_id) WHERE enabled;

-- One notification to one endpoint. delivery_id is the `webhook-id` partners see, the same on every attempt.
-- seq orders the deliveries of one reservation to one endpoint as their changes committed (a reservation's changes
-- are serialised by its row lock), so the worker posts them in that order.
CREATE TABLE webhook_deliveries (
  delivery_id      text        NOT NULL,
  seq              bigint      GENERATED ALWAYS AS IDENTITY,
  webhook_id       uuid        NOT NULL,
  type             text        NOT NULL,
  reservation_id   uuid,
  occurred_at      timestamptz NOT NULL,
  -- The reservations row as the change left it (to_jsonb), for reservation.* types.
  reservation      jsonb,
  state            text        NOT NULL DEFAULT 'pending',
  attempts         integer     NOT NULL DEFAULT 0,
  -- The first attempt of the current retry window (a redelivery starts a new one).
  first_attempt_at timestamptz,
  next_attempt_at  timestamptz,
  delivered_at     timestamptz,
  CONSTRAINT webhook_deliveries_pkey PRIMARY KEY (delivery_id),
  CONSTRAINT webhook_deliveries_seq_key UNIQUE (seq),
  CONSTRAINT webhook_deliveries_endpoint_fkey FOREIGN KEY (webhook_id)
    REFERENCES webhook_endpoints (webhook_id) ON DELETE CASCADE,
  -- Each change of a reservation happens once.
  CONSTRAINT webhook_deliveries_change_key UNIQUE (webhook_id, reservation_id, type),
  CONSTRAINT webhook_deliveries_delivery_id_format CHECK (delivery_id ~ '^msg_[0-9a-f]{32}$'),
  CONSTRAINT webhook_deliveries_type_known CHECK (type IN ('reservation.created', 'reservation.held',
    'reservation.confirmed', 'reservation.cancelled', 'reservation.expired', 'webhook.test')),
  CONSTRAINT webhook_deliveries_state_known CHECK (state IN ('pending', 'delivered', 'failed')),
  CONSTRAINT webhook_deliveries_attempts_non_negative CHECK (attempts >= 0)
);

-- Earlier deliveries of the same reservation to the same endpoint (the order per reservation).
CREATE INDEX webhook_deliveries_order_idx ON webhook_deliveries (webhook_id, reservation_id, seq);

-- One POST of a delivery: the endpoint's log, newest first.
CREATE TABLE webhook_attempts (
  attempt_id       bigint      GENERATED ALWAYS AS IDENTITY,
  delivery_id      text        NOT NULL,
  webhook_id       uuid        NOT NULL,
  attempt          integer     NOT NULL,
  attempted_at     timestamptz NOT NULL,
  status_code      integer,
  duration_ms      integer     NOT NULL,
  error            text,
  next_attempt_at  timestamptz,
  CONSTRAINT webhook_attempts_pkey PRIMARY KEY (attempt_id),
  CONSTRAINT webhook_attempts_delivery_fkey FOREIGN KEY (delivery_id)
    REFERENCES webhook_deliveries (delivery_id) ON DELETE CASCADE,
  CONSTRAINT webhook_attempts_attempt_positive CHECK (attempt >= 1),
  CONSTRAINT webhook_attempts_duration_non_negative CHECK (duration_ms >= 0)
);

CREATE INDEX webhook_attempts_endpoint_idx ON webhook_attempts (webhook_id, attempt_id DESC);
-- The deliveries foreign key's cascade.
CREATE INDEX webhook_attempts_delivery_idx ON webhook_attempts (delivery_id);

-- Queues one attempt of each delivery at run_at (now if NULL). A delivery has one job at a time (its job key):
-- queuing it again moves a waiting job to the new time, and while a job runs (locked) queues a new one.
-- graphile-worker's own retries are for a task that throws (the database unreachable); attempts that reach the
-- endpoint are retried by TicketBoss's policy through this function, hence the high max_attempts.
CREATE FUNCTION ticketboss_queue_webhook_deliveries(delivery_ids text[], run_at timestamptz)
RETURNS void LANGUAGE plpgsql VOLATILE AS $$
BEGIN
  IF cardinality(delivery_ids) > 0 THEN
    PERFORM count(*) FROM graphile_worker.add_jobs(ARRAY(
      SELECT ROW('ticketboss_webhook_deliver', json_build_object('deliveryId', id), NULL, run_at, 100::smallint,
                 'webhook_delivery:' || id, NULL, NULL)::graphile_worker.job_spec
        FROM unnest(delivery_ids) AS d(id)
    ));
  END IF;
END;
$$;

CREATE FUNCTION ticketboss_new_delivery_id() RETURNS text LANGUAGE sql VOLATILE AS $$
  SELECT 'msg_' || replace(gen_random_uuid()::text, '-', '')
$$;

-- New reservations: 'confirmed' -> reservation.created, 'held' -> reservation.held; and a hold whose partner listens
-- for reservation.expired gets a job at its expiry, which expires it on time (the UPDATE trigger then records the
-- notification like any other expiry's).
CREATE FUNCTION ticketboss_webhooks_reservations_inserted() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
  occurred timestamptz;
  recorded text[];
  expiries graphile_worker.job_spec[];
BEGIN
  -- A partner without enabled endpoints: one indexed probe per statement, nothing else.
  IF NOT EXISTS (SELECT 1 FROM webhook_endpoints
                  WHERE enabled AND partner_id IN (SELECT partner_id FROM new_reservations)) THEN
    RETURN NULL;
  END IF;
  occurred := ticketboss_now();
  -- The endpoints locked FOR KEY SHARE, as the deliveries' foreign key will: one deleted (or disabled) by a
  -- transaction that commits meanwhile is waited for and then left out, rather than failing the reservation's
  -- statement on the foreign key. A PATCH of an endpoint (FOR NO KEY UPDATE) does not conflict.
  WITH listening AS (
    SELECT webhook_id, partner_id, event_types FROM webhook_endpoints
     WHERE enabled AND partner_id IN (SELECT partner_id FROM new_reservations)
       FOR KEY SHARE
  ), inserted AS (
    INSERT INTO webhook_deliveries (delivery_id, webhook_id, type, reservation_id, occurred_at, reservation)
    SELECT ticketboss_new_delivery_id(), e.webhook_id, c.type, c.reservation_id, occurred, c.reservation
      FROM (SELECT n.reservation_id, n.partner_id, to_jsonb(n) AS reservation,
                   CASE n.status WHEN 'confirmed' THEN 'reservation.created'
                                 WHEN 'held' THEN 'reservation.held' END AS type
              FROM new_reservations n) AS c
      JOIN listening e ON e.partner_id = c.partner_id AND c.type = ANY (e.event_types)
     ORDER BY c.reservation_id, e.webhook_id
        ON CONFLICT ON CONSTRAINT webhook_deliveries_change_key DO NOTHING
    RETURNING delivery_id
  )
  SELECT array_agg(delivery_id) INTO recorded FROM inserted;
  IF recorded IS NOT NULL THEN
    PERFORM ticketboss_queue_webhook_deliveries(recorded, NULL);
  END IF;
  SELECT array_agg(ROW('ticketboss_hold_expiry',
                       json_build_object('eventId', n.event_id, 'reservationId', n.reservation_id),
                       NULL, n.expires_at, 100::smallint, 'hold_expiry:' || n.reservation_id, NULL, NULL
                   )::graphile_worker.job_spec)
    INTO expiries
    FROM new_reservations n
   WHERE n.status = 'held'
     AND EXISTS (SELECT 1 FROM webhook_endpoints e
                  WHERE e.partner_id = n.partner_id AND e.enabled AND 'reservation.expired' = ANY (e.event_types));
  IF expiries IS NOT NULL THEN
    PERFORM count(*) FROM graphile_worker.add_jobs(expiries);
  END IF;
  RETURN NULL;
END;
$$;

-- Changed reservations: a new status 'confirmed', 'cancelled' or 'expired' -> reservation.<status>.
CREATE FUNCTION ticketboss_webhooks_reservations_updated() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
  occurred timestamptz;
  recorded text[];
BEGIN
  IF NOT EXISTS (SELECT 1 FROM webhook_endpoints
                  WHERE enabled AND partner_id IN (SELECT partner_id FROM new_reservations)) THEN
    RETURN NULL;
  END IF;
  occurred := ticketboss_now();
  -- The endpoints locked FOR KEY SHARE, as the deliveries' foreign key will: one deleted (or disabled) by a
  -- transaction that commits meanwhile is waited for and then left out, rather than failing the reservation's
  -- statement on the foreign key. A PATCH of an endpoint (FOR NO KEY UPDATE) does not conflict.
  WITH listening AS (
    SELECT webhook_id, partner_id, event_types FROM webhook_endpoints
     WHERE enabled AND partner_id IN (SELECT partner_id FROM new_reservations)
       FOR KEY SHARE
  ), inserted AS (
    INSERT INTO webhook_deliveries (delivery_id, webhook_id, type, reservation_id, occurred_at, reservation)
    SELECT ticketboss_new_delivery_id(), e.webhook_id, c.type, c.reservation_id, occurred, c.reservation
      FROM (SELECT n.reservation_id, n.partner_id, to_jsonb(n) AS reservation, 'reservation.' || n.status AS type
              FROM new_reservations n
              JOIN old_reservations o ON o.reservation_id = n.reservation_id
             WHERE n.status IS DISTINCT FROM o.status
               AND n.status IN ('confirmed', 'cancelled', 'expired')) AS c
      JOIN listening e ON e.partner_id = c.partner_id AND c.type = ANY (e.event_types)
     ORDER BY c.reservation_id, e.webhook_id
        ON CONFLICT ON CONSTRAINT webhook_deliveries_change_key DO NOTHING
    RETURNING delivery_id
  )
  SELECT array_agg(delivery_id) INTO recorded FROM inserted;
  IF recorded IS NOT NULL THEN
    PERFORM ticketboss_queue_webhook_deliveries(recorded, NULL);
  END IF;
  RETURN NULL;
END;
$$;

CREATE TRIGGER webhooks_reservations_inserted
  AFTER INSERT ON reservations
  REFERENCING NEW TABLE AS new_reservations
  FOR EACH STATEMENT EXECUTE FUNCTION ticketboss_webhooks_reservations_inserted();

CREATE TRIGGER webhooks_reservations_updated
  AFTER UPDATE ON reservations
  REFERENCING OLD TABLE AS old_reservations NEW TABLE AS new_reservations
  FOR EACH STATEMENT EXECUTE FUNCTION ticketboss_webhooks_reservations_updated();
