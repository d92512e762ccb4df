"""gunicorn's settings for the RIS web process (`gunicorn -c python:ris.gunicorn_conf ris.wsgi`), from the
environment like the rest: RIS_WEB_ADDR, WEB_CONCURRENCY, RIS_WEB_THREADS, RIS_FORWARDED_ALLOW_IPS."""

import os

bind = os.environ.get("RIS_WEB_ADDR", "127.0.0.1:8000")
workers = int(os.environ.get("WEB_CONCURRENCY", "2"))
threads = int(os.environ.get("RIS_WEB_THREADS", "4"))
timeout = 60
graceful_timeout = 30
# The reverse proxy that terminates TLS (and sets X-Forwarded-Proto/-For) is trusted from these addresses only.
forwarded_allow_ips = os.environ.get("RIS_FORWARDED_ALLOW_IPS", "127.0.0.1")
accesslog = "-"
# The path without its query string: a search (?q=family name) is PHI and stays out of the log.
access_log_format = '%(h)s %(t)s "%(m)s %(U)s" %(s)s %(B)s %(M)sms'
