"""The production shape as docker-compose.yml starts it: production environment, migrate, collectstatic,
`check --deploy` without warnings, gunicorn serving the log-in page and a hashed static file.

Runs against the PostgreSQL server of the test run (a database of its own, created and dropped here) and needs
Redis like the compose file; skipped with a reason when the run is on SQLite or a server is missing.
"""

import os
import re
import secrets
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
import redis
from cryptography.fernet import Fernet
from django.db import connection

from tests.test_settings import PRELUDE, clean_env

REPO_ROOT = Path(__file__).resolve().parent.parent
HOST = "optima.example.ch"

pytestmark = [pytest.mark.postgres, pytest.mark.redis]


def _redis_url():
    return os.environ.get("REDIS_URL") or "redis://127.0.0.1:6379/14"


def _redis_reachable(url):
    try:
        redis.Redis.from_url(url, socket_connect_timeout=1).ping()
    except Exception as error:  # noqa: BLE001 - any failure means: not reachable
        return str(error)
    return None


def _free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _manage(env, *args, timeout=300):
    code = PRELUDE + f"from django.core.management import execute_from_command_line; " \
                     f"execute_from_command_line(['manage.py', *{list(args)!r}])"
    return subprocess.run([sys.executable, "-c", code], cwd=REPO_ROOT, env=env, capture_output=True, text=True,
                          timeout=timeout)


def _get(port, path):
    request = urllib.request.Request(f"http://127.0.0.1:{port}{path}",
                                     headers={"Host": HOST, "X-Forwarded-Proto": "https"})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), error.read()


@pytest.fixture
def production_database(django_db_blocker):
    if connection.vendor != "postgresql":
        pytest.skip("the production-shape test runs in the PostgreSQL test run (DATABASE_URL=postgres://...)")
    problem = _redis_reachable(_redis_url())
    if problem:
        pytest.skip(f"Redis is not reachable at {_redis_url()}: {problem}")
    settings_dict = connection.settings_dict
    name = f"{settings_dict['NAME']}_prodshape"[:60]
    with django_db_blocker.unblock():
        with connection._nodb_cursor() as cursor:
            cursor.execute(f'DROP DATABASE IF EXISTS "{name}"')
            cursor.execute(f'CREATE DATABASE "{name}"')
    user = settings_dict.get("USER") or ""
    password = settings_dict.get("PASSWORD") or ""
    auth = f"{user}:{password}@" if password else (f"{user}@" if user else "")
    url = f"postgres://{auth}{settings_dict.get('HOST') or '127.0.0.1'}:{settings_dict.get('PORT') or 5432}/{name}"
    yield url
    with django_db_blocker.unblock():
        with connection._nodb_cursor() as cursor:
            cursor.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def test_production_shape_starts_and_serves_the_login_page(production_database, tmp_path):
    env = clean_env(
        DJANGO_DEBUG="false",
        DJANGO_SECRET_KEY=secrets.token_urlsafe(64),
        DJANGO_ALLOWED_HOSTS=HOST,
        OPTIMA_AHV_KEY=Fernet.generate_key().decode(),
        DATABASE_URL=production_database,
        REDIS_URL=_redis_url(),
        EMAIL_URL="smtp+tls://user:password@mail.example.ch:587",
        OPTIMA_SITE_URL=f"https://{HOST}",
        DJANGO_STATIC_ROOT=str(tmp_path / "staticfiles"),
        DJANGO_MEDIA_ROOT=str(tmp_path / "media"),
    )
    for step in (["migrate", "--noinput"], ["collectstatic", "--noinput"],
                 ["check", "--deploy", "--fail-level", "WARNING"]):
        result = _manage(env, *step)
        assert result.returncode == 0, f"{step}: {result.stdout[-3000:]}{result.stderr[-3000:]}"
    assert "System check identified no issues" in result.stdout + result.stderr
    assert (tmp_path / "staticfiles" / "staticfiles.json").exists()

    port = _free_port()
    gunicorn = PRELUDE + ("import sys; from gunicorn.app.wsgiapp import run; "
                          f"sys.argv = ['gunicorn', 'optima.wsgi:application', '--bind', '127.0.0.1:{port}', "
                          "'--workers', '1', '--timeout', '60']; run()")
    server = subprocess.Popen([sys.executable, "-c", gunicorn], cwd=REPO_ROOT, env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        deadline = time.monotonic() + 60
        status = None
        while time.monotonic() < deadline:
            try:
                status, headers, body = _get(port, "/anmelden/")
                break
            except OSError:
                if server.poll() is not None:
                    break
                time.sleep(0.3)
        assert status == 200, server.stdout.read() if server.poll() is not None else f"status {status}"
        html = body.decode()
        assert "Anmelden" in html
        assert "Content-Security-Policy" in headers and "Strict-Transport-Security" in headers
        assert "no-store" in headers["Cache-Control"]
        hashed = re.search(r'href="(/static/css/optima\.[0-9a-f]{12}\.css)"', html)
        assert hashed, "the page should link the hashed (manifest) name of optima.css"
        status, headers, body = _get(port, hashed.group(1))
        assert status == 200
        assert b"{" in body
        assert "immutable" in headers.get("Cache-Control", "")
    finally:
        server.terminate()
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            server.kill()
