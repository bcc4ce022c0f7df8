"""mlstudio: versioned ML modules, a durable workflow orchestrator, governance in execution.

The public SDK is imported lazily so that ``import mlstudio`` stays fast:
``from mlstudio import task, workflow, use, Dataset, Model, File, CachePolicy, current, errors``
(and ``load_model("models:/NAME@ALIAS")``, ``predict("models:/NAME@ALIAS", table)``,
``evaluate(y, {"a": pa, "b": pb})``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

_LAZY = {
    "task": "mlstudio.workflows.sdk",
    "workflow": "mlstudio.workflows.sdk",
    "use": "mlstudio.workflows.sdk",
    "sql_task": "mlstudio.workflows.sdk",
    "when": "mlstudio.workflows.sdk",
    "current": "mlstudio.workflows.sdk",
    "dataset": "mlstudio.workflows.sdk",
    "CachePolicy": "mlstudio.workflows.definitions",
    "File": "mlstudio.data.files",
    "Dataset": "mlstudio.data.dataset",
    "Model": "mlstudio.data.model",
    "load_model": "mlstudio.app.loading",
    "predict": "mlstudio.app.batch_predict",
    "evaluate": "mlstudio.integrations.evaluation.compare",
}

if TYPE_CHECKING:  # pragma: no cover
    from mlstudio import errors
    from mlstudio.app.batch_predict import predict
    from mlstudio.app.loading import load_model
    from mlstudio.data.dataset import Dataset
    from mlstudio.data.files import File
    from mlstudio.data.model import Model
    from mlstudio.integrations.evaluation.compare import evaluate
    from mlstudio.workflows.definitions import CachePolicy
    from mlstudio.workflows.sdk import current, dataset, sql_task, task, use, when, workflow


def __getattr__(name: str) -> Any:
    if name == "errors":
        import importlib

        return importlib.import_module("mlstudio.errors")
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'mlstudio' has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(module), name)


__all__ = [
    "CachePolicy",
    "Dataset",
    "File",
    "Model",
    "current",
    "dataset",
    "errors",
    "evaluate",
    "load_model",
    "predict",
    "sql_task",
    "task",
    "use",
    "when",
    "workflow",
]
