"""Settings shared by every environment. Only config/ reads the environment."""

from pathlib import Path

import environ

BASE_DIR = Path(__file__).resolve().parent.parent.parent

env = environ.Env()
if (BASE_DIR / ".env").is_file():
    env.read_env(BASE_DIR / ".env")


def project_path(value: str) -> Path:
    """Return a path from the environment, relative paths taken from the project root."""
    path = Path(value)
    return path if path.is_absolute() else BASE_DIR / path


SECRET_KEY = env("DJANGO_SECRET_KEY", default="django-insecure-local-development-only")
DEBUG = env.bool("DJANGO_DEBUG", default=False)

# Tenancy ---------------------------------------------------------------------------
QUIRE_BASE_DOMAIN = env("QUIRE_BASE_DOMAIN", default="localhost").lower().rstrip(".")
# Where users write when something goes wrong: shown on error, suspended and deleted pages.
QUIRE_SUPPORT_EMAIL = env("QUIRE_SUPPORT_EMAIL", default="")
# How workspace links are written when no request tells (commands, e-mails).
QUIRE_URL_SCHEME = env("QUIRE_URL_SCHEME", default="https")
QUIRE_URL_PORT = env("QUIRE_URL_PORT", default="")
TENANTS_DATA_DIR = project_path(env("TENANTS_DATA_DIR", default="tenants_data/"))
TENANT_DB_TIMEOUT = env.float("TENANT_DB_TIMEOUT", default=5.0)
# Storage cap of a tenant database (a plan may set its own), and the longest a query may
# run during a request before SQLite interrupts it.
TENANT_MAX_DB_BYTES = env.int("TENANT_MAX_DB_MB", default=1024) * 1024 * 1024
TENANT_QUERY_TIMEOUT = env.float("TENANT_QUERY_TIMEOUT", default=5.0)
# Seconds after which a provisioning that never finished counts as dead (it takes ms).
TENANT_PROVISIONING_TIMEOUT = env.int("TENANT_PROVISIONING_TIMEOUT", default=60)
# Open tenant connections kept per process (each holds 3 file descriptors: db, -wal, -shm,
# and about 0.22 MB once idle): 192 keeps a worker that served 10,000 workspaces near 150 MB.
TENANT_MAX_OPEN_CONNECTIONS = env.int("TENANT_MAX_OPEN_CONNECTIONS", default=192)
# Catalog rows kept per process for routing requests (apps.tenancy.routing.catalogcache): with a
# SQLite catalog until it changes; with a shared catalog server (PostgreSQL) for this many
# seconds at most (0: not kept), the time a suspend or delete made elsewhere may take.
# About 1.5 KB a row: a fleet's busiest workspaces; the others read their row again.
TENANT_CATALOG_CACHE_SIZE = env.int("TENANT_CATALOG_CACHE_SIZE", default=4096)
TENANT_CATALOG_CACHE_SECONDS = env.float("TENANT_CATALOG_CACHE_SECONDS", default=0.0)
# Usage metering (apps.tenancy.metering): rows read and written are counted by the tenant
# connection; each process adds its counts to the catalog every QUIRE_USAGE_FLUSH_SECONDS
# (0: only when metering.flush() is called) and at exit.
QUIRE_USAGE_METERING = env.bool("QUIRE_USAGE_METERING", default=True)
QUIRE_USAGE_FLUSH_SECONDS = env.float("QUIRE_USAGE_FLUSH_SECONDS", default=5.0)
# How often a process reads plans and the month's use (other processes' counts) from the
# catalog for quota checks; its own counts always count at once.
QUIRE_USAGE_QUOTA_REFRESH_SECONDS = env.float("QUIRE_USAGE_QUOTA_REFRESH_SECONDS", default=60.0)
# Folder of the pre-migrated template databases (default: TENANTS_DATA_DIR/.templates).
TENANT_TEMPLATE_DIR = env("TENANT_TEMPLATE_DIR", default=None)
# Days a deleted tenant's files stay in the trash (and its slug stays held).
TENANT_TRASH_RETENTION_DAYS = env.int("TENANT_TRASH_RETENTION_DAYS", default=30)
TENANCY_PUBLIC_URLCONF = "config.urls_public"
TENANT_RESERVED_SLUGS = frozenset(
    {
        "www",
        "api",
        "admin",
        "app",
        "apps",
        "static",
        "media",
        "mail",
        "smtp",
        "imap",
        "help",
        "support",
        "status",
        "docs",
        "blog",
        "catalog",
        "public",
        "assets",
        "cdn",
        "auth",
        "login",
        "signup",
        "dashboard",
        "billing",
        "root",
        "system",
        "test",
        "dev",
        "staging",
        "ftp",
        "ns1",
        "ns2",
        "localhost",
    }
)

