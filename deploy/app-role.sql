-- The application's database role, with the server-side guards operators want on every one of its sessions.
--
-- Run it as a superuser (or a role with CREATEROLE that owns the database), connected to the app's database:
--
--   psql "$ADMIN_URL" -X -v ON_ERROR_STOP=1 -v app_password="$APP_DB_PASSWORD" -f deploy/app-role.sql
--
-- psql variables (-v name=value), all optional but app_password:
--   app_role                      the role to create or update             default: app
--   statement_timeout             a longer statement is cancelled (57014)  default: 5s
--   idle_in_transaction_timeout   an open, idle transaction is ended       default: 10s
--   lock_timeout                  a longer lock wait fails                 default: 2s
--   migrator                      the role that runs the migrations        default: the role running this script
--
-- Re-running it is safe: an existing role gets the new password and settings.
--
-- Why on the role: these settings then reach every session of the app, whatever the driver, and also through
-- PgBouncer in transaction mode, which refuses them as connection startup parameters (DB_STATEMENT_TIMEOUT_MS and
-- DB_IDLE_IN_TRANSACTION_TIMEOUT_MS set them per connection instead, when the app connects to PostgreSQL directly).
-- What the service does when one fires: a cancelled statement (statement_timeout) is a 503 with Retry-After and the
-- connection stays usable; a session ended by idle_in_transaction_session_timeout is found dead by the pool's
-- pre-ping and replaced.

\set ON_ERROR_STOP on
\if :{?app_password}
\else
    DO $$ BEGIN RAISE EXCEPTION 'app-role.sql needs the password: psql -v app_password=...'; END $$;
\endif
\if :{?app_role}
\else
    \set app_role app
\endif
\if :{?statement_timeout}
\else
    \set statement_timeout 5s
\endif
\if :{?idle_in_transaction_timeout}
\else
    \set idle_in_transaction_timeout 10s
\endif
\if :{?lock_timeout}
\else
    \set lock_timeout 2s
\endif
\if :{?migrator}
\else
    SELECT current_user AS migrator \gset
\endif
SELECT current_database() AS app_database \gset
SELECT NOT EXISTS (SELECT FROM pg_roles WHERE rolname = :'app_role') AS new_role \gset

\if :new_role
    CREATE ROLE :"app_role" LOGIN PASSWORD :'app_password';
\else
    ALTER ROLE :"app_role" LOGIN PASSWORD :'app_password';
\endif

-- A statement running longer than this is cancelled (SQLSTATE 57014): the service answers 503 and carries on.
ALTER ROLE :"app_role" IN DATABASE :"app_database" SET statement_timeout = :'statement_timeout';
-- A transaction left open and idle (a stuck or crashed client) is ended and its locks released.
ALTER ROLE :"app_role" IN DATABASE :"app_database" SET idle_in_transaction_session_timeout = :'idle_in_transaction_timeout';
-- Lock waits fail fast instead of queueing behind a migration or a long writer.
ALTER ROLE :"app_role" IN DATABASE :"app_database" SET lock_timeout = :'lock_timeout';

-- Data access only: the app never owns, creates or alters a table (migrations run as the migrator).
GRANT CONNECT ON DATABASE :"app_database" TO :"app_role";
GRANT USAGE ON SCHEMA public TO :"app_role";
GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO :"app_role";
GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO :"app_role";
-- Tables and sequences that later migrations create.
ALTER DEFAULT PRIVILEGES FOR ROLE :"migrator" IN SCHEMA public
    GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO :"app_role";
ALTER DEFAULT PRIVILEGES FOR ROLE :"migrator" IN SCHEMA public GRANT USAGE, SELECT ON SEQUENCES TO :"app_role";
