"""``Model``: a trained object plus metadata (metrics, framework, training data classification)."""

from __future__ import annotations

from typing import Any


class Model:
    """Wrap any picklable estimator; attribute access falls through to it (``model.predict``)."""

    def __init__(self, obj: Any, **metadata: Any) -> None:
        self.obj = obj
        self.metadata: dict[str, Any] = dict(metadata)
        self.metadata.setdefault("framework", type(obj).__module__.split(".")[0])
        self.metadata.setdefault("type", type(obj).__name__)

    def __getattr__(self, name: str) -> Any:
        if name in {"obj", "metadata"}:
            raise AttributeError(name)
        return getattr(self.obj, name)

    def __repr__(self) -> str:
        return f"Model({self.metadata.get('type')}, {len(self.metadata)} metadata keys)"
