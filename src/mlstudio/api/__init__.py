"""The REST API: ``create_app(platform)`` in :mod:`mlstudio.api.app`; nothing is built at import."""
