"""Django settings. Everything that differs between machines comes from the environment.

ORDERS_ENV=production turns on the production checks: DEBUG and the development secret key are
refused at start-up, so a misconfigured deploy fails loudly instead of leaking debug pages.
"""
from __future__ import annotations

import os
from pathlib import Path

from django.core.exceptions import ImproperlyConfigured

from orders_site.observability import logs

BASE_DIR = Path(__file__).resolve().parent.parent
DEV_SECRET_KEY = "dev-only-insecure-key-do-not-use-in-production"


def env(name: str, default: str = "") -> str:
    value = os.environ.get(name)
    return value if value not in (None, "") else default


ORDERS_ENV = env("ORDERS_ENV", "development")
DEBUG = env("DJANGO_DEBUG", "0") == "1"
SECRET_KEY = env("DJANGO_SECRET_KEY", DEV_SECRET_KEY)
if ORDERS_ENV == "production":
    if DEBUG:
        raise ImproperlyConfigured("DJANGO_DEBUG=1 is refused when ORDERS_ENV=production")
    if SECRET_KEY == DEV_SECRET_KEY:
        raise ImproperlyConfigured("set DJANGO_SECRET_KEY: the development key is refused when ORDERS_ENV=production")

ALLOWED_HOSTS = [h for h in env("DJANGO_ALLOWED_HOSTS", "127.0.0.1,localhost").split(",") if h]
CSRF_TRUSTED_ORIGINS = [o for o in env("DJANGO_CSRF_TRUSTED_ORIGINS", "").split(",") if o]

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "rest_framework.authtoken",
    "drf_spectacular",
    "drf_spectacular_sidecar",  # Swagger UI and ReDoc as static files: /api/docs/ works offline
    "orders_site.eventstore",
    "orders_site.catalog",
    "orders_site.orders",
    "orders_site.api",
    "orders_site.payments",
    "orders_site.shipping",
    "orders_site.notifications",
    "orders_site.audit",
    "orders_site.pipeline",
    "orders_site.observability",
    "orders_site.replay",
]

MIDDLEWARE = [
    # First: a request under /api/ without a session cookie leaves here for API_MIDDLEWARE below.
    "orders_site.api.routing.ApiChain",
    # Then: correlation id, metrics and the log line cover everything below, errors included.
    "orders_site.observability.middleware.RequestObservability",
    "orders_site.api.timing.ServerTimingMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

# The chain of a request under /api/ that carries no session cookie: a token request, or an anonymous
# one (orders_site/api/routing.py; docs/design.md, "The API's request path"). It keeps what such a
# request needs and drops what only a browser session needs, which was ~15 % of a checkout's web CPU:
# - left out: WhiteNoise (static files live under STATIC_URL, never /api/); sessions, CSRF,
#   authentication and messages (without a session cookie there is no session to load, no user in
#   it and no messages; DRF's views are csrf_exempt, the checkout view too, and a token header is
#   not something a browser sends cross-site on its own); X-Frame-Options (a response to a request
#   without a session holds nobody's data, so framing it cannot trick a user into acting).
# - kept: SecurityMiddleware (nosniff, Referrer-Policy and Cross-Origin-Opener-Policy on every
#   response; the HTTPS redirect when SECURE_SSL_REDIRECT is set) and CommonMiddleware (ALLOWED_HOSTS
#   is checked here, APPEND_SLASH, and a Content-Length, which spares the server chunked encoding).
API_MIDDLEWARE = [
    "orders_site.observability.middleware.RequestObservability",
    "orders_site.api.timing.ServerTimingMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "django.middleware.common.CommonMiddleware",
]

ROOT_URLCONF = "orders_site.urls"
WSGI_APPLICATION = "orders_site.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

DATABASES = {
    "default": {
        # django.db.backends.postgresql with a health check only after idle (orders_site/dbbackend/base.py)
        "ENGINE": "orders_site.dbbackend",
        "HOST": env("ORDERS_DB_HOST", "127.0.0.1"),
        "PORT": env("ORDERS_DB_PORT", "55432"),
        "NAME": env("ORDERS_DB_NAME", "orders"),
        "USER": env("ORDERS_DB_USER", "postgres"),
        "PASSWORD": os.environ.get("ORDERS_DB_PASSWORD", ""),
        "CONN_MAX_AGE": 60,
        "CONN_HEALTH_CHECKS": True,
        # Parameters bound by the server, and a statement prepared on its connection once it ran
        # `prepare_threshold` times: PostgreSQL then plans each of the consumers' and the checkout's
        # few statements once per connection instead of every time (-1.3 ms of PostgreSQL CPU per
        # saga order at 100 orders/s; docs/benchmarks.md, "Saga"). ORDERS_DB_SERVER_SIDE_BINDING=0
        # goes back to psycopg's client-side binding (and no prepared statements).
        "OPTIONS": {
            "server_side_binding": env("ORDERS_DB_SERVER_SIDE_BINDING", "1") == "1",
            "prepare_threshold": int(env("ORDERS_DB_PREPARE_THRESHOLD", "5")) or None,
        },
    }
}

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
]
LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True
FORMAT_MODULE_PATH = ["orders_site.formats"]  # one timestamp format, with its zone, on every page

STATIC_URL = "static/"
# Collected at start-up by the web launcher (and in the Docker image); served by WhiteNoise.
STATIC_ROOT = Path(env("DJANGO_STATIC_ROOT", str(Path(env("ORDERS_DATA_DIR", str(BASE_DIR / ".data"))) / "static")))

KAFKA_BOOTSTRAP_SERVERS = env("KAFKA_BOOTSTRAP_SERVERS", "127.0.0.1:9092")
# Kafka Connect's REST API (the relay), read by the pipeline status page and command.
KAFKA_CONNECT_URL = f"http://{env('CONNECT_HOST', '127.0.0.1')}:{env('CONNECT_PORT', '8083')}"

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "orders_site.api.authentication.FastTokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "orders_site.api.errors.exception_handler",
}
# Per-layer timings of API requests in a Server-Timing header (orders_site/api/timing.py); the bench sets it.
API_SERVER_TIMING = env("API_SERVER_TIMING", "0") == "1"
SPECTACULAR_SETTINGS = {
    "TITLE": "Orders API",
    "DESCRIPTION": "Checkout and order lookup. Orders move through their saga asynchronously via Kafka.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "POSTPROCESSING_HOOKS": ["drf_spectacular.hooks.postprocess_schema_enums",
                             "orders_site.api.schema.add_common_responses"],
}

# Retention (docs/operations.md, "Retention"): the inbox and sent notifications are pruned past this
# horizon, which must exceed what the broker keeps (a redelivery inside it must still be a no-op).
INBOX_RETENTION_DAYS = int(env("ORDERS_INBOX_RETENTION_DAYS", "30"))
TOPIC_RETENTION_HOURS = int(env("ORDERS_TOPIC_RETENTION_HOURS", "168"))  # Kafka's log.retention.hours

# structlog over the stdlib; LOG_FORMAT=json for one JSON object per line (docs/configuration.md).
LOGGING = logs.dict_config()  # the process name comes from ORDERS_PROCESS
