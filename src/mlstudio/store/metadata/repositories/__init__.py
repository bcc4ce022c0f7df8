"""SQL implementations of the repositories (SQLAlchemy Core; one query text for both databases)."""
