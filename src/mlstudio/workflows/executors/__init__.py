"""Executors run task dispatches; the engine talks only to ``executors.base.Executor``."""
