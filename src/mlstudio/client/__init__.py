"""The typed HTTP client of an mlstudio server; the CLI uses it when ``MLSTUDIO_URL`` is set."""

from mlstudio.client.client import Client
from mlstudio.client.errors import error_from_response

__all__ = ["Client", "error_from_response"]
