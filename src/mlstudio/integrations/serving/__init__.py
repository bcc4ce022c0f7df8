"""Serving: models behind HTTP that follow alias moves, feature flags, fallbacks, prediction log."""
