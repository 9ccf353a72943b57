"""The WSGI entry point: ``gunicorn wsgi:app``."""

from crm.app import create_app

app = create_app()
