-- The migration ledger: one row per applied numbered file. `pnpm migrate` and apply-with-psql.sh both create it
-- from this file before anything else, so they keep the same records.
CREATE TABLE IF NOT EXISTS schema_migrations (
  name       text        NOT NULL,
  checksum   text        NOT NULL,
  applied_at timestamptz NOT NULL DEFAULT now(),
  CONSTRAINT schema_migrations_pkey PRIMARY KEY (name)
);
