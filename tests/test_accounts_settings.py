"""The security settings in both shapes, loaded in a fresh interpreter (like tests/test_settings.py)."""

import json

from tests.test_settings import PRELUDE, production_env, run

DUMP = PRELUDE + """
import json, django
django.setup()
from django.conf import settings as s
print(json.dumps({
    "MFA_REQUIRED": s.MFA_REQUIRED,
    "FAILURES": s.AXES_FAILURE_LIMIT,
    "LOCK_MINUTES": s.AXES_COOLOFF_TIME.total_seconds() / 60,
    "TOKEN_DAYS": s.REST_KNOX["TOKEN_TTL"].days,
    "IDLE": s.SESSION_IDLE_TIMEOUT,
    "COOKIE_AGE": s.SESSION_COOKIE_AGE,
    "AT_CLOSE": s.SESSION_EXPIRE_AT_BROWSER_CLOSE,
    "COOKIE_SECURE": s.SESSION_COOKIE_SECURE,
    "CACHE": s.CACHES["default"]["BACKEND"],
    "THROTTLE_TOKEN": s.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"]["auth_token"],
    "AUTHTOKEN": "rest_framework.authtoken" in s.INSTALLED_APPS,
}))
"""


def load(**env):
    result = run(DUMP, **env)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_production_requires_the_second_factor_and_keeps_throttles_in_redis():
    s = load(**production_env())
    assert s["MFA_REQUIRED"] is True
    assert (s["FAILURES"], s["LOCK_MINUTES"], s["TOKEN_DAYS"]) == (5, 15, 30)
    assert (s["IDLE"], s["COOKIE_AGE"], s["AT_CLOSE"], s["COOKIE_SECURE"]) == (1800, 43200, True, True)
    assert s["CACHE"] == "django.core.cache.backends.redis.RedisCache"
    assert s["AUTHTOKEN"] is False


def test_development_logs_in_with_a_password_unless_asked():
    assert load()["MFA_REQUIRED"] is False
    assert load(OPTIMA_REQUIRE_MFA="true")["MFA_REQUIRED"] is True
    assert load(**production_env(OPTIMA_REQUIRE_MFA="false"))["MFA_REQUIRED"] is True  # cannot be switched off


def test_limits_come_from_the_environment():
    s = load(OPTIMA_LOGIN_FAILURE_LIMIT="3", OPTIMA_LOGIN_LOCKOUT_MINUTES="60", OPTIMA_API_TOKEN_DAYS="7",
             OPTIMA_SESSION_IDLE_MINUTES="10", OPTIMA_API_THROTTLE_TOKEN="5/min")
    assert (s["FAILURES"], s["LOCK_MINUTES"], s["TOKEN_DAYS"], s["IDLE"], s["THROTTLE_TOKEN"]) == (
        3, 60, 7, 600, "5/min")
