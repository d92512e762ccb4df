"""Radiology Information System: project package and core domain."""

from ris.celery import app as celery_app

__all__ = ("celery_app",)