# This process's machine. Each tenant is served by its home node only; a new tenant is
# homed on the node that provisions it.
QUIRE_NODE_ID = env("QUIRE_NODE_ID", default="node-1")
# Every node and the address its gunicorn listens on, for the proxy map and moves:
# QUIRE_NODES=node-1=10.0.0.1:8000,node-2=10.0.0.2:8000
QUIRE_NODES = env.dict("QUIRE_NODES", default={})
# Seconds a node waits for the home node when it forwards a request there.
QUIRE_FORWARD_TIMEOUT = env.float("QUIRE_FORWARD_TIMEOUT", default=30.0)
# How long a read on a replica node may wait for the local replica to reach the reader's
# bookmark (their own last write) before the primary serves it instead.
QUIRE_REPLICA_WAIT_MS = env.int("QUIRE_REPLICA_WAIT_MS", default=1000)

# Replication with Litestream (one process per machine, watching the tenants folder).
# QUIRE_REPLICA_TYPE: "file" (a folder, for one machine) or "s3" (S3-compatible storage).
QUIRE_REPLICATION = env.bool("QUIRE_REPLICATION", default=False)
QUIRE_REPLICA_TYPE = env("QUIRE_REPLICA_TYPE", default="file")
QUIRE_REPLICA_PATH = project_path(env("QUIRE_REPLICA_PATH", default="replicas/"))
# How often Litestream looks for new writes (monitor), ships them (sync), and a read
# replica's follower polls for them (follow): replica lag is about their sum. 100 ms each
# gives a p99 lag near 0.1 s; on a paid object store, an idle follower costs about 9 LIST
# requests per follow interval (see README, read replicas).
QUIRE_REPLICA_MONITOR_INTERVAL = env("QUIRE_REPLICA_MONITOR_INTERVAL", default="100ms")
QUIRE_REPLICA_SYNC_INTERVAL = env("QUIRE_REPLICA_SYNC_INTERVAL", default="100ms")
QUIRE_REPLICA_FOLLOW_INTERVAL = env("QUIRE_REPLICA_FOLLOW_INTERVAL", default="100ms")
# Seconds between two passes of the replica supervisor over this node's placements.
QUIRE_REPLICA_SUPERVISE_SECONDS = env.float("QUIRE_REPLICA_SUPERVISE_SECONDS", default=1.0)
# A node follows only the replicas it is asked to read: a workspace read on this node (or
# placed here) within QUIRE_REPLICA_IDLE_SECONDS, at most QUIRE_REPLICA_MAX_FOLLOWERS at once
# (the most recently read). Each process notes a read of a workspace at most every
# QUIRE_REPLICA_READ_MARK_SECONDS. A replica whose follower has not reported for
# QUIRE_REPLICA_HEARTBEAT_SECONDS is not served from: the primary answers.
QUIRE_REPLICA_IDLE_SECONDS = env.float("QUIRE_REPLICA_IDLE_SECONDS", default=600.0)
QUIRE_REPLICA_MAX_FOLLOWERS = env.int("QUIRE_REPLICA_MAX_FOLLOWERS", default=20)
QUIRE_REPLICA_READ_MARK_SECONDS = env.float("QUIRE_REPLICA_READ_MARK_SECONDS", default=5.0)
QUIRE_REPLICA_HEARTBEAT_SECONDS = env.float("QUIRE_REPLICA_HEARTBEAT_SECONDS", default=5.0)
# Idle read connections to this node's replicas each process keeps for the next read
# (0: open one per request); each holds the replica's parsed schema, about 60 KB.
QUIRE_REPLICA_KEPT_CONNECTIONS = env.int("QUIRE_REPLICA_KEPT_CONNECTIONS", default=16)
# How often Litestream compacts new changes into level 1: the point-in-time resolution.
QUIRE_REPLICA_PITR_INTERVAL = env("QUIRE_REPLICA_PITR_INTERVAL", default="10s")
QUIRE_S3_BUCKET = env("QUIRE_S3_BUCKET", default="")
QUIRE_S3_PREFIX = env("QUIRE_S3_PREFIX", default="quire")
QUIRE_S3_ENDPOINT = env("QUIRE_S3_ENDPOINT", default="")
QUIRE_S3_REGION = env("QUIRE_S3_REGION", default="us-east-1")
QUIRE_S3_ACCESS_KEY_ID = env("QUIRE_S3_ACCESS_KEY_ID", default="")
QUIRE_S3_SECRET_ACCESS_KEY = env("QUIRE_S3_SECRET_ACCESS_KEY", default="")

