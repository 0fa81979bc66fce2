"""Gunicorn configuration: gunicorn -c config/gunicorn.py config.wsgi

Every value comes from the environment with a default that suits SQLite: a few processes
with threads each (gthread), so that requests waiting on a tenant's write lock do not
hold a whole process. SIGHUP reloads gracefully (new workers start before old ones stop).
"""

import importlib
import multiprocessing
import os
import resource

bind = os.environ.get("GUNICORN_BIND", "127.0.0.1:8000")
worker_class = os.environ.get("GUNICORN_WORKER_CLASS", "gthread")
workers = int(os.environ.get("GUNICORN_WORKERS", str(min(4, multiprocessing.cpu_count() * 2))))
threads = int(os.environ.get("GUNICORN_THREADS", "4"))
timeout = int(os.environ.get("GUNICORN_TIMEOUT", "30"))
graceful_timeout = int(os.environ.get("GUNICORN_GRACEFUL_TIMEOUT", "30"))
keepalive = int(os.environ.get("GUNICORN_KEEPALIVE", "5"))
max_requests = int(os.environ.get("GUNICORN_MAX_REQUESTS", "0"))
max_requests_jitter = int(os.environ.get("GUNICORN_MAX_REQUESTS_JITTER", "0"))
accesslog = os.environ.get("GUNICORN_ACCESS_LOG", "-") or None  # empty: no access log
errorlog = "-"
# The tenant slug and request id come from the request environ, set by Quire's middleware.
# Each open tenant database holds three file descriptors (the file, -wal, -shm): let the
# workers use the hard limit, so TENANT_MAX_OPEN_CONNECTIONS can match the working set.
_soft, _hard = resource.getrlimit(resource.RLIMIT_NOFILE)
if _hard != resource.RLIM_INFINITY and _soft < _hard:
    resource.setrlimit(resource.RLIMIT_NOFILE, (_hard, _hard))

access_log_format = (
    '%(h)s [%({quire.tenant}e)s %({quire.request_id}e)s] "%(r)s" %(s)s %(b)s %(M)sms'
)
# Link tokens (invitations, sign-up hand-off, password reset) are masked in every field.
logger_class = "apps.core.accesslog.RedactingLogger"

# gunicorn believes X-Forwarded-* headers from the same proxies as Django does: the
# QUIRE_TRUSTED_PROXIES setting (environment or .env), which no settings module overrides.
forwarded_allow_ips = ",".join(
    importlib.import_module("config.settings.base").QUIRE_TRUSTED_PROXIES
)
