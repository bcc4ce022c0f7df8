"""Batch scoring (``mlstudio predict NAME@ALIAS --input NS/DATASET --output NS/NAME``).

The same governed loading as serving: the input dataset is read as a run in ``domain`` would
read it (role and classification checks, audited), the model through the registry's governed
load (the domain must be allowed to read its inherited classification; refusals audited), and
unpickled and checked like a serving process does. The output is a new version of a governed
dataset (``data/governed_write.save_table``): the input's columns keep their classification,
``prediction`` and ``model_version`` carry the model's classification joined with every feature
column the model read (fail-closed). Missing feature columns, and nulls without a declared
default, are refused in one line before anything is written.
"""

from __future__ import annotations

from typing import Any

from mlstudio.errors import InvalidInputError

CHUNK_ROWS = 50_000
OUTPUT_COLUMNS = ("prediction", "model_version")


class BatchScoring:
    def __init__(self, store: Any, cas: Any, registry: Any, datasets: Any) -> None:
        self.store = store
        self.cas = cas
        self.registry = registry
        self.datasets = datasets

    def predict(
        self, actor: str, ref: str, *, input: str, output: str, domain: str = "production"
    ) -> dict[str, Any]:
        from mlstudio.data.catalog import parse_dataset_name
        from mlstudio.data.io import field_classifications
        from mlstudio.governance.classification import Classification
        from mlstudio.governance.rbac import Authorizer
        from mlstudio.integrations.registry.names import ModelRef
        from mlstudio.integrations.serving.host import unpickle

        parsed = ModelRef.parse(ref)
        target = parse_dataset_name(output)
        with self.store.read() as uow:  # the output must be writable before anything is read
            Authorizer(uow.identity).require_namespace(actor, target.namespace, "write datasets")
        dataset = self.datasets.read(actor, input, domain=domain)
        table = dataset.to_arrow()
        view, blob = self.registry.load(actor, str(parsed), domain=domain)
        loaded = unpickle(view, blob, {})
        out = score_table(loaded, table, dataset.name, view["ref"])
        classes = field_classifications(table)
        derived = Classification.join_all(
            [Classification.parse(view["classification"]), *(classes[c] for c in loaded.features)]
        )
        columns = []
        for field in out.schema:
            if field.name in OUTPUT_COLUMNS:
                cls, rule = derived, "model"
                sources = [f"model:{view['ref']}", *loaded.features]
            else:
                cls, rule, sources = classes[field.name], "copied", [field.name]
            columns.append(
                {
                    "name": field.name,
                    "type": str(field.type),
                    "classification": cls.to_dict(),
                    "provenance": {"rule": rule, "sources": sources},
                }
            )
        from mlstudio.data.governed_write import save_table
        from mlstudio.data.io import with_field_metadata

        written = save_table(
            self.store,
            self.cas,
            actor,
            target.full,
            with_field_metadata(out, columns),
            columns,
            domain=domain,
            source={"kind": "predict", "model": view["ref"], "dataset": dataset.name},
            action="model.predict",
            details={"model": view["ref"], "input": dataset.name},
        )
        return {
            "model": view["ref"],
            "version": loaded.version,
            "input": dataset.name,
            "output": written,
            "domain": domain,
            "rows": table.num_rows,
            "classification": derived.spec(),
        }


def score_table(loaded: Any, table: Any, label: str, ref: str) -> Any:
    """``table`` (Arrow) with ``prediction`` and ``model_version`` appended, scored by a
    ``LoadedVersion`` in chunks of ``CHUNK_ROWS`` (the serving process's input preparation:
    declared defaults, refusals of missing columns and nulls). ``label`` names the table and
    ``ref`` the model in errors."""
    import pyarrow as pa

    from mlstudio.integrations.serving.fallback import MissingInputError

    taken = [c for c in OUTPUT_COLUMNS if c in table.column_names]
    if taken:
        raise InvalidInputError(
            f"{label} already has column(s) {', '.join(taken)}",
            hint="drop or rename them in the input; predict adds them",
        )
    missing = [c for c in loaded.features if c not in table.column_names]
    if missing:
        raise InvalidInputError(
            f"{label} lacks column(s) {', '.join(missing)} that {ref} reads",
            hint=f"the model reads {', '.join(loaded.features)}; "
            f"{label} has {', '.join(table.column_names)}",
        )
    predictions: list[float] = []
    features = table.select(loaded.features)
    for start in range(0, table.num_rows, CHUNK_ROWS):
        rows = features.slice(start, CHUNK_ROWS).to_pylist()
        try:
            prepared, _ = loaded.prepare(rows)
        except MissingInputError as exc:
            where = f" (in the chunk from row {start})" if start else ""
            raise InvalidInputError(f"{label}: {exc.message}{where}", hint=exc.hint) from exc
        predictions += loaded.predict(prepared)
    out = table.append_column("prediction", pa.array(predictions, type=pa.float64()))
    return out.append_column(
        "model_version", pa.array([loaded.version] * table.num_rows, type=pa.int64())
    )
