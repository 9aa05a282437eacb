#!/bin/bash
# Initialise the cluster on first start, then exec postgres in the foreground (PID 1).
# The password is read from the environment only: never put on a command line or printed.
set -euo pipefail

: "${PGDATA:=/var/lib/postgresql/data}"
say() { echo "[entrypoint] $*"; }

if [ "$(id -u)" = 0 ]; then
  # Volumes may come up owned by root: fix ownership, then drop to the postgres user.
  mkdir -p "$PGDATA" /run/postgresql
  chown postgres:postgres "$PGDATA" /run/postgresql
  chmod 700 "$PGDATA"
  exec setpriv --reuid=postgres --regid=postgres --init-groups "$0" "$@"
fi

if [ "${1:-}" = postgres ] && [ ! -s "$PGDATA/PG_VERSION" ]; then
  : "${POSTGRES_PASSWORD:?POSTGRES_PASSWORD must be set for the first start}"
  export POSTGRES_USER="${POSTGRES_USER:-postgres}"
  export POSTGRES_DB="${POSTGRES_DB:-$POSTGRES_USER}"
  say "initialising a new cluster in $PGDATA"
  # The bootstrap superuser is "postgres" (matches the OS user for local trust).
  initdb -D "$PGDATA" --username=postgres --encoding=UTF8 --locale=C.UTF-8 \
         --auth-local=trust --auth-host=scram-sha-256 >/dev/null
  cat >>"$PGDATA/postgresql.conf" <<CONF

# aishield
listen_addresses = '*'
password_encryption = 'scram-sha-256'
shared_preload_libraries = 'pg_stat_statements'
pg_stat_statements.track = all
log_destination = 'stderr'
logging_collector = off
CONF
  cat >"$PGDATA/pg_hba.conf" <<HBA
# Local socket: only processes inside this container can reach it.
local   all  all                 trust
host    all  all  127.0.0.1/32   scram-sha-256
host    all  all  ::1/128        scram-sha-256
host    all  all  0.0.0.0/0      scram-sha-256
host    all  all  ::/0           scram-sha-256
HBA
  # A socket-only server for the setup, so nothing on the network sees a half-made database.
  pg_ctl -D "$PGDATA" -o "-c listen_addresses=''" -w -t 60 start >/dev/null
  # \getenv keeps the password out of argv; :'pw' quotes it as a literal.
  psql -v ON_ERROR_STOP=1 -q -X -U postgres -d postgres <<'SQL'
\getenv pw POSTGRES_PASSWORD
\getenv app_user POSTGRES_USER
\getenv app_db POSTGRES_DB
SELECT format('CREATE ROLE %I LOGIN SUPERUSER', :'app_user')
 WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = :'app_user') \gexec
ALTER ROLE :"app_user" WITH LOGIN PASSWORD :'pw';
SELECT format('CREATE DATABASE %I OWNER %I', :'app_db', :'app_user')
 WHERE NOT EXISTS (SELECT FROM pg_database WHERE datname = :'app_db') \gexec
\connect :"app_db"
CREATE EXTENSION IF NOT EXISTS pg_stat_statements;
SQL
  pg_ctl -D "$PGDATA" -m fast -w -t 60 stop >/dev/null
  say "cluster ready: database '$POSTGRES_DB', role '$POSTGRES_USER'"
fi

exec "$@"
