"""What ``mlstudio eval compare`` compares: candidates resolved to per-item predictions.

A candidate is a registered model version (``models:/NAME@ALIAS`` or ``models:/NAME/V``,
loaded through the registry's checks under the evaluation's domain, then scored on the
evaluation set's feature columns) or a column of the evaluation set that already holds
predictions (``column:NAME``, or a bare column name: a baseline heuristic, another team's
scores). The first candidate is the baseline every other one is compared against.
"""

from __future__ import annotations

import pickle
import re
from dataclasses import dataclass, field
from typing import Any

from mlstudio.errors import InvalidInputError, SerializationError
from mlstudio.governance.classification import UNCLASSIFIED, Classification

MAX_CANDIDATES = 8


@dataclass
class Candidate:
    ref: str  # as written
    name: str  # as shown and used in column names
    kind: str  # "model" | "column" | "run"
    predictions: Any  # 1-D float numpy array, one per item
    classification: Classification  # what its predictions derive from
    model: str | None = None
    version: int | None = None
    digest: str | None = None
    target: str | None = None  # the label the model was trained on (its metadata)
    inputs: list[str] = field(default_factory=list)  # evaluation-set columns it read

    def describe(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "ref": self.ref,
            "kind": self.kind,
            "model": self.model,
            "version": self.version,
            "digest": self.digest,
        }


def column_name(text: str) -> str:
    """``text`` as a safe column-name part (``churn@champion`` -> ``churn_champion``)."""
    return re.sub(r"[^A-Za-z0-9_]+", "_", text).strip("_") or "candidate"


def check_refs(refs: list[str]) -> None:
    if len(refs) < 2:
        raise InvalidInputError(
            "eval compare needs at least two candidates: the baseline first, then the others",
            hint="mlstudio eval compare models:/churn@champion models:/churn/3 --on NS/DATASET",
        )
    if len(refs) > MAX_CANDIDATES:
        raise InvalidInputError(
            f"{len(refs)} candidates: compare at most {MAX_CANDIDATES} at once",
            hint="compare the strongest few, or run several comparisons",
        )
    if len(set(refs)) != len(refs):
        raise InvalidInputError(
            "a candidate is named twice",
            hint="give each candidate once (the first is the baseline)",
        )


def resolve(
    registry: Any,
    actor: str,
    ref: str,
    columns: dict[str, Any],
    classes: dict[str, Any],
    *,
    domain: str,
    dataset: str,
    read_run: Any = None,
) -> Candidate:
    """One candidate with its predictions on the evaluation set (``columns``: name -> numpy).

    ``read_run(run_id, task)`` returns a run's table output and its read info (the governed
    run-output read); it resolves ``run:RUN_ID[/TASK][#COLUMN]`` candidates."""
    import numpy as np

    if ref.startswith("models:/"):
        return _model(registry, actor, ref, columns, classes, domain=domain, dataset=dataset)
    if ref.startswith("run:"):
        return _run(ref, read_run, len(next(iter(columns.values()), [])), dataset)
    name = ref.removeprefix("column:")
    if name not in columns:
        raise InvalidInputError(
            f"candidate {ref!r} is neither a registered model (models:/NAME@ALIAS, "
            f"models:/NAME/VERSION) nor a column of {dataset}",
            hint=f"its columns are {', '.join(columns)}",
        )
    raw = columns[name]
    try:
        values = np.asarray([np.nan if v is None else v for v in raw.tolist()], dtype=float)
    except (TypeError, ValueError):  # text predictions, for the text metrics
        values = np.asarray([None if v is None else str(v) for v in raw.tolist()], dtype=object)
    return Candidate(
        ref=ref,
        name=column_name(name),
        kind="column",
        predictions=values,
        classification=classes.get(name, UNCLASSIFIED),
        inputs=[name],
    )


RUN_REF = re.compile(r"^run:(?P<run>[A-Za-z0-9_-]+)(?:/(?P<task>[^#]+))?(?:#(?P<column>.+))?$")
PREDICTION_COLUMNS = ("prediction", "predictions", "score", "y_pred")


