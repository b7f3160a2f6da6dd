"""WSGI entry point: `gunicorn app.wsgi:app` (config from APP_* environment variables)."""

from app import create_app

app = create_app()
