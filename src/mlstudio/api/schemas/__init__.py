"""Request and response models of the REST API (pydantic), separate from the store's records.

Response models name the fields clients rely on and allow extra ones, so an API response is
the very JSON the CLI prints for the same command (``mlstudio … --json``).
"""
