-- The application's database role, with the server-side guards operators want on every connection.
-- Run once as a superuser (psql -v app_password=... -f deploy/app-role.sql). Role-level settings reach every
-- session, also through PgBouncer in transaction mode, which refuses them as connection startup parameters.
CREATE ROLE app LOGIN PASSWORD :'app_password';
-- A statement running longer than this is cancelled (SQLSTATE 57014): the service answers 503 and carries on.
ALTER ROLE app SET statement_timeout = '5s';
-- A transaction left open and idle (a crashed or stuck client) is ended and its locks released.
ALTER ROLE app SET idle_in_transaction_session_timeout = '10s';
-- Lock waits fail fast instead of queueing behind a migration or a long writer.
ALTER ROLE app SET lock_timeout = '2s';
GRANT CONNECT ON DATABASE app TO app;
GRANT USAGE ON SCHEMA public TO app;
GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO app;
ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO app;
