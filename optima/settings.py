"""Settings for OPTIMA Referrals.

Everything comes from the environment (django-environ). With no environment at all the app runs in
its *embedded* shape: SQLite in the project folder, DEBUG on, Celery tasks executed eagerly in the
web process, e-mails printed to the console. Setting ``DATABASE_URL`` and ``REDIS_URL`` switches to
the production shape (PostgreSQL, a Redis broker, a separate worker and beat).
"""

from pathlib import Path

import environ
from django.core.exceptions import ImproperlyConfigured
from django.utils.translation import gettext_lazy as _

BASE_DIR = Path(__file__).resolve().parent.parent

env = environ.Env()
# A .env file is a convenience for developers; real deployments set the variables themselves.
environ.Env.read_env(BASE_DIR / ".env", overwrite=False)

# Development key: only ever used when DEBUG is on (see the production checks below).
INSECURE_DEV_SECRET_KEY = "django-insecure-optima-dev-key-never-use-in-production"  # noqa: S105

DEBUG = env.bool("DJANGO_DEBUG", default=True)
SECRET_KEY = env.str("DJANGO_SECRET_KEY", default=INSECURE_DEV_SECRET_KEY)
ALLOWED_HOSTS = env.list("DJANGO_ALLOWED_HOSTS", default=["127.0.0.1", "localhost", "[::1]"] if DEBUG else [])

if not DEBUG:
    # Production refuses to start on a guessable key or without a host list.
    if SECRET_KEY == INSECURE_DEV_SECRET_KEY or len(SECRET_KEY) < 50 or SECRET_KEY.startswith("django-insecure"):
        raise ImproperlyConfigured(
            "DJANGO_SECRET_KEY must be set to a random value of at least 50 characters when DJANGO_DEBUG is off."
        )
    if not ALLOWED_HOSTS:
        raise ImproperlyConfigured("DJANGO_ALLOWED_HOSTS must list the site's host names when DJANGO_DEBUG is off.")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "rest_framework",
    "rest_framework.authtoken",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "institutions",
    "referrals",
    "reporting",
    "billing",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "optima.urls"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "institutions.context_processors.membership",
            ],
        },
    },
]

WSGI_APPLICATION = "optima.wsgi.application"

DATABASES = {"default": env.db("DATABASE_URL", default=f"sqlite:///{BASE_DIR / 'db.sqlite3'}")}
DATABASES["default"].setdefault("ATOMIC_REQUESTS", False)
if DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":
    DATABASES["default"]["CONN_MAX_AGE"] = env.int("DJANGO_CONN_MAX_AGE", default=60)
    DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
else:
    # The KPI duration indexes carry the days as a non-key column (INCLUDE) for index-only scans on PostgreSQL;
    # SQLite (the embedded demo) builds them without it, which is fine there: no warning at every `make run`.
    SILENCED_SYSTEM_CHECKS = ["models.W040"]

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
AUTH_USER_MODEL = "institutions.User"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "login"

# German (Switzerland) first; English for colleagues who prefer it.
LANGUAGE_CODE = "de-ch"
LANGUAGES = [("de-ch", _("German")), ("en", _("English"))]
LOCALE_PATHS = [BASE_DIR / "locale"]
TIME_ZONE = "Europe/Zurich"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
STATICFILES_DIRS = [BASE_DIR / "static"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"
        if DEBUG
        else "whitenoise.storage.CompressedManifestStaticFilesStorage"
    },
}
MEDIA_ROOT = env.path("DJANGO_MEDIA_ROOT", default=BASE_DIR / "media")
MEDIA_URL = "media/"  # never served directly: documents go through a permission-checking view

# Uploaded documents: limits the users are told about.
DOCUMENT_MAX_BYTES = env.int("OPTIMA_DOCUMENT_MAX_BYTES", default=10 * 1024 * 1024)
DOCUMENT_ALLOWED_EXTENSIONS = ["pdf", "docx", "doc", "xlsx", "odt", "jpg", "jpeg", "png", "txt"]
FILE_UPLOAD_MAX_MEMORY_SIZE = 2 * 1024 * 1024
DATA_UPLOAD_MAX_MEMORY_SIZE = 12 * 1024 * 1024

