"""``mlstudio domain …``: execution domains and their data policies."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from mlstudio.cli import context
from mlstudio.cli.output import JsonFlag, console, emit, table

app = typer.Typer(
    help="List, show, create and change execution domains and their policies.",
    add_completion=False,
    no_args_is_help=True,
)


def parse_names(text: str | None, option: str, *, allow_all: bool = True) -> Any:
    """``a,b`` -> ["a", "b"]; ``all`` -> None; ``none`` or empty -> []; unset -> unchanged."""
    from mlstudio.errors import InvalidInputError
    from mlstudio.governance.domains import UNCHANGED

    if text is None:
        return UNCHANGED
    words = [w.strip() for w in text.split(",") if w.strip()]
    lowered = [w.lower() for w in words]
    if lowered == ["all"]:
        if not allow_all:
            raise InvalidInputError(
                f"{option} does not take 'all'", hint=f"list names, or pass {option} none"
            )
        return None
    if lowered in ([], ["none"]):
        return []
    if "all" in lowered or "none" in lowered:
        raise InvalidInputError(
            f"{option} {text!r} mixes all/none with names",
            hint=f"pass names (a,b), or {option} all, or {option} none",
        )
    return words


def _names(value: list[str] | None) -> str:
    return "all" if value is None else ", ".join(value) or "none"


def _domains(policy: dict[str, Any]) -> str:
    readable = policy["readable_domains"]
    if readable is None:
        return "all"
    return ", ".join(sorted({*readable, policy["name"]})) + " (always its own)"


def _describe(policy: dict[str, Any], members: list[dict[str, Any]] | None = None) -> None:
    out = console()
    out.print(f"[bold]{policy['name']}[/]  {policy['description']}".rstrip())
    rows = [
        ("clearance", policy["clearance"]),
        ("readable labels", _names(policy["readable_labels"])),
        ("denied labels", _names(policy["denied_labels"])),
        ("hashed labels readable", "yes" if policy["pseudonymous_readable"] else "no"),
        ("readable domains", _domains(policy)),
        ("may persist datasets", "yes" if policy["may_persist"] else "no"),
        ("promoted code only", "yes" if policy["promoted_only"] else "no"),
    ]
    if members is not None:
        rows.append(
            ("members", ", ".join(f"{m['user']} ({m['role']})" for m in members) or "admins only")
        )
    width = max(len(k) for k, _ in rows)
    for key, value in rows:
        out.print(f"  {key:<{width}}  {value}", markup=False)


@app.command("list")
def list_domains(json_output: JsonFlag = False) -> None:
    """Every domain with its policy."""
    rows = context.studio().domains.list()

    def human(data: list[dict[str, Any]]) -> None:
        table(
            None,
            ["domain", "clearance", "labels", "denied", "reads domains", "persist", "promoted"],
            [
                [
                    d["name"],
                    d["clearance"],
                    _names(d["readable_labels"]),
                    _names(d["denied_labels"]),
                    _names(d["readable_domains"]),
                    "yes" if d["may_persist"] else "no",
                    "only" if d["promoted_only"] else "any",
                ]
                for d in data
            ],
        )

    emit(rows, json_output, human)


@app.command("show")
def show(
    name: Annotated[str, typer.Argument(help="Domain, e.g. production")],
    json_output: JsonFlag = False,
) -> None:
    """A domain's policy and members."""
    data = context.studio().domains.show(name)
    emit(data, json_output, lambda d: _describe(d, d["members"]))


ClearanceOpt = Annotated[
    str | None,
    typer.Option(
        "--clearance",
        help="Highest level its runs may read: public | internal | confidential | restricted",
    ),
]
ReadableLabelsOpt = Annotated[
    str | None, typer.Option("--readable-labels", help="Labels it may read: a,b | all | none")
]
DeniedLabelsOpt = Annotated[
    str | None, typer.Option("--denied-labels", help="Labels it may never read: a,b | none")
]
ReadableDomainsOpt = Annotated[
    str | None,
    typer.Option("--readable-domains", help="Domains whose datasets it may read: a,b | all | none"),
]
PersistOpt = Annotated[
    bool | None, typer.Option("--persist/--no-persist", help="May its outputs be named datasets")
]
PromotedOnlyOpt = Annotated[
    bool | None,
    typer.Option(
        "--promoted-only/--no-promoted-only",
        help="Run only latest-tagged module versions whose tests passed",
    ),
]
HashedLabelsOpt = Annotated[
    bool | None,
    typer.Option(
        "--hashed-labels/--no-hashed-labels",
        help="May it read labels that survive only hashed (pseudonymous)",
    ),
]
DescriptionOpt = Annotated[str | None, typer.Option("--description", "-d")]


