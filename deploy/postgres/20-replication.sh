#!/bin/sh
# First start of the compose file's PostgreSQL (docker-entrypoint-initdb.d): let postgres-standby stream from it.
# The standby logs in as POSTGRES_USER with its password (scram) from the compose network; wal_level, max_wal_senders
# and hot_standby are set on the server's command line (docker-compose.yml).
set -eu
printf '\n# postgres-standby: pg_basebackup and streaming replication\nhost replication %s all scram-sha-256\n' \
    "$POSTGRES_USER" >> "$PGDATA/pg_hba.conf"