# The AHV number is stored encrypted with a key of its own (Fernet, urlsafe base64 of 32 bytes) and found
# again through a keyed hash. The development default is fine for demo data only.
AHV_ENCRYPTION_KEY = env.str("OPTIMA_AHV_KEY", default="b3B0aW1hLWRldi1haHYta2V5LW5vdC1mb3ItcHJvZCE=")
if not DEBUG and AHV_ENCRYPTION_KEY == "b3B0aW1hLWRldi1haHYta2V5LW5vdC1mb3ItcHJvZCE=":
    raise ImproperlyConfigured("OPTIMA_AHV_KEY must be set to a key of its own when DJANGO_DEBUG is off.")

# Absolute base of links in e-mails (e-mails carry no client data, only a reference and a link).
SITE_URL = env.str("OPTIMA_SITE_URL", default="http://127.0.0.1:8000")

# E-mail: printed to the console unless an SMTP server is configured.
EMAIL_CONFIG = env.email_url("EMAIL_URL", default="consolemail://")
vars().update(EMAIL_CONFIG)
DEFAULT_FROM_EMAIL = env.str("DJANGO_DEFAULT_FROM_EMAIL", default="OPTIMA <optima@example.ch>")

# Celery: eager (in-process) without a broker, so the embedded shape needs no Redis.
REDIS_URL = env.str("REDIS_URL", default="")
CELERY_BROKER_URL = REDIS_URL or "memory://"
CELERY_RESULT_BACKEND = REDIS_URL or None
CELERY_TASK_ALWAYS_EAGER = env.bool("CELERY_TASK_ALWAYS_EAGER", default=not REDIS_URL)
CELERY_TASK_EAGER_PROPAGATES = True
CELERY_TASK_SERIALIZER = "json"
CELERY_RESULT_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TASK_TIME_LIMIT = 300
CELERY_TASK_SOFT_TIME_LIMIT = 240
CELERY_TASK_ACKS_LATE = True  # a task whose worker dies is delivered again
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TIMEZONE = TIME_ZONE
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "rest_framework.authentication.TokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_PAGINATION_CLASS": "rest_framework.pagination.PageNumberPagination",
    "PAGE_SIZE": 50,
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "DEFAULT_FILTER_BACKENDS": ["django_filters.rest_framework.DjangoFilterBackend"],
    "EXCEPTION_HANDLER": "referrals.api.exceptions.api_exception_handler",
}
SPECTACULAR_SETTINGS = {
    "TITLE": "OPTIMA Referrals API",
    "VERSION": "1.0.0",
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "SERVE_INCLUDE_SCHEMA": False,
}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": env.str("DJANGO_LOG_LEVEL", default="INFO")},
}

if not DEBUG:
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SECURE_SSL_REDIRECT = env.bool("DJANGO_SECURE_SSL_REDIRECT", default=True)
    SECURE_HSTS_SECONDS = env.int("DJANGO_SECURE_HSTS_SECONDS", default=31536000)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = True
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    CSRF_TRUSTED_ORIGINS = env.list("DJANGO_CSRF_TRUSTED_ORIGINS", default=[])
SESSION_COOKIE_HTTPONLY = True
X_FRAME_OPTIONS = "DENY"

# Celery beat: last month's KPI report on the 1st of each month at 06:00 (Zurich), mailed to the coordinators.
from celery.schedules import crontab  # noqa: E402

CELERY_BEAT_SCHEDULE = {
    "monthly-kpi-report": {
        "task": "reporting.tasks.monthly_snapshot_task",
        "schedule": crontab(minute=0, hour=6, day_of_month=1),
    },
}

# --- Need to know and audit trail (issue 9, part B) ---
# audit/: append-only records of reads and denied attempts; pgtrigger installs the PostgreSQL triggers
# that refuse UPDATE and DELETE on them (on SQLite the triggers are skipped).
INSTALLED_APPS += ["pgtrigger", "audit"]
# --- Accounts and security headers (issue 9) ---
# accounts/ holds the log-in security: lockout (django-axes), API tokens (django-rest-knox: hashed,
# expiring, revocable), the second factor (django-otp: TOTP + recovery codes), password reset/change,
# session timeouts and the security headers (django-csp, Permissions-Policy, Cache-Control).
from datetime import timedelta  # noqa: E402

