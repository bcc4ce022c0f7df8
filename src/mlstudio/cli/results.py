"""How results and clean-ups print: run outputs, previews, pins, deletions, gc."""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path
from typing import Any

from rich.markup import escape

from mlstudio.cli import context
from mlstudio.cli.output import console, emit, size, table


def _what(d: dict[str, Any]) -> str:
    return f"{d['run']}/{d['node']}" if d.get("node") else f"the output of {d['run']}"


def print_saved(d: dict[str, Any]) -> None:
    shape = f"{d['rows']} rows" if d.get("rows") is not None else d["type"]
    console().print(
        "[green]✓[/] "
        + escape(f"{_what(d)} → {d['file']} ({d['format']}, {shape}, {size(d['size_bytes'])})")
    )


def download(run_id: str, task: str | None, domain: str | None, as_json: bool) -> None:
    """``runs output`` without ``--to``: the value on stdout (or in the JSON summary)."""
    import json

    with tempfile.TemporaryDirectory(prefix="mlstudio-output-") as folder:
        target = Path(folder) / "output"
        fmt = "json" if as_json else "text"
        data = context.studio().runs.output(run_id, target, task=task, domain=domain, fmt=fmt)
        if as_json:
            value = json.loads(target.read_text(encoding="utf-8"))
            emit({**data, "file": None, "value": value}, True)
            return
        with target.open(encoding="utf-8", newline="") as handle:
            for chunk in iter(lambda: handle.read(1 << 16), ""):
                sys.stdout.write(chunk)
        sys.stdout.flush()


def print_pin(d: dict[str, Any]) -> None:
    if d["pinned"]:
        note = "pinned" if d["changed"] else f"already pinned by {d['pinned_by']}"
        reason = f" ({d['reason']})" if d.get("reason") else ""
        console().print(escape(f"run {d['run']}: {note}{reason}"))
    else:
        console().print(f"run {d['run']}: " + ("unpinned" if d["changed"] else "was not pinned"))


def print_head(d: dict[str, Any]) -> None:
    table(None, d["columns"], [[row.get(c) for c in d["columns"]] for row in d["rows"]])
    con = console()
    con.print(
        escape(
            f"{len(d['rows'])} of {d['total_rows']} rows of {d['dataset']} (domain {d['domain']})"
        )
    )
    if d["withheld"]:
        names = ", ".join(w["column"] for w in d["withheld"])
        con.print(
            f"[yellow]withheld[/] (domain {escape(d['domain'])} may not read them): "
            + escape(names),
        )


def print_deletion(d: dict[str, Any]) -> None:
    refs = ", ".join(x["ref"] for x in d["deleted"])
    left = ", ".join(map(str, d["remaining"])) or "none"
    console().print(
        "[green]✓[/] "
        + escape(f"deleted {refs} (versions left: {left}); mlstudio gc frees the space")
    )


def print_domain_removal(d: dict[str, Any]) -> None:
    con = console()
    con.print(f"[green]✓[/] domain {escape(d['name'])} removed")
    for grant in d["revoked"]:
        con.print(escape(f"  revoked {grant['role']} of {grant['user']}"))


def print_gc(d: dict[str, Any]) -> None:
    con = console()
    removed = d["removed"]
    verb = "would remove" if d["dry_run"] else "removed"
    if removed["blobs"]:
        parts = [f"{removed['unreferenced']} unreferenced"]
        if removed["expired_run_outputs"]:
            parts.append(
                f"{removed['expired_run_outputs']} of runs older than {d['keep_runs_days']:g} days"
            )
        con.print(
            escape(f"{verb} {removed['blobs']} blobs ({size(removed['bytes'])}): ")
            + escape(", ".join(parts))
        )
    else:
        con.print("nothing to remove")
    kept = d["referenced"]
    line = f"kept {kept['blobs']} referenced blobs ({size(kept['bytes'])})"
    if d["recent"]["blobs"]:
        line += (
            f" and {d['recent']['blobs']} unreferenced ones written within the grace period "
            f"({d['grace_hours']:g} h)"
        )
    con.print(escape(line))
    if d["keep_runs_days"] is not None:
        con.print(
            escape(
                f"{d['expired_runs']} finished, unpinned runs are older than "
                f"{d['keep_runs_days']:g} days: their outputs are released"
            )
        )
    if d["dry_run"] and removed["blobs"]:
        con.print("nothing was removed (dry run); run without --dry-run to remove them")
