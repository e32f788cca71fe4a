"""Settings for Backup Posture, read from environment variables.

`.env.example` lists every variable. Without DATABASE_URL the database is a SQLite file in the
project folder. Without CELERY_BROKER_URL Celery runs tasks in-process (eager), for the demo and
quick local runs.
"""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlsplit

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

from config.env import env_bool, env_choice, env_int, env_list, env_str

BASE_DIR = Path(__file__).resolve().parent.parent

DEBUG = env_bool("DJANGO_DEBUG", False)
SECRET_KEY = env_str("DJANGO_SECRET_KEY")
if not SECRET_KEY:
    if not DEBUG:
        raise ImproperlyConfigured(
            "DJANGO_SECRET_KEY is empty. Set it to a long random string, or set DJANGO_DEBUG=true "
            "for a local run."
        )
    SECRET_KEY = "insecure-local-development-key"  # noqa: S105 - only reachable with DEBUG on

ALLOWED_HOSTS = env_list("DJANGO_ALLOWED_HOSTS", ["127.0.0.1", "localhost"])
CSRF_TRUSTED_ORIGINS = env_list("DJANGO_CSRF_TRUSTED_ORIGINS")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "django_htmx",
    "template_partials",
    "django_celery_beat",
    "accounts",
    "posture",
    "triage",
    # The demo's simulated AWS accounts; its command needs the development requirements (moto).
    "sandbox",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "config.middleware.SecurityHeadersMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
]

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"

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
                "accounts.context_processors.roles",
            ],
        },
    },
]

_database_url = env_str("DATABASE_URL")
if _database_url:
    try:
        DATABASES = {"default": dj_database_url.parse(_database_url, conn_max_age=60)}
    except ValueError as exc:
        raise ImproperlyConfigured(f"DATABASE_URL is not a valid database URL: {exc}") from None
else:
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": env_str("SQLITE_PATH") or str(BASE_DIR / "db.sqlite3"),
            "OPTIONS": {"timeout": 20},
        }
    }
    # The covering indexes' INCLUDE columns serve the dashboard on PostgreSQL. SQLite (the demo and
    # quick local use) builds the same indexes without them, which the models.W040 warning reports
    # on every command.
    SILENCED_SYSTEM_CHECKS = ["models.W040"]

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
]

LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "posture:overview"
LOGOUT_REDIRECT_URL = "login"

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = False
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATICFILES_FINDERS = [
    "django.contrib.staticfiles.finders.FileSystemFinder",
    "django.contrib.staticfiles.finders.AppDirectoriesFinder",
    "posture.staticfinders.PlotlyFinder",
]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": (
            "django.contrib.staticfiles.storage.StaticFilesStorage"
            if DEBUG
            else "whitenoise.storage.CompressedManifestStaticFilesStorage"
        )
    },
}
WHITENOISE_USE_FINDERS = DEBUG

SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SECURE = env_bool("DJANGO_SECURE_COOKIES", not DEBUG)
CSRF_COOKIE_SECURE = SESSION_COOKIE_SECURE
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"
# Sent by config.middleware on every response. Scripts come only from this site's static files
# (no inline script, no eval): the plotly figure travels as JSON in a json_script element.
# Styles allow 'unsafe-inline' because plotly.js and htmx insert <style> elements and style
# attributes at run time.
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
    "object-src 'none'; base-uri 'self'; frame-ancestors 'none'; form-action 'self'"
)
# Browser features the dashboard never uses, switched off for every origin.
PERMISSIONS_POLICY = (
    "accelerometer=(), camera=(), geolocation=(), gyroscope=(), magnetometer=(), microphone=(), "
    "payment=(), usb=()"
)

# Cache: figures that take long to compute, such as the overview's mean time to remediate. A Redis
# URL shares them between the web processes, so one request per change pays for them instead of
# one per process. Without it each process keeps its own in memory.
_cache_url = env_str("CACHE_URL")
if _cache_url and not _cache_url.startswith(("redis://", "rediss://", "unix://")):
    raise ImproperlyConfigured(
        f"CACHE_URL={_cache_url!r} is not a Redis URL. Use redis://HOST:PORT/DB, or leave it empty "
        "for a cache in each process's memory."
    )
