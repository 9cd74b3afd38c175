# OPTIMA Referrals: one image for web (gunicorn), Celery worker and Celery beat (see docker-compose.yml).
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

# WeasyPrint (PDF export) loads Pango and HarfBuzz at run time; DejaVu gives it a font to render with.
# postgresql-client (15, like the postgres:15 service): pg_dump / pg_restore for manage.py backup / restore.
RUN apt-get update \
    && apt-get install -y --no-install-recommends \
        libpango-1.0-0 libpangoft2-1.0-0 libharfbuzz0b libharfbuzz-subset0 fonts-dejavu-core \
        postgresql-client \
    && rm -rf /var/lib/apt/lists/*

# Dependencies first, so that a code change does not reinstall them: exactly the versions in requirements.lock
# (made from pyproject.toml by `make lock`), the ones the tests passed with. The application runs from its
# source in /app.
WORKDIR /app
COPY requirements.lock ./
RUN pip install --no-deps -r requirements.lock

# The application: the whole source tree; .dockerignore keeps a developer's .env, .venv, databases, media,
# backups and test artifacts out of the image.
COPY . ./

# Run unprivileged. /app stays writable for collectstatic (staticfiles/) and beat's schedule file;
# /app/media exists with the right owner so that the named volume mounted there inherits it.
RUN useradd --system --uid 1000 --home-dir /app optima \
    && mkdir -p /app/media /app/staticfiles \
    && chown -R optima:optima /app
USER optima

EXPOSE 8000
CMD ["gunicorn", "optima.wsgi:application", "--bind", "0.0.0.0:8000", "--workers", "3"]