STATIC_ROOT = env.path("DJANGO_STATIC_ROOT", default=STATIC_ROOT)

INSTALLED_APPS.remove("rest_framework.authtoken")  # replaced by knox: tokens stored hashed, with an expiry
INSTALLED_APPS += ["axes", "knox", "django_otp", "django_otp.plugins.otp_totp", "django_otp.plugins.otp_static",
                   "csp", "accounts"]
# After WhiteNoise: static files keep their long cache lifetime; everything the application renders gets the headers.
MIDDLEWARE.insert(MIDDLEWARE.index("whitenoise.middleware.WhiteNoiseMiddleware") + 1,
                  "accounts.middleware.SecurityHeadersMiddleware")
MIDDLEWARE.insert(MIDDLEWARE.index("whitenoise.middleware.WhiteNoiseMiddleware") + 1, "csp.middleware.CSPMiddleware")
MIDDLEWARE.insert(MIDDLEWARE.index("django.contrib.messages.middleware.MessageMiddleware") + 1,
                  "accounts.middleware.SessionTimeoutMiddleware")
MIDDLEWARE.insert(MIDDLEWARE.index("accounts.middleware.SessionTimeoutMiddleware") + 1,
                  "accounts.middleware.SecondFactorMiddleware")
MIDDLEWARE.append("axes.middleware.AxesMiddleware")  # last, as django-axes requires

AUTHENTICATION_BACKENDS = ["axes.backends.AxesStandaloneBackend", "django.contrib.auth.backends.ModelBackend"]

# Lockout: OPTIMA_LOGIN_FAILURE_LIMIT failed log-ins lock the user name and, separately, the IP address for
# OPTIMA_LOGIN_LOCKOUT_MINUTES; failures older than that are forgotten. A successful log-in forgets them too.
AXES_FAILURE_LIMIT = env.int("OPTIMA_LOGIN_FAILURE_LIMIT", default=5)
AXES_COOLOFF_TIME = timedelta(minutes=env.int("OPTIMA_LOGIN_LOCKOUT_MINUTES", default=15))
AXES_LOCKOUT_PARAMETERS = ["username", "ip_address"]
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_CALLABLE = "accounts.views.lockout_response"
AXES_HTTP_RESPONSE_CODE = 429
AXES_ENABLE_ACCESS_FAILURE_LOG = True  # every failure stays listed in the admin (Axes > Access failures)
# Behind OPTIMA_PROXY_COUNT reverse proxies the client's address is the X-Forwarded-For entry the outermost
# proxy appended (the same rule as DRF's NUM_PROXIES); without proxies it is REMOTE_ADDR.
PROXY_COUNT = env.int("OPTIMA_PROXY_COUNT", default=0)
AXES_CLIENT_IP_CALLABLE = "accounts.clientip.client_ip"

# API tokens (knox): "Authorization: Token <key>", stored as a hash, expire after OPTIMA_API_TOKEN_DAYS.
REST_KNOX = {
    "TOKEN_TTL": timedelta(days=env.int("OPTIMA_API_TOKEN_DAYS", default=30)),
    "AUTH_HEADER_PREFIX": "Token",
    "TOKEN_LIMIT_PER_USER": 10,
    "AUTO_REFRESH": False,
}
REST_FRAMEWORK["DEFAULT_AUTHENTICATION_CLASSES"] = [
    "accounts.api.authentication.TokenAuthentication",
    "rest_framework.authentication.SessionAuthentication",
]
REST_FRAMEWORK["DEFAULT_THROTTLE_CLASSES"] = [
    "rest_framework.throttling.AnonRateThrottle",
    "rest_framework.throttling.UserRateThrottle",
]
REST_FRAMEWORK["NUM_PROXIES"] = PROXY_COUNT or None
REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"] = {
    "anon": env.str("OPTIMA_API_THROTTLE_ANON", default="60/min"),
    "user": env.str("OPTIMA_API_THROTTLE_USER", default="600/min"),
    "auth_token": env.str("OPTIMA_API_THROTTLE_TOKEN", default="10/min"),
}
# Throttle counters must be shared by all gunicorn workers: Redis when there is one.
if REDIS_URL:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": REDIS_URL,
                          "KEY_PREFIX": "optima-cache"}}

