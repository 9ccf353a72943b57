"""Celery workers: thin tasks that take ids, call one service and commit."""
