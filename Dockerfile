# syntax=docker/dockerfile:1
# The async service (the default target) and, as target `twin`, the sync Flask twin on the same code.
#
#   docker build -t service .                        docker build --target twin -t service-twin .
#   docker run --rm -e DATABASE_URL=... service migrate      (a one-shot job, before a rollout)
#   docker run -e DATABASE_URL=... -p 8000:8000 service      (serve: Hypercorn, hypercorn.toml)
#
# docker-compose.yml puts it all together. tests/deploy/ checks this file (hadolint, the stages, the user, the
# health check) and runs its start command from a virtualenv built the way the build stage builds one.

ARG PYTHON_IMAGE=python:3.11-slim-bookworm

# -- build: a virtualenv with the service's runtime dependencies, nothing else ---------------------------------
FROM ${PYTHON_IMAGE} AS build
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /src
RUN python -m venv /opt/venv
COPY pyproject.toml README.md ./
COPY service ./service
# Neither the twin's extra nor [dev] reaches this virtualenv. Compiled once here: the runtime user cannot write it.
RUN /opt/venv/bin/pip install --no-compile . \
    && /opt/venv/bin/python -m compileall -q /opt/venv/lib

# -- build-twin: the same, plus the twin's extra (Flask, Flask-SQLAlchemy, psycopg, Gunicorn) -------------------
FROM build AS build-twin
RUN /opt/venv/bin/pip install --no-compile ".[twin]" \
    && /opt/venv/bin/python -m compileall -q /opt/venv/lib

# -- base: what both runtime images share ----------------------------------------------------------------------
FROM ${PYTHON_IMAGE} AS base
ENV PATH=/opt/venv/bin:$PATH PYTHONUNBUFFERED=1 PYTHONDONTWRITEBYTECODE=1
RUN groupadd --system --gid 10001 app \
    && useradd --system --uid 10001 --gid app --home-dir /app --no-create-home --shell /usr/sbin/nologin app
WORKDIR /app
COPY alembic.ini ./
COPY migrations ./migrations

# -- twin: the sync twin under Gunicorn (gunicorn.conf.py), on port 8001 -----------------------------------------
FROM base AS twin
COPY --from=build-twin /opt/venv /opt/venv
COPY gunicorn.conf.py ./
ENV GUNICORN_BIND=0.0.0.0:8001
USER 10001:10001
EXPOSE 8001
HEALTHCHECK --interval=10s --timeout=3s --start-period=10s --retries=3 \
    CMD ["python", "-c", "import sys, urllib.request; sys.exit(urllib.request.urlopen('http://127.0.0.1:8001/health', timeout=2).status != 200)"]
CMD ["gunicorn", "-c", "gunicorn.conf.py"]

# -- runtime (default): the async service under Hypercorn --------------------------------------------------------
FROM base AS runtime
COPY --from=build /opt/venv /opt/venv
COPY hypercorn.toml docker-entrypoint.sh ./
# Not root: the files above belong to root and stay read-only for the service.
USER 10001:10001
EXPOSE 8000
# /health answers without touching the database: an outage must not get healthy containers restarted.
HEALTHCHECK --interval=10s --timeout=3s --start-period=10s --retries=3 \
    CMD ["python", "-c", "import sys, urllib.request; sys.exit(urllib.request.urlopen('http://127.0.0.1:8000/health', timeout=2).status != 200)"]
# The entrypoint execs Hypercorn, which then gets the orchestrator's SIGTERM itself and drains (hypercorn.toml).
ENTRYPOINT ["./docker-entrypoint.sh"]
CMD ["serve"]
