"""The settings in their two shapes, each loaded in a fresh interpreter with a controlled environment."""

import json
import os
import re
import secrets
import subprocess
import sys
from pathlib import Path

import pytest
from cryptography.fernet import Fernet

REPO_ROOT = Path(__file__).resolve().parent.parent

# Settings read a .env file in the project folder if there is one (a developer's convenience). The
# subprocesses neutralise that before Django starts, so that what is tested is the environment given here.
PRELUDE = "import environ; environ.Env.read_env = classmethod(lambda cls, *args, **kwargs: None); "

DUMP = (
    PRELUDE
    + """
import json, django
django.setup()
from django.conf import settings as s
print(json.dumps({
    "DEBUG": s.DEBUG,
    "ENGINE": s.DATABASES["default"]["ENGINE"],
    "NAME": str(s.DATABASES["default"]["NAME"]),
    "HOST": s.DATABASES["default"].get("HOST"),
    "CONN_MAX_AGE": s.DATABASES["default"].get("CONN_MAX_AGE"),
    "ALLOWED_HOSTS": s.ALLOWED_HOSTS,
    "EAGER": s.CELERY_TASK_ALWAYS_EAGER,
    "BROKER": s.CELERY_BROKER_URL,
    "RESULT_BACKEND": s.CELERY_RESULT_BACKEND,
    "EMAIL_BACKEND": s.EMAIL_BACKEND,
    "LANGUAGE_CODE": s.LANGUAGE_CODE,
    "TIME_ZONE": s.TIME_ZONE,
    "USE_TZ": s.USE_TZ,
    "BASE_DIR": str(s.BASE_DIR),
}))
"""
)

CHECK_DEPLOY = PRELUDE + (
    "from django.core.management import execute_from_command_line; "
    "execute_from_command_line(['manage.py', 'check', '--deploy', '--fail-level', 'WARNING'])"
)


def clean_env(**extra):
    """os.environ without anything the settings read, plus DJANGO_SETTINGS_MODULE and ``extra``."""
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("DJANGO_", "OPTIMA_", "CELERY_", "POSTGRES_"))
        and key not in {"DATABASE_URL", "REDIS_URL", "EMAIL_URL"}
    }
    env["DJANGO_SETTINGS_MODULE"] = "optima.settings"
    env.update(extra)
    return env


def run(code, **extra):
    return subprocess.run(
        [sys.executable, "-c", code],
        cwd=REPO_ROOT,
        env=clean_env(**extra),
        capture_output=True,
        text=True,
        timeout=120,
    )


def load(**extra):
    result = run(DUMP, **extra)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])


def production_env(**overrides):
    env = {
        "DJANGO_DEBUG": "false",
        "DJANGO_SECRET_KEY": secrets.token_urlsafe(64),
        "DJANGO_ALLOWED_HOSTS": "optima.example.ch",
        "OPTIMA_AHV_KEY": Fernet.generate_key().decode(),
        "DATABASE_URL": "postgres://optima:secret@db.example.ch:5432/optima",
        "REDIS_URL": "redis://redis.example.ch:6379/0",
        "EMAIL_URL": "smtp+tls://user:password@mail.example.ch:587",
        "OPTIMA_SITE_URL": "https://optima.example.ch",
    }
    env.update(overrides)
    return env


def test_defaults_are_the_embedded_shape():
    s = load()
    assert s["BASE_DIR"] == str(REPO_ROOT)
    assert s["ENGINE"] == "django.db.backends.sqlite3"
    assert s["NAME"] == str(REPO_ROOT / "db.sqlite3")
    assert s["DEBUG"] is True
    assert s["ALLOWED_HOSTS"] == ["127.0.0.1", "localhost", "[::1]"]
    assert s["EAGER"] is True
    assert s["BROKER"] == "memory://"
    assert s["RESULT_BACKEND"] is None
    assert s["EMAIL_BACKEND"] == "django.core.mail.backends.console.EmailBackend"
    assert s["LANGUAGE_CODE"] == "de-ch"
    assert s["TIME_ZONE"] == "Europe/Zurich"
    assert s["USE_TZ"] is True


def test_database_url_selects_postgresql():
    s = load(DATABASE_URL="postgres://optima:secret@db.example.ch:5432/optima")
    assert s["ENGINE"] == "django.db.backends.postgresql"
    assert s["NAME"] == "optima"
    assert s["HOST"] == "db.example.ch"
    assert s["CONN_MAX_AGE"] == 60


def test_redis_url_makes_tasks_go_through_the_broker():
    s = load(REDIS_URL="redis://redis.example.ch:6379/0")
    assert s["EAGER"] is False
    assert s["BROKER"] == "redis://redis.example.ch:6379/0"
    assert s["RESULT_BACKEND"] == "redis://redis.example.ch:6379/0"


def test_email_url_selects_smtp():
    s = load(EMAIL_URL="smtp+tls://user:password@mail.example.ch:587")
    assert s["EMAIL_BACKEND"] == "django.core.mail.backends.smtp.EmailBackend"


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"DJANGO_SECRET_KEY": ""}, "DJANGO_SECRET_KEY must be set"),
        ({"DJANGO_SECRET_KEY": "too-short"}, "DJANGO_SECRET_KEY must be set"),
        ({"DJANGO_SECRET_KEY": "django-insecure-" + "x" * 60}, "DJANGO_SECRET_KEY must be set"),
        ({"DJANGO_ALLOWED_HOSTS": ""}, "DJANGO_ALLOWED_HOSTS must list"),
        ({"OPTIMA_AHV_KEY": "b3B0aW1hLWRldi1haHYta2V5LW5vdC1mb3ItcHJvZCE="}, "OPTIMA_AHV_KEY must be set"),
    ],
    ids=["no-secret-key", "short-secret-key", "insecure-secret-key", "no-allowed-hosts", "default-ahv-key"],
)
def test_production_refuses_to_start_insecurely(overrides, message):
    env = production_env(**overrides)
    for key in [key for key, value in overrides.items() if value == ""]:
        del env[key]  # not set at all, rather than set to an empty string
    result = run(DUMP, **env)
    assert result.returncode != 0
    assert "ImproperlyConfigured" in result.stderr
    assert message in result.stderr


def test_production_shape_passes_the_deploy_check_without_warnings():
    s = load(**production_env())
    assert s["DEBUG"] is False
    assert s["ENGINE"] == "django.db.backends.postgresql"
    assert s["EAGER"] is False
    result = run(CHECK_DEPLOY, **production_env())
    assert result.returncode == 0, result.stdout + result.stderr
    assert "System check identified no issues" in result.stdout + result.stderr


def test_env_example_documents_every_variable_the_settings_read():
    source = (REPO_ROOT / "optima" / "settings.py").read_text()
    read = set(re.findall(r"""env(?:\.\w+)?\(\s*["']([A-Z][A-Z0-9_]*)["']""", source))
    assert "DJANGO_SECRET_KEY" in read  # the pattern does find them
    documented = set(re.findall(r"^#?\s*([A-Z][A-Z0-9_]*)=", (REPO_ROOT / ".env.example").read_text(), re.M))
    assert read - documented == set()


@pytest.mark.parametrize("days", ["0", "29"])
def test_a_minimum_of_billable_days_a_month_cannot_have_is_refused_at_start(days):
    result = run(DUMP, BILLING_MIN_ACTIVE_DAYS=days)
    assert result.returncode != 0
    assert "BILLING_MIN_ACTIVE_DAYS must be between 1 and 28" in result.stderr
