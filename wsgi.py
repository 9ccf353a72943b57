"""The WSGI entry point: ``gunicorn wsgi:app``."""

from crm.app import create_app, settle_startup_objects

app = create_app()
settle_startup_objects()
