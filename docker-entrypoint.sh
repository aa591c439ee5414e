#!/bin/sh
# The image's commands (docker run IMAGE <command>):
#
#   serve [hypercorn flags]  (default) check the configuration, then run Hypercorn's CLI (through
#                            service.quart_app.serve, for its access logger) with hypercorn.toml as this process
#                            (it gets SIGTERM from the orchestrator and drains: see hypercorn.toml)
#   migrate                  check the configuration, then `alembic upgrade head`, and exit. Migrations are a
#                            separate job, run before a rollout: the app never migrates at start.
#   check-config             check the configuration and exit (0: valid)
#   anything else            run as given (e.g. `sh`)
#
# Environment: every setting of the README (DATABASE_URL, DB_*, ...); HYPERCORN_BIND (default 0.0.0.0:$PORT,
# PORT default 8000).
set -eu

check_config() {
    # A bad variable stops the container here with one line naming it (never echoing a secret value), instead of
    # a traceback from inside the server.
    python -c 'from service.config import settings_or_exit; settings_or_exit()'
}

command="${1:-serve}"
if [ "$#" -gt 0 ]; then
    shift
fi
case "$command" in
    serve)
        check_config
        exec python -m service.quart_app.serve --config hypercorn.toml --bind "${HYPERCORN_BIND:-0.0.0.0:${PORT:-8000}}" "$@" \
            "service.quart_app:create_app()"
        ;;
    migrate)
        check_config
        exec alembic upgrade head
        ;;
    check-config)
        check_config
        ;;
    *)
        exec "$command" "$@"
        ;;
esac
