"""``mlstudio.predict("models:/NAME@ALIAS", table)``: batch scoring inside a task (or a
script), with the model loading of ``mlstudio predict`` and of a serving process.

The model is fetched like ``load_model`` does (inside a task: under the run's domain, as the
run's user, kept in the task's read set, so a cached result is reused only while the alias
names the same version), then unpickled and checked by the serving loader: the columns the
model declares it reads, their declared defaults, nulls refused in one line. The result is the
input table with ``prediction`` and ``model_version`` appended. In a task, every column of the
output inherits the model's classification (see ``workflows.runtime``), so a model trained
on pii makes the scores pii.
"""

from __future__ import annotations

from typing import Any


def predict(uri: str, data: Any, *, domain: str | None = None) -> Any:
    """Score every row of ``data`` (an Arrow table, a pandas DataFrame or a ``Dataset``) with
    ``models:/NAME@ALIAS`` (or ``NAME/VERSION``); returns an Arrow table: the input's columns,
    ``prediction`` and ``model_version``."""
    from mlstudio.app.loading import fetch_model
    from mlstudio.integrations.serving.batch import score_table
    from mlstudio.integrations.serving.host import unpickle

    table = _arrow(data)
    view, blob = fetch_model(uri, domain=domain)
    loaded = unpickle(view, blob, {})
    return score_table(loaded, table, getattr(data, "name", None) or "the input", view["ref"])


def _arrow(data: Any) -> Any:
    from mlstudio.data.dataset import as_table

    return as_table(data, "predict scores")
