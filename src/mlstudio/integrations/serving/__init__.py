"""Serving: models behind HTTP that follow alias moves, feature flags, fallbacks, prediction log.

``flags`` is the flag store's evaluation (OpenFeature semantics); ``host`` holds the loaded
versions and swaps them atomically, ``watch`` follows the alias, ``fallback`` is the chain
(retry, previous version, baseline) with a circuit breaker, ``predlog`` the prediction log,
``runtime`` wires one served model and ``app`` is its FastAPI app (``mlstudio serve``).
Nothing here is imported by ``import mlstudio``.
"""
