#!/bin/sh
# First start of the compose file's PostgreSQL (docker-entrypoint-initdb.d): create the app's role, with its
# password from APP_DB_PASSWORD and the server-side guards of deploy/app-role.sql, in the app's database.
# The migrate job runs as POSTGRES_USER, so the tables it creates later are granted to the role by default.
set -eu
psql -X -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname "$POSTGRES_DB" \
    -v app_password="$APP_DB_PASSWORD" -f /deploy/app-role.sql
