"""The HTTP API: a small ASGI application with ingest and health routes."""
