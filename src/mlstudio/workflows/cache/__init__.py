"""Deterministic task caching: keys, explanation, and the cache store."""