# Second factor (TOTP with recovery codes) for administrators, IIZ coordinators, signatories and data protection.
# Required whenever DEBUG is off (no switch turns it off there); in development only with OPTIMA_REQUIRE_MFA=true.
MFA_REQUIRED = env.bool("OPTIMA_REQUIRE_MFA", default=False) or not DEBUG
MFA_REQUIRED_ROLES = ["admin", "coordinator", "signatory", "data_protection"]
OTP_TOTP_ISSUER = "OPTIMA"
OTP_TOTP_THROTTLE_FACTOR = 1
MFA_RECOVERY_CODE_COUNT = 10

# Passwords: Django's validators with at least 12 characters (OWASP ASVS 2.1.1) plus an upper bound (a very long
# password is refused with a message).
for _validator in AUTH_PASSWORD_VALIDATORS:
    if _validator["NAME"].endswith(".MinimumLengthValidator"):
        _validator["OPTIONS"] = {"min_length": 12}
AUTH_PASSWORD_VALIDATORS.append(
    {"NAME": "accounts.validators.MaximumLengthValidator", "OPTIONS": {"max_length": 128}})
PASSWORD_RESET_TIMEOUT = 60 * 60 * 2  # reset links are valid for two hours

# Sessions: end after OPTIMA_SESSION_IDLE_MINUTES without a request and after 12 hours in any case; the cookie
# is not kept when the browser closes.
SESSION_IDLE_TIMEOUT = env.int("OPTIMA_SESSION_IDLE_MINUTES", default=30) * 60
SESSION_COOKIE_AGE = 12 * 60 * 60
SESSION_EXPIRE_AT_BROWSER_CLOSE = True
SESSION_COOKIE_SAMESITE = "Lax"

# Headers. The Content-Security-Policy allows scripts from this site only (no inline scripts); inline styles
# stay allowed because Bootstrap's and htmx's JavaScript set them. Permissions-Policy turns off device APIs.
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "script-src": ["'self'"],
        "style-src": ["'self'", "'unsafe-inline'"],
        "img-src": ["'self'", "data:"],
        "font-src": ["'self'", "data:"],
        "connect-src": ["'self'"],
        "object-src": ["'none'"],
        "base-uri": ["'self'"],
        "form-action": ["'self'"],
        "frame-ancestors": ["'none'"],
    },
}
PERMISSIONS_POLICY = ("accelerometer=(), camera=(), geolocation=(), gyroscope=(), magnetometer=(), microphone=(), "
                      "payment=(), usb=(), interest-cohort=()")
SECURE_REFERRER_POLICY = "same-origin"
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"
CELERY_BEAT_SCHEDULE["purge-expired-api-tokens"] = {
    "task": "accounts.tasks.purge_api_tokens_task",
    "schedule": crontab(minute=30, hour=3),
}

