#!/bin/sh
# Write PgBouncer's auth file from the environment (no secret in the image or the repository), then run PgBouncer
# in the foreground as the container's main process. SIGINT: wait for clients; SIGTERM: stop at once.
#
#   APP_DB_USER, APP_DB_PASSWORD   the role the app logs in as (deploy/app-role.sql), required
#   PGBOUNCER_INI                  default /etc/pgbouncer/pgbouncer.ini
#   PGBOUNCER_AUTH_FILE            default /run/pgbouncer/userlist.txt: the ini's auth_file
set -eu
: "${APP_DB_USER:?set APP_DB_USER}"
: "${APP_DB_PASSWORD:?set APP_DB_PASSWORD}"
ini="${PGBOUNCER_INI:-/etc/pgbouncer/pgbouncer.ini}"
auth_file="${PGBOUNCER_AUTH_FILE:-/run/pgbouncer/userlist.txt}"

quote() {
    # userlist.txt: "user" "secret", a double quote inside doubled.
    printf '"%s"' "$(printf '%s' "$1" | sed 's/"/""/g')"
}

umask 077
printf '%s %s\n' "$(quote "$APP_DB_USER")" "$(quote "$APP_DB_PASSWORD")" > "$auth_file"
exec pgbouncer "$ini"
