#!/bin/sh
# The image's commands: `serve` (default) runs Hypercorn; `migrate` runs `alembic upgrade head` and exits.
# Migrations are never run by the app at start: run them as a separate job before rolling out.
set -eu
case "${1:-serve}" in
    serve) shift || true; exec hypercorn --config hypercorn.toml --bind "0.0.0.0:${PORT:-8000}" "$@" "service.quart_app:create_app()" ;;
    migrate) exec alembic upgrade head ;;
    *) exec "$@" ;;
esac