# --- Client records, consent withdrawal, retention (issue 10) ---
# Months after a referral ended (closed, rejected, withdrawn, not started) until the client's data is anonymised
# by the daily beat task below or `manage.py anonymise_expired`.
OPTIMA_RETENTION_MONTHS = env.int("OPTIMA_RETENTION_MONTHS", default=24)
CELERY_BEAT_SCHEDULE["anonymise-expired-referrals"] = {
    "task": "referrals.tasks.anonymise_expired_task",
    "schedule": crontab(minute=30, hour=2),  # daily at 02:30 Zurich time
}
# --- Plausible input, uploads, backups (issue 10) ---
# A request body larger than a document plus its form fields is refused from its Content-Length alone,
# before it is read (optima.middleware); the reverse proxy should refuse it even earlier (README "Uploads").
REQUEST_MAX_BYTES = DOCUMENT_MAX_BYTES + 1024 * 1024
MIDDLEWARE.insert(1, "optima.middleware.RequestSizeLimitMiddleware")  # right after SecurityMiddleware
FILE_UPLOAD_HANDLERS = [
    "optima.middleware.LimitedUploadHandler",
    "django.core.files.uploadhandler.MemoryFileUploadHandler",
    "django.core.files.uploadhandler.TemporaryFileUploadHandler",
]
# Backups (manage.py backup / restore): where archives go unless a path is given.
BACKUP_DIR = env.path("OPTIMA_BACKUP_DIR", default=BASE_DIR / "backup-archives")
INSTALLED_APPS += ["backups"]  # manage.py backup / restore (floor 3: reads referrals' key check)
# --- Outbox and reminders (issue 13) ---
INSTALLED_APPS += ["outbox", "reminders"]  # noqa: F405
OUTBOX_MAX_ATTEMPTS = env.int("OUTBOX_MAX_ATTEMPTS", default=10)  # then "failed", visible in the admin
OUTBOX_RETRY_BASE_SECONDS = env.int("OUTBOX_RETRY_BASE_SECONDS", default=30)  # backoff 30 s, 1, 2, 4 ... 60 min
OUTBOX_MESSAGE_ID_DOMAIN = env.str("OUTBOX_MESSAGE_ID_DOMAIN", default="optima.lu.ch")
CELERY_BEAT_SCHEDULE["outbox-send-due"] = {  # pending mails the broker lost or the mail server refused
    "task": "outbox.tasks.send_due_messages_task",
    "schedule": 60.0,
}
CELERY_BEAT_SCHEDULE["daily-reminders"] = {  # reminders on Lucerne working days, 07:00 Zurich
    "task": "reminders.tasks.send_reminders_task",
    "schedule": crontab(minute=0, hour=7),
}

# --- Case fees (issue 11) ---
# A case is billed for each calendar month in which it was active (handover agreed -> closure) on at least this
# many days; 1 is the rule the concept implies. Raise it only if the institutions agree on another minimum.
BILLING_MIN_ACTIVE_DAYS = env.int("BILLING_MIN_ACTIVE_DAYS", default=1)
if not 1 <= BILLING_MIN_ACTIVE_DAYS <= 28:
    # Every month has at least 28 days, so every month between a case's first and last month is billable: model C
    # in the database prices each case's months as one run (billing.selectors).
    raise ImproperlyConfigured("BILLING_MIN_ACTIVE_DAYS must be between 1 and 28.")
# Every morning at 06:15; the task builds last month's statements only on the first Lucerne working day.
CELERY_BEAT_SCHEDULE["monthly-fee-statements"] = {
    "task": "billing.tasks.monthly_fee_statements_task",
    "schedule": crontab(minute=15, hour=6),
}
# --- dates, languages, directory (issue 12) ---
# Dates are typed as dd.mm.yyyy in every language and browser (optima/forms.py); ISO stays accepted.
DATE_INPUT_FORMATS = ["%d.%m.%Y", "%d.%m.%y", "%Y-%m-%d"]
DATETIME_INPUT_FORMATS = ["%d.%m.%Y %H:%M", "%d.%m.%Y %H.%M", "%Y-%m-%dT%H:%M", "%Y-%m-%d %H:%M", "%d.%m.%Y"]
# German (default), French and Italian are complete; English (the source) only when chosen in the switch.
# The language comes from the user's setting (institutions.middleware), the browser is only a first guess
# among de/fr/it for anonymous visitors.
from optima.languages import PRODUCT_LANGUAGES  # noqa: E402

LANGUAGES = PRODUCT_LANGUAGES
MIDDLEWARE = [m for m in MIDDLEWARE if m != "django.middleware.locale.LocaleMiddleware"]
MIDDLEWARE.insert(MIDDLEWARE.index("django.contrib.auth.middleware.AuthenticationMiddleware") + 1,
                  "institutions.middleware.UserLanguageMiddleware")
# Change history of the directory (who, when, what): django-simple-history on institutions, people, roles.
INSTALLED_APPS += ["simple_history"]
MIDDLEWARE += ["simple_history.middleware.HistoryRequestMiddleware"]
# --- national scale: synthetic data, KPI rollup, benchmarks (issue 14) ---
INSTALLED_APPS += ["scale"]  # noqa: F405  (dev tooling: generate_synthetic, benchmark; top floor, nothing imports it)
EMAIL_TIMEOUT = 30  # seconds; an outbox sender holds its row lock while the mail server answers
