"""Monitors declared by a module: ``[monitors.NAME]`` tables in its ``module.toml``.

    [monitors.orders-daily]
    source = "shop/orders"           # a dataset NS/NAME, or "sql:SELECT … FROM \\"NS/NAME\\""
    time_column = "ts"
    metrics = ["orders=sum:orders"]
    schedule = "0 6 * * *"           # any other `mlstudio monitor add` option by its name

The monitor is ``NS/NAME`` in the module's namespace. Declarations are checked when the module
is pushed (names, keys and types); what they read is checked when the version is promoted,
where the app layer creates each declared monitor that does not exist yet, as the promoter and
with the promoter's rights (``app/local/module_monitors.py``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from mlstudio.errors import ManifestError

STRINGS = ("source", "time_column", "period", "domain", "reference", "schedule", "persistence")
LISTS = ("dimensions", "features", "metrics", "after")
NUMBERS = {"alpha": float, "max_slices": int, "freshness": int}
KEYS = (*STRINGS, *LISTS, *NUMBERS)


def parse_monitors(section: Any, path: Path, namespace: str) -> dict[str, dict[str, Any]]:
    """``{NS/NAME: the monitor add options}`` from the ``[monitors]`` table of ``path``."""
    from mlstudio.data.catalog import parse_dataset_name
    from mlstudio.errors import MlstudioError

    def fail(problem: str, hint: str) -> ManifestError:
        return ManifestError(f"{path}: {problem}", hint=hint)

    example = '[monitors.NAME] with source = "ns/data", time_column = "ts", metrics = ["n=count"]'
    if not isinstance(section, dict) or not section:
        raise fail("[monitors] must hold one table per monitor", f"write {example}")
    out: dict[str, dict[str, Any]] = {}
    for short, spec in section.items():
        try:
            full = parse_dataset_name(f"{namespace}/{short}").full
        except MlstudioError as exc:
            raise fail(f"[monitors.{short}]: not a valid monitor name", exc.hint or "") from exc
        if not isinstance(spec, dict):
            raise fail(f"[monitors.{short}] must be a table", f"write {example}")
        unknown = sorted(set(spec) - set(KEYS))
        if unknown:
            raise fail(f"unknown key(s) in [monitors.{short}]: {', '.join(unknown)}",
                       f"allowed keys: {', '.join(KEYS)}")  # fmt: skip
        missing = [k for k in ("source", "time_column") if k not in spec]
        if missing:
            raise fail(f"[monitors.{short}] lacks {', '.join(missing)}", f"write {example}")
        for key, value in spec.items():
            if key in STRINGS and (not isinstance(value, str) or not value.strip()):
                raise fail(f"[monitors.{short}].{key} must be a non-empty string",
                           f'write {key} = "…"')  # fmt: skip
            if key in LISTS and not (
                isinstance(value, list) and all(isinstance(v, str) and v for v in value)
            ):
                raise fail(f"[monitors.{short}].{key} must be a list of strings",
                           f'write {key} = ["…"]')  # fmt: skip
            kind = NUMBERS.get(key)
            if kind is not None and (
                isinstance(value, bool) or not isinstance(value, int | float)
                or (kind is int and not isinstance(value, int))
            ):  # fmt: skip
                raise fail(f"[monitors.{short}].{key} must be a number", f"write {key} = 1")
        out[full] = dict(spec)
    return out