# Apps whose tables live in each tenant's file, and apps whose tables live in the catalog.
TENANT_APPS = [
    "django.contrib.contenttypes",
    "django.contrib.auth",
    "django.contrib.sessions",
    "django.contrib.admin",
    "apps.accounts",
    "apps.posts",
    "apps.notifications",
    "apps.tenancy.commits",
]
SHARED_APPS = [
    "apps.tenancy",
    "apps.onboarding",
    "apps.sqlapi",
    "django_tasks_db",  # the job queue, one for the fleet (apps.jobs)
]
# Apps without models of their own.
PRODUCT_APPS = ["apps.core", "apps.workspace", "django_tasks", "apps.jobs", "apps.usage"]

ALLOWED_HOSTS = ["." + QUIRE_BASE_DOMAIN]  # the apex and every subdomain

INSTALLED_APPS = [
    "whitenoise.runserver_nostatic",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    *TENANT_APPS,
    *SHARED_APPS,
    *PRODUCT_APPS,
]

MIDDLEWARE = [
    "apps.tenancy.nodes.health.HealthCheckMiddleware",
    "apps.core.middleware.RequestIdMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "apps.sqlapi.middleware.SqlApiMiddleware",  # SQL API calls skip the pages' middleware
    # After the SQL API: its calls get their size limit as a protocol error, not a page.
    "apps.core.middleware.RequestSizeLimitMiddleware",
    "apps.core.middleware.ContentSecurityPolicyMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "apps.tenancy.routing.middleware.TenantMiddleware",  # counts each request (metering)
    "django.contrib.sessions.middleware.SessionMiddleware",
    "apps.tenancy.routing.middleware.ReplicaSessionGuard",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "apps.accounts.middleware.AuthenticationMiddleware",  # the member kept until a write
    "apps.accounts.middleware.TimeZoneMiddleware",  # times in the member's own zone
    "apps.core.middleware.PrivateCacheMiddleware",
    "apps.accounts.ratelimit.SignInThrottleMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "apps.usage.middleware.QuotaMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

# The SQL API (Hrana over HTTP, apps.sqlapi): per-request limits, and how long a stream
# (an interactive transaction) may stay idle before it is rolled back and closed.
SQLAPI_STATEMENT_SECONDS = env.float("QUIRE_SQLAPI_STATEMENT_SECONDS", default=2.0)
SQLAPI_MAX_ROWS = env.int("QUIRE_SQLAPI_MAX_ROWS", default=10_000)
SQLAPI_MAX_RESPONSE_BYTES = env.int("QUIRE_SQLAPI_MAX_RESPONSE_KB", default=8192) * 1024
SQLAPI_MAX_BODY_BYTES = env.int("QUIRE_SQLAPI_MAX_BODY_KB", default=1024) * 1024
SQLAPI_MAX_STATEMENTS = env.int("QUIRE_SQLAPI_MAX_STATEMENTS", default=500)
SQLAPI_MAX_STREAMS = env.int("QUIRE_SQLAPI_MAX_STREAMS", default=8)
SQLAPI_STREAM_IDLE_SECONDS = env.float("QUIRE_SQLAPI_STREAM_IDLE_SECONDS", default=10.0)

# Request bodies. A larger body is refused with the 413 page before it is read (and by the
# proxy: proxy_config writes the same limit).
DATA_UPLOAD_MAX_MEMORY_SIZE = env.int("QUIRE_MAX_REQUEST_KB", default=1024) * 1024
FILE_UPLOAD_MAX_MEMORY_SIZE = DATA_UPLOAD_MAX_MEMORY_SIZE
DATA_UPLOAD_MAX_NUMBER_FIELDS = env.int("QUIRE_MAX_REQUEST_FIELDS", default=500)
# Attachments (apps.posts.attachments): the largest file, which is also how much larger
# than QUIRE_MAX_REQUEST_KB a form with files (multipart) may be, and files per request.
QUIRE_MAX_UPLOAD_BYTES = env.int("QUIRE_MAX_UPLOAD_MB", default=10) * 1024 * 1024
DATA_UPLOAD_MAX_NUMBER_FILES = env.int("QUIRE_MAX_UPLOAD_FILES", default=10)

# The proxies in front of gunicorn (addresses or networks): X-Forwarded-For is believed
# only from them, to find the client's address for rate limits. gunicorn's
# forwarded_allow_ips is read from here (config/gunicorn.py): override it nowhere else.
QUIRE_TRUSTED_PROXIES = env.list("QUIRE_TRUSTED_PROXIES", default=["127.0.0.1", "::1"])
# Forms are only trusted from their own origin: no workspace trusts another subdomain.
CSRF_TRUSTED_ORIGINS = env.list("DJANGO_CSRF_TRUSTED_ORIGINS", default=[])

ROOT_URLCONF = "config.urls"  # workspaces; the apex uses TENANCY_PUBLIC_URLCONF

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
                "apps.tenancy.routing.middleware.read_only_notice",
                "apps.usage.middleware.quota_notice",
                "apps.core.context_processors.support",
            ],
        },
    },
]

