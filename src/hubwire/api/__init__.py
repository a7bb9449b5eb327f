"""The REST API: ``create_app(hub)`` builds the FastAPI application (see ``app.py``)."""
