# syntax=docker/dockerfile:1
# The async service. Build: docker build -t service .   Migrate: docker run --rm -e DATABASE_URL=... service migrate
# Serve: docker run -e DATABASE_URL=... -p 8000:8000 service

FROM python:3.11-slim-bookworm AS build
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /src
RUN python -m venv /opt/venv
COPY pyproject.toml README.md ./
COPY service ./service
# Runtime dependencies of the async service only: neither the Flask twin's extra nor [dev] reaches the image.
RUN /opt/venv/bin/pip install --no-compile . \
    && /opt/venv/bin/python -m compileall -q /opt/venv/lib

FROM python:3.11-slim-bookworm AS runtime
ENV PATH=/opt/venv/bin:$PATH PYTHONUNBUFFERED=1 PYTHONDONTWRITEBYTECODE=1
RUN groupadd --system --gid 10001 app \
    && useradd --system --uid 10001 --gid app --home-dir /app --no-create-home app
WORKDIR /app
COPY --from=build /opt/venv /opt/venv
COPY alembic.ini hypercorn.toml docker-entrypoint.sh ./
COPY migrations ./migrations
USER 10001:10001
EXPOSE 8000
HEALTHCHECK --interval=10s --timeout=3s --start-period=10s --retries=3 \
    CMD ["python", "-c", "import sys, urllib.request; sys.exit(urllib.request.urlopen('http://127.0.0.1:8000/health', timeout=2).status != 200)"]
ENTRYPOINT ["./docker-entrypoint.sh"]
CMD ["serve"]
