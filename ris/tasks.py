"""Core Celery tasks."""

from celery import shared_task


@shared_task(name="ris.ping")
def ping() -> str:
    """Answer 'pong': proves a worker is consuming from the broker (health checks, CI)."""
    return "pong"