WSGI_APPLICATION = "config.wsgi.application"
ASGI_APPLICATION = "config.asgi.application"

# The catalog. Relative SQLite paths are taken from the project root.
DATABASES = {
    "default": env.db("DATABASE_URL", default="sqlite:///tenants_data/catalog.sqlite3"),
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    DATABASES["default"]["NAME"] = str(project_path(DATABASES["default"]["NAME"]))
    DATABASES["default"]["OPTIONS"] = {
        "transaction_mode": "IMMEDIATE",
        "timeout": TENANT_DB_TIMEOUT,
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL",
    }
    # Keep the connection: reopening a WAL database on every request costs more than the
    # query, and closing the last connection checkpoints the file under an exclusive lock.
    DATABASES["default"]["CONN_MAX_AGE"] = None
else:
    # A shared catalog server (PostgreSQL, for several machines): reuse connections.
    DATABASES["default"]["CONN_MAX_AGE"] = env.int("DATABASE_CONN_MAX_AGE", default=60)
    DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
DATABASE_ROUTERS = ["apps.tenancy.routing.router.TenantRouter"]
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_USER_MODEL = "accounts.User"
PASSWORD_HASHERS = [
    "django.contrib.auth.hashers.Argon2PasswordHasher",
    "django.contrib.auth.hashers.PBKDF2PasswordHasher",
    "django.contrib.auth.hashers.PBKDF2SHA1PasswordHasher",
    "django.contrib.auth.hashers.ScryptPasswordHasher",
]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
# Every sign-in goes through the throttling backend. The plain model backend stays listed
# so sessions signed in before it still load their user; the first never lets it guess.
AUTHENTICATION_BACKENDS = [
    "apps.accounts.ratelimit.SignInThrottleBackend",
    "django.contrib.auth.backends.ModelBackend",
]
LOGIN_URL = "accounts:login"
LOGIN_REDIRECT_URL = "posts:list"
LOGOUT_REDIRECT_URL = "accounts:login"

# Sessions live in each tenant's database; cookies stay on the host that set them.
# (Django's database store, the row kept until the workspace's next write: apps.accounts.sessions)
SESSION_ENGINE = "apps.accounts.sessions"
SESSION_COOKIE_DOMAIN = None
CSRF_COOKIE_DOMAIN = None
# The apex has no session store, so flash messages travel in a cookie.
MESSAGE_STORAGE = "django.contrib.messages.storage.cookie.CookieStorage"
# Sign-up hands the new admin over to the workspace with a token valid this long.
QUIRE_HANDOFF_MAX_AGE = env.int("QUIRE_HANDOFF_MAX_AGE", default=60)

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = project_path(env("DJANGO_STATIC_ROOT", default="staticfiles"))
MEDIA_URL = "media/"
MEDIA_ROOT = project_path(env("DJANGO_MEDIA_ROOT", default="tenants_data/.media"))
STORAGES = {
    "default": {"BACKEND": "apps.tenancy.routing.storage.TenantFileSystemStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}

# Shared by the processes of one machine; keys carry the tenant (apps.tenancy.routing.cache).
CACHES = {
    "default": {
        "BACKEND": "django.core.cache.backends.filebased.FileBasedCache",
        "LOCATION": str(project_path(env("DJANGO_CACHE_DIR", default="tenants_data/.cache"))),
        "KEY_FUNCTION": "apps.tenancy.routing.cache.make_key",
    },
    # Rendered parts of workspace pages (apps.posts.pagecache), in each process's memory;
    # their keys carry the workspace's commit position, so no write ever finds them stale.
    "pages": {
        "BACKEND": "django.core.cache.backends.locmem.LocMemCache",
        "LOCATION": "quire-pages",
        "KEY_FUNCTION": "apps.tenancy.routing.cache.make_key",
        "TIMEOUT": None,
        "OPTIONS": {
            "MAX_ENTRIES": env.int("QUIRE_PAGE_CACHE_ENTRIES", default=10_000),
            # When full, drop the least recently used 1%, not Django's default third.
            "CULL_FREQUENCY": 100,
        },
    },
}
# Failed sign-ins allowed in a window, before 429: per workspace and client address, and
# per account from addresses it never signed in from (so its owner still gets in).
QUIRE_LOGIN_ATTEMPTS = env.int("QUIRE_LOGIN_ATTEMPTS", default=10)
QUIRE_LOGIN_ACCOUNT_ATTEMPTS = env.int("QUIRE_LOGIN_ACCOUNT_ATTEMPTS", default=50)
QUIRE_LOGIN_WINDOW_SECONDS = env.int("QUIRE_LOGIN_WINDOW_SECONDS", default=300)
# E-mails sent on request (sign-up, password reset) per client address and per recipient
# in a window, before 429.
QUIRE_MAIL_PER_ADDRESS = env.int("QUIRE_MAIL_PER_ADDRESS", default=10)
QUIRE_MAIL_PER_RECIPIENT = env.int("QUIRE_MAIL_PER_RECIPIENT", default=3)
QUIRE_MAIL_WINDOW_SECONDS = env.int("QUIRE_MAIL_WINDOW_SECONDS", default=3600)

# Every message goes through a backend that keeps subjects on one line, then this one.
EMAIL_BACKEND = "apps.core.mail.OneLineSubjectBackend"
QUIRE_EMAIL_BACKEND = env(
    "DJANGO_EMAIL_BACKEND", default="django.core.mail.backends.smtp.EmailBackend"
)
DEFAULT_FROM_EMAIL = env("DJANGO_DEFAULT_FROM_EMAIL", default="Quire <noreply@localhost>")
# Seconds an SMTP server may take; the job worker sends, so no page waits for it.
EMAIL_TIMEOUT = env.int("DJANGO_EMAIL_TIMEOUT", default=10)

# The hour (UTC) at which the job worker sends each workspace's daily digests.
QUIRE_DIGEST_HOUR = env.int("QUIRE_DIGEST_HOUR", default=7)

# Background jobs (apps.jobs): one queue in the catalog for the fleet; a job names its
# workspace and waits in the queue of that workspace's home node (QUIRE_NODE_ID).
TASKS = {"default": {"BACKEND": "django_tasks_db.DatabaseBackend", "QUEUES": []}}
# Attempts of a failing job before it is marked failed; the wait before the next attempt
# starts at QUIRE_JOB_RETRY_SECONDS and doubles each time.
QUIRE_JOB_MAX_ATTEMPTS = env.int("QUIRE_JOB_MAX_ATTEMPTS", default=5)
QUIRE_JOB_RETRY_SECONDS = env.float("QUIRE_JOB_RETRY_SECONDS", default=10.0)
# A job still running this long after it started is taken to belong to a dead worker
# (killed, machine lost) and runs again; keep it above the longest job.
QUIRE_JOB_LEASE_SECONDS = env.int("QUIRE_JOB_LEASE_SECONDS", default=300)

# Only our own static files and pages: no inline script, no other origin. Forms may post
# to (and redirect to) the workspaces' subdomains.
QUIRE_CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "font-src 'self'; connect-src 'self'; object-src 'none'; base-uri 'none'; "
    f"frame-ancestors 'none'; form-action 'self' *.{QUIRE_BASE_DOMAIN}:*"
)

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"request_context": {"()": "apps.core.logging.RequestContextFilter"}},
    "formatters": {
        "tenant": {
            "format": "%(asctime)s %(levelname)s [%(tenant)s %(request_id)s] %(name)s: %(message)s"
        }
    },
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "filters": ["request_context"],
            "formatter": "tenant",
        }
    },
    "root": {"handlers": ["console"], "level": env("DJANGO_LOG_LEVEL", default="INFO")},
}
