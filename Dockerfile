# syntax=docker/dockerfile:1
# One image for every process of the production shape (docker-compose.yml): web, worker,
# beat and the one-off migrate job differ only in their command.
FROM python:3.12-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    CRM_ENV=production \
    # templates/ and migrations/ live beside the code, not inside the installed packages:
    # /app goes first on the path so config.ROOT (and with it both folders) is /app.
    PYTHONPATH=/app

WORKDIR /app

# A fixed, unprivileged user; the code stays owned by root so the app cannot rewrite it.
RUN groupadd --system --gid 10001 crm \
 && useradd --system --uid 10001 --gid crm --home-dir /app --no-create-home \
        --shell /usr/sbin/nologin crm \
 && mkdir -p /var/lib/crm-beat \
 && chown crm:crm /var/lib/crm-beat

COPY pyproject.toml config.py wsgi.py ./
COPY crm ./crm
COPY workers ./workers
COPY migrations ./migrations
COPY templates ./templates

# Runtime dependencies only (no [dev] extra). The cache mount keeps downloaded wheels
# between builds without putting them in the image.
RUN --mount=type=cache,target=/root/.cache/pip \
    pip install . \
 && rm -rf build ./*.egg-info

USER crm
EXPOSE 8000

# docker-compose.yml sets each service's command; this default serves the web process.
CMD ["gunicorn", "wsgi:app", "--bind", "0.0.0.0:8000", "--workers", "3", "--access-logfile", "-"]
