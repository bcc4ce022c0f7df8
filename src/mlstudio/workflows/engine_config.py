"""What an engine is configured with (``workflows.service`` builds it): where artifacts, the
cache and logs live, how a task's environment enters its cache key, the sandbox, and the
platform's checkers for reads a cached result made through it (``engine_cache``)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any


@dataclass
class EngineConfig:
    artifact_url: str
    cache_dir: Path
    logs_dir: Path
    # (code ref, task code identity) -> the env component of its cache key
    task_environment: Callable[[dict[str, Any], dict[str, Any] | None], dict[str, Any]]
    env_python: Callable[[dict[str, Any]], str | None] = lambda code: None
    sandbox: dict[str, Any] | None = None  # protected roots for the task sandbox (None: off)
    model_reads: Any = None  # a ModelReads (engine_cache); None: no cached model read reused
    feature_reads: Any = None  # a FeatureReads (engine_cache); None: no cached training set