def _run(ref: str, read_run: Any, n_items: int, dataset: str) -> Candidate:
    """``run:RUN_ID[/TASK][#COLUMN]``: a column of a run's table output, row-aligned with the
    evaluation set (one row per item, in its order)."""
    import numpy as np

    match = RUN_REF.match(ref)
    if match is None or read_run is None:
        raise InvalidInputError(
            f"candidate {ref!r} is not run:RUN_ID[/TASK][#COLUMN]",
            hint="e.g. run:r_0123/score#prediction",
        )
    table, info = read_run(match["run"], match["task"])
    names = list(table.column_names)
    column = match["column"]
    if column is None:
        found = [c for c in PREDICTION_COLUMNS if c in names]
        column = names[0] if len(names) == 1 else (found[0] if found else None)
    if column is None or column not in names:
        raise InvalidInputError(
            f"which column of {ref}'s output holds the predictions? "
            + (f"it has no column {column!r}" if column else f"its columns are {', '.join(names)}"),
            hint=f"name one: {ref.split('#')[0]}#COLUMN",
        )
    if table.num_rows != n_items:
        raise InvalidInputError(
            f"{ref} has {table.num_rows} rows but {dataset} has {n_items} items",
            hint="score every item of the evaluation set, in its order, in the run",
        )
    raw = table.column(column).to_pylist()
    try:
        values = np.asarray([np.nan if v is None else v for v in raw], dtype=float)
    except (TypeError, ValueError):
        values = np.asarray([None if v is None else str(v) for v in raw], dtype=object)
    classes = info.get("classifications") or {}
    cls = classes.get(column) or classes.get("*") or UNCLASSIFIED
    node = info.get("node")
    return Candidate(
        ref=ref,
        name=column_name(f"{info['run']}_{node}" if node else info["run"]),
        kind="run",
        predictions=values,
        classification=cls,
        inputs=[column],
    )


def _model(
    registry: Any,
    actor: str,
    ref: str,
    columns: dict[str, Any],
    classes: dict[str, Any],
    *,
    domain: str,
    dataset: str,
) -> Candidate:
    import numpy as np

    view, blob = registry.load(actor, ref, domain=domain)
    try:
        model = pickle.loads(blob)
    except Exception as exc:
        raise SerializationError(
            f"{view['ref']} could not be unpickled here: {type(exc).__name__}: {exc}",
            hint="evaluate where the training task's libraries are installed",
        ) from exc
    metadata = getattr(model, "metadata", None) or {}
    features = list(metadata.get("features") or [])
    if not features:
        raise InvalidInputError(
            f"{view['ref']} does not say which columns it reads (no features in its metadata)",
            hint="return Model(estimator, features=[...]) from the training task, or compare "
            "its predictions as a column",
        )
    missing = [f for f in features if f not in columns]
    if missing:
        raise InvalidInputError(
            f"{dataset} lacks {len(missing)} column(s) that {view['ref']} reads: "
            f"{', '.join(missing[:5])}",
            hint="evaluate on a dataset with the model's feature columns",
        )
    import pandas as pd

    frame = pd.DataFrame({f: columns[f] for f in features})
    try:
        if hasattr(model, "predict_proba"):
            scores = np.asarray(model.predict_proba(frame))
            scores = scores[:, 1] if scores.ndim == 2 else scores
        else:
            scores = np.asarray(model.predict(frame), dtype=float)
    except Exception as exc:
        raise InvalidInputError(
            f"{view['ref']} failed to predict on {dataset}: {type(exc).__name__}: {exc}",
            hint="check that the dataset's feature columns have the types it was trained on",
        ) from exc
    inherited = view.get("classification")
    model_class = Classification.parse(inherited) if inherited else UNCLASSIFIED
    used = Classification.join_all([model_class, *(classes.get(f, UNCLASSIFIED) for f in features)])
    short = ref.removeprefix("models:/")
    return Candidate(
        ref=ref,
        name=column_name(short),
        kind="model",
        predictions=scores.astype(float),
        classification=used,
        model=view["model"],
        version=int(view["version"]),
        digest=view["digest"],
        target=metadata.get("target"),
        inputs=features,
    )