def policy_fields(
    clearance: str | None,
    readable_labels: str | None,
    denied_labels: str | None,
    readable_domains: str | None,
    persist: bool | None,
    promoted_only: bool | None,
    hashed_labels: bool | None,
    description: str | None,
) -> dict[str, Any]:
    """The policy fields given on the command line (left out: unchanged; lists: None is all,
    [] is none)."""
    from mlstudio.governance.domains import UNCHANGED

    changes = {
        "clearance": clearance,
        "readable_labels": parse_names(readable_labels, "--readable-labels"),
        "denied_labels": parse_names(denied_labels, "--denied-labels", allow_all=False),
        "readable_domains": parse_names(readable_domains, "--readable-domains"),
        "may_persist": persist,
        "promoted_only": promoted_only,
        "pseudonymous_readable": hashed_labels,
        "description": description,
    }
    lists = ("readable_labels", "denied_labels", "readable_domains")
    return {
        k: v for k, v in changes.items() if (v is not UNCHANGED if k in lists else v is not None)
    }


@app.command("create")
def create_domain(
    name: Annotated[str, typer.Argument(help="The new domain, e.g. staging")],
    clearance: ClearanceOpt = None,
    readable_labels: ReadableLabelsOpt = None,
    denied_labels: DeniedLabelsOpt = None,
    readable_domains: ReadableDomainsOpt = None,
    persist: PersistOpt = None,
    promoted_only: PromotedOnlyOpt = None,
    hashed_labels: HashedLabelsOpt = None,
    description: DescriptionOpt = None,
    json_output: JsonFlag = False,
) -> None:
    """Create a domain (admins only).

    A new domain starts closed: clearance public, no labels, only its own datasets, no
    persisting, promoted code only; open what it needs with the options above.
    """
    given = policy_fields(
        clearance,
        readable_labels,
        denied_labels,
        readable_domains,
        persist,
        promoted_only,
        hashed_labels,
        description,
    )
    data = context.studio().domains.create(name, **given)

    def human(d: dict[str, Any]) -> None:
        console().print(f"[green]✓[/] domain {d['name']} created")
        _describe(d)

    emit(data, json_output, human)


@app.command("set")
def set_domain(
    name: Annotated[str, typer.Argument(help="Domain to change (see: mlstudio domain list)")],
    clearance: ClearanceOpt = None,
    readable_labels: ReadableLabelsOpt = None,
    denied_labels: DeniedLabelsOpt = None,
    readable_domains: ReadableDomainsOpt = None,
    persist: PersistOpt = None,
    promoted_only: PromotedOnlyOpt = None,
    hashed_labels: HashedLabelsOpt = None,
    description: DescriptionOpt = None,
    json_output: JsonFlag = False,
) -> None:
    """Change an existing domain's policy (admins only); options left out stay as they are.

    To add a domain: mlstudio domain create NAME.
    """
    given = policy_fields(
        clearance,
        readable_labels,
        denied_labels,
        readable_domains,
        persist,
        promoted_only,
        hashed_labels,
        description,
    )
    data = context.studio().domains.set(name, **given)

    def human(d: dict[str, Any]) -> None:
        console().print(f"[green]✓[/] domain {d['name']} set")
        _describe(d)

    emit(data, json_output, human)


@app.command("remove")
def remove(
    name: Annotated[str, typer.Argument(help="Domain to remove")],
    json_output: JsonFlag = False,
) -> None:
    """Remove a domain no run, schedule, dataset or other domain refers to (admins)."""
    from mlstudio.cli.results import print_domain_removal

    emit(context.studio().domains.remove(name), json_output, print_domain_removal)
