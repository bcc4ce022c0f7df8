"""Setting, removing and reading feature flags (``mlstudio flag …``, ``/api/v1/flags``).

Who may change a flag: an admin, or, for a flag created with ``namespace``, that namespace's
owners and maintainers (the team that runs the deployment flips its own kill switch). Any
active user may read and evaluate flags. Every change is audited as ``flag.set`` /
``flag.remove`` with the definition before and after.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Sequence
from typing import Any

from mlstudio.core.clock import iso
from mlstudio.errors import InvalidInputError, NotFoundError
from mlstudio.governance.audit import guarded
from mlstudio.governance.rbac import Authorizer
from mlstudio.integrations.serving.flags import KINDS, _kind_of, resolve

KEY = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,199}$")
VARIANT = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
RULE = re.compile(
    r"^\s*(?P<attr>[A-Za-z_][\w.]*)\s*=\s*(?P<values>[^>]+?)\s*->\s*(?P<variant>\S+)\s*$"
)


def validate_key(key: str) -> str:
    if not isinstance(key, str) or not KEY.match(key):
        raise InvalidInputError(
            f"invalid flag key {key!r}",
            hint="letters, digits and . _ : - (up to 200), e.g. serve.churn.kill",
        )
    return key


def parse_split(items: Sequence[str]) -> list[dict[str, Any]]:
    """``["champion=90", "challenger=10"]`` -> the split (weights are relative)."""
    out = []
    for item in items:
        name, sep, weight = str(item).partition("=")
        if not sep or not weight.strip().isdigit() or not VARIANT.match(name.strip()):
            raise InvalidInputError(
                f"invalid split {item!r}", hint="VARIANT=WEIGHT, e.g. --split champion=90"
            )
        out.append({"variant": name.strip(), "weight": int(weight)})
    if len({s["variant"] for s in out}) != len(out):
        raise InvalidInputError("a variant is named twice in the split", hint="name each once")
    if out and sum(s["weight"] for s in out) <= 0:
        raise InvalidInputError("the split's weights add up to 0", hint="give a weight above 0")
    return out


def parse_rule(text: str) -> dict[str, Any]:
    """``"plan=enterprise,growth->challenger"`` -> a targeting rule."""
    m = RULE.match(str(text))
    if not m:
        raise InvalidInputError(
            f"invalid rule {text!r}", hint="ATTRIBUTE=V1,V2->VARIANT, e.g. plan=enterprise->gbm"
        )
    values = [v.strip() for v in m.group("values").split(",") if v.strip()]
    return {"attribute": m.group("attr"), "in": values, "variant": m.group("variant")}


def parse_value(text: str) -> Any:
    """A value as written on the command line: true/false, a number, JSON, else a string."""
    import json

    lowered = text.strip().lower()
    if lowered in ("true", "false"):
        return lowered == "true"
    try:
        return json.loads(text)
    except ValueError:
        return text


def flag_view(row: dict[str, Any]) -> dict[str, Any]:
    return {
        "key": row["key"],
        "namespace": row["namespace"],
        "kind": row["kind"],
        "enabled": bool(row["enabled"]),
        "variants": dict(row["variants"]),
        "default_variant": row["default_variant"],
        "rules": list(row["rules"] or []),
        "split": list(row["split"]) if row["split"] else None,
        "description": row["description"],
        "revision": row["revision"],
        "updated_by": row["updated_by"],
        "updated_at": iso(row["updated_at"]),
    }


def _variant_for(variants: dict[str, Any], value: Any) -> str:
    """The name of the variant holding ``value`` (added when there is none)."""
    for name, held in variants.items():
        if held == value and type(held) is type(value):
            return name
    if isinstance(value, bool):
        name = "on" if value else "off"
    else:
        name = re.sub(r"[^A-Za-z0-9_.-]", "_", str(value))[:64] or "value"
        if not VARIANT.match(name):
            name = f"v{len(variants)}"
    variants[name] = value
    return name


class FlagService:
    def __init__(self, store: Any) -> None:
        self.store = store

    def set(
        self,
        actor: str,
        key: str,
        *,
        value: Any = None,
        variants: dict[str, Any] | None = None,
        default_variant: str | None = None,
        split: list[dict[str, Any]] | None = None,
        clear_split: bool = False,
        rules: list[dict[str, Any]] | None = None,
        enabled: bool | None = None,
        namespace: str | None = None,
        description: str | None = None,
    ) -> dict[str, Any]:
        """Create or change flag ``key``; only what is given changes."""
        validate_key(key)

        def work(uow: Any) -> dict[str, Any]:
            auth = Authorizer(uow.identity)
            before = uow.flags.get(key, for_update=True)
            ns = before["namespace"] if before else namespace
            if before and namespace is not None and namespace != before["namespace"]:
                raise InvalidInputError(
                    f"flag {key} belongs to namespace {before['namespace'] or '(none)'}",
                    hint="a flag keeps its namespace; remove and re-create it to move it",
                )
            if ns:
                if not auth.is_admin(actor):
                    auth.require_namespace(actor, ns, "change flags")
            else:
                auth.require_admin(actor, "change flags without a namespace")
            row = self._apply(before, key, value, variants, default_variant, split, clear_split,
                              rules, enabled, ns, description)  # fmt: skip
            saved = uow.flags.put(row, actor)
            uow.audit.record(
                actor,
                "flag.set",
                f"flag:{key}",
                details={
                    "before": flag_view(before) if before else None,
                    "after": flag_view(saved),
                },
            )
            return flag_view(saved)

        return guarded(self.store, actor, "flag.set", f"flag:{key}", work)

    @staticmethod
    def _apply(
        before: dict[str, Any] | None,
        key: str,
        value: Any,
        variants: dict[str, Any] | None,
        default_variant: str | None,
        split: list[dict[str, Any]] | None,
        clear_split: bool,
        rules: list[dict[str, Any]] | None,
        enabled: bool | None,
        namespace: str | None,
        description: str | None,
    ) -> dict[str, Any]:
        current = dict(before["variants"]) if before else {}
        new_variants = dict(variants) if variants is not None else current
        for name in new_variants:
            if not VARIANT.match(str(name)):
                raise InvalidInputError(
                    f"invalid variant name {name!r}", hint="letters, digits and . _ - (up to 64)"
                )
        default = default_variant or (before["default_variant"] if before else None)
        if value is not None:
            default = _variant_for(new_variants, value)
        new_split = None if clear_split else (split if split is not None else (
            before["split"] if before else None
        ))  # fmt: skip
        new_rules = rules if rules is not None else (list(before["rules"]) if before else [])
        # a split or rule naming a variant a string flag lacks: the variant's value is its name
        named = [s["variant"] for s in new_split or []] + [r["variant"] for r in new_rules]
        kinds = {_kind_of(v) for v in new_variants.values()}
        for name in named:
            if name not in new_variants:
                if kinds - {"string"}:
                    raise InvalidInputError(
                        f"flag {key} has no variant {name!r} (variants: "
                        f"{', '.join(new_variants) or 'none'})",
                        hint="add it with --variant NAME=VALUE",
                    )
                new_variants[name] = name
        if not new_variants:
            raise InvalidInputError(
                f"flag {key} needs a value or variants",
                hint=f"mlstudio flag set {key} --value true, or --split a=90 --split b=10",
            )
        if default is None:
            default = (new_split or [{"variant": next(iter(new_variants))}])[0]["variant"]
        if default not in new_variants:
            raise InvalidInputError(
                f"default variant {default!r} is not one of {', '.join(new_variants)}",
                hint="--default NAME of a variant",
            )
        kinds = {_kind_of(v) for v in new_variants.values()}
        if len(kinds) != 1:
            raise InvalidInputError(
                f"flag {key} mixes value types ({', '.join(sorted(kinds))})",
                hint="give every variant a value of one type",
            )
        [kind] = kinds
        assert kind in KINDS
        if before and before["kind"] != kind:
            raise InvalidInputError(
                f"flag {key} is a {before['kind']} flag, not {kind}",
                hint="remove it first to change its type: mlstudio flag remove " + key,
            )
        return {
            "key": key,
            "namespace": namespace,
            "kind": kind,
            "enabled": bool(enabled)
            if enabled is not None
            else (bool(before["enabled"]) if before else True),
            "variants": new_variants,
            "default_variant": default,
            "rules": new_rules,
            "split": new_split or None,
            "salt": before["salt"] if before else secrets.token_hex(8),
            "description": description
            if description is not None
            else (before["description"] if before else ""),
        }

    def remove(self, actor: str, key: str) -> dict[str, Any]:
        validate_key(key)

        def work(uow: Any) -> dict[str, Any]:
            auth = Authorizer(uow.identity)
            before = uow.flags.get(key, for_update=True)
            if before is None:
                raise NotFoundError(f"no flag {key!r}", hint="see: mlstudio flag list")
            if before["namespace"] and not auth.is_admin(actor):
                auth.require_namespace(actor, before["namespace"], "remove flags")
            elif not before["namespace"]:
                auth.require_admin(actor, "remove flags without a namespace")
            uow.flags.remove(key)
            uow.audit.record(
                actor, "flag.remove", f"flag:{key}", details={"before": flag_view(before)}
            )
            return {"key": key, "removed": True}

        return guarded(self.store, actor, "flag.remove", f"flag:{key}", work)

    def list(self, actor: str, prefix: str | None = None) -> list[dict[str, Any]]:
        with self.store.read() as uow:
            Authorizer(uow.identity).require_active(actor, "read flags")
            rows = uow.flags.all()
        return [flag_view(r) for r in rows if not prefix or r["key"].startswith(prefix)]

    def show(self, actor: str, key: str) -> dict[str, Any]:
        validate_key(key)
        with self.store.read() as uow:
            Authorizer(uow.identity).require_active(actor, "read flags")
            row = uow.flags.get(key)
        if row is None:
            raise NotFoundError(f"no flag {key!r}", hint="see: mlstudio flag list")
        return flag_view(row)

    def evaluate(
        self,
        actor: str,
        key: str,
        default: Any = None,
        *,
        subject: str | None = None,
        context: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        """One evaluation, read from the database (a serving process uses a FlagCache)."""
        validate_key(key)
        with self.store.read() as uow:
            Authorizer(uow.identity).require_active(actor, "read flags")
            row = uow.flags.get(key)
        return resolve(row, key, default, subject, context).to_dict()
