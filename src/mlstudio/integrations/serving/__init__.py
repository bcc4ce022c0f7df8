"""Serving: registered models behind HTTP that follow alias moves (``mlstudio serve``).

``host`` holds the loaded versions and swaps them atomically, ``watch`` follows the alias,
``fallback`` is the chain (retry, previous version, baseline) with a circuit breaker,
``predlog`` the prediction log, ``app`` the FastAPI app. Nothing here is imported by
``import mlstudio``.
"""
