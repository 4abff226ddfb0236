"""gunicorn settings for Campus Mail Code: `gunicorn -c deploy/gunicorn.conf.py`.

Every value can be changed from the environment of the service, so one file
serves every host.
"""

import multiprocessing
import os
import tempfile

wsgi_app = "campus:create_app()"

# Behind nginx on the same host: listen on loopback only.
bind = os.environ.get("CAMPUS_BIND", "127.0.0.1:8000")

# Requests wait on the database, Redis and (without the queue) SMTP, not the CPU:
# a few threads per process use the cores well.
workers = int(os.environ.get("WEB_CONCURRENCY", multiprocessing.cpu_count() * 2 + 1))
worker_class = "gthread"
threads = int(os.environ.get("CAMPUS_THREADS", "4"))

# A request that takes longer than this is stuck; the worker is replaced.
timeout = 30
graceful_timeout = 30
keepalive = 5

# Recycle workers now and then, so a slow leak never becomes an outage.
max_requests = 2000
max_requests_jitter = 200

# Only the proxy on this host may say which scheme the client used; the app
# reads the client's address through PROXY_FIX_X_FOR, not through gunicorn.
forwarded_allow_ips = os.environ.get("CAMPUS_FORWARDED_ALLOW_IPS", "127.0.0.1")

accesslog = "-"
errorlog = "-"
loglevel = os.environ.get("CAMPUS_LOG_LEVEL", "info")
# The client address here is the proxy's; nginx's own log has the client's.
access_log_format = '%(h)s "%(r)s" %(s)s %(b)s %(M)sms'

# Metrics: each worker process counts into files in PROMETHEUS_MULTIPROC_DIR and
# /metrics sums them (prometheus-client's multiprocess mode). Without the setting,
# each start of the master gets a fresh directory of its own. A directory that is
# set may be shared with the mail worker on this host; the service empties it
# before each start (deploy/systemd/campus-web.service).
if not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp(prefix="campus-metrics-")


def child_exit(server, worker):
    # A gone worker's live gauges must not be summed in; its counts stay.
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)
