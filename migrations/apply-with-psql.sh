#!/bin/sh
# Applies pending migrations with psql alone, for DBAs who apply schema changes themselves, and records each one
# in schema_migrations exactly as `pnpm migrate` does (name and sha256 of the file), so that TicketBoss started
# with TICKETBOSS_MIGRATE=off sees nothing pending. Each file runs in one transaction with its ledger row, except
# a file whose first line is `-- ticketboss:no-transaction`: it runs statement by statement (each its own
# transaction, as CREATE INDEX CONCURRENTLY needs), then its ledger row is written; if it fails halfway it is
# not recorded, and the next run starts it again from the top (see README, "Migrations").
# Query results (a migration's SELECTs) are discarded; errors still go to stderr.
# Run it alone: unlike `pnpm migrate` it takes no lock.
#
#   migrations/apply-with-psql.sh "postgres://user@host:5432/ticketboss"
#   (or no argument, with PGHOST, PGUSER, PGDATABASE, ... set)
set -eu
dir=$(cd "$(dirname "$0")" && pwd)
run_psql() { psql -X -q -v ON_ERROR_STOP=1 "$@"; }

run_psql "$@" -f "$dir/schema_migrations.sql"
for file in "$dir"/[0-9][0-9][0-9][0-9]_*.sql; do
  name=$(basename "$file")
  checksum=$(sha256sum "$file" | cut -d ' ' -f 1)
  recorded=$(run_psql "$@" -A -t -c "SELECT checksum FROM schema_migrations WHERE name = '$name'")
  if [ -n "$recorded" ]; then
    if [ "$recorded" != "$checksum" ]; then
      echo "migration $name was changed after it was applied; restore it and add a new migration instead" >&2
      exit 1
    fi
    continue
  fi
  echo "applying $name"
  record="INSERT INTO schema_migrations (name, checksum) VALUES ('$name', '$checksum')"
  first_line=$(head -n 1 "$file" | tr -d '\r' | sed 's/[[:space:]]*$//')
  if [ "$first_line" = "-- ticketboss:no-transaction" ]; then
    run_psql "$@" -o /dev/null -f "$file"
    run_psql "$@" -o /dev/null -c "$record"
  else
    run_psql "$@" -o /dev/null --single-transaction -f "$file" -c "$record"
  fi
done