CACHES = {
    "default": (
        {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": _cache_url}
        if _cache_url
        else {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}
    )
}

# Celery. Without a broker URL tasks run in-process, so the demo needs no Redis.
# The in-memory transport is never used for sending then; it only keeps kombu from guessing a host.
CELERY_TASK_ALWAYS_EAGER = not env_str("CELERY_BROKER_URL")
CELERY_BROKER_URL = env_str("CELERY_BROKER_URL") or "memory://localhost/"
CELERY_TASK_DEFAULT_QUEUE = env_str("CELERY_TASK_DEFAULT_QUEUE", "celery")
CELERY_TASK_EAGER_PROPAGATES = True
CELERY_RESULT_BACKEND = None
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TIMEZONE = TIME_ZONE
CELERY_BEAT_SCHEDULER = "django_celery_beat.schedulers:DatabaseScheduler"
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True

# Scan limits, in seconds. The worker kills an account scan past its hard limit. The reaper marks
# rows still unfinished after SCAN_STUCK_AFTER as failed, because a worker that died leaves them.
SCAN_SOFT_TIME_LIMIT = env_int("SCAN_SOFT_TIME_LIMIT", 1500, minimum=10)
SCAN_TIME_LIMIT = env_int("SCAN_TIME_LIMIT", 1800, minimum=20)
if SCAN_TIME_LIMIT <= SCAN_SOFT_TIME_LIMIT:
    raise ImproperlyConfigured(
        f"SCAN_TIME_LIMIT={SCAN_TIME_LIMIT} must be greater than SCAN_SOFT_TIME_LIMIT={SCAN_SOFT_TIME_LIMIT}."
    )
SCAN_STUCK_AFTER = env_int("SCAN_STUCK_AFTER", SCAN_TIME_LIMIT + 300, minimum=SCAN_TIME_LIMIT)
SCAN_REGION_WORKERS = env_int("SCAN_REGION_WORKERS", 4, minimum=1, maximum=32)

# AWS. The product keeps no keys: boto3's standard credential chain gives its own identity, and
# each account is reached by AssumeRole with that account's ExternalId.
AWS_ENDPOINT_URL = env_str("AWS_ENDPOINT_URL")
if AWS_ENDPOINT_URL:
    _endpoint = urlsplit(AWS_ENDPOINT_URL)
    if _endpoint.scheme not in ("http", "https") or not _endpoint.hostname:
        raise ImproperlyConfigured(
            f"AWS_ENDPOINT_URL={AWS_ENDPOINT_URL!r} is not an http(s) URL. Leave it empty to use AWS."
        )
AWS_PARTITION = env_choice("AWS_PARTITION", "aws", ("aws", "aws-us-gov", "aws-cn"))
AWS_STS_REGION = env_str("AWS_STS_REGION", "us-east-1")
AWS_MAX_ATTEMPTS = env_int("AWS_MAX_ATTEMPTS", 8, minimum=1, maximum=20)
AWS_CONNECT_TIMEOUT = env_int("AWS_CONNECT_TIMEOUT", 5, minimum=1, maximum=120)
AWS_READ_TIMEOUT = env_int("AWS_READ_TIMEOUT", 30, minimum=1, maximum=600)
AWS_ROLE_SESSION_SECONDS = env_int("AWS_ROLE_SESSION_SECONDS", 3600, minimum=900, maximum=43200)
# Credential report generation is asynchronous on AWS; the collector polls with backoff up to this.
AWS_CREDENTIAL_REPORT_WAIT = env_int("AWS_CREDENTIAL_REPORT_WAIT", 60, minimum=1, maximum=600)

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {
        "handlers": ["console"],
        "level": env_choice("LOG_LEVEL", "INFO", ("DEBUG", "INFO", "WARNING", "ERROR")),
    },
    "loggers": {
        "botocore": {"level": "WARNING"},
        "boto3": {"level": "WARNING"},
        "urllib3": {"level": "WARNING"},
    },
}
