"""A monitor's model alert flipping a serving flag (a kill switch to the fallback), in the
alert's transaction and audited as ``flag.set``."""

from __future__ import annotations

from typing import Any

from mlstudio.errors import InvalidInputError, NotFoundError


def parse_flag(text: str) -> dict[str, Any]:
    from mlstudio.integrations.serving.flag_service import parse_value, validate_key

    key, sep, value = text.partition("=")
    if not sep or not value:
        raise InvalidInputError(
            f"invalid --flag {text!r}", hint="use KEY=VALUE, e.g. serve.churn.kill=true"
        )
    return {"key": validate_key(key.strip()), "value": parse_value(value)}


def require_flag(uow: Any, actor: str, key: str) -> None:
    """The actor may change flag ``key`` (its namespace's maintainers, or admins)."""
    from mlstudio.governance.rbac import Authorizer

    auth = Authorizer(uow.identity)
    row = uow.flags.get(key)
    if row is None:
        raise NotFoundError(
            f"flag {key} does not exist", hint=f"create it: mlstudio flag set {key}"
        )
    if row["namespace"] and not auth.is_admin(actor):
        auth.require_namespace(actor, row["namespace"], "change flags")
    elif not row["namespace"]:
        auth.require_admin(actor, "change flags without a namespace")


def flip(
    uow: Any, actor: str, flip: dict[str, Any], monitor: str, alert: str
) -> dict[str, Any] | None:
    """Set the monitor's flag in the alert's transaction, audited as ``flag.set``; None when
    it already serves that value (the resolved alert does not flip it back: a person decides)."""
    from mlstudio.integrations.serving.flag_service import FlagService, flag_view

    require_flag(uow, actor, flip["key"])
    before = uow.flags.get(flip["key"], for_update=True)
    serves = before["variants"].get(before["default_variant"])
    if before["enabled"] and serves == flip["value"] and type(serves) is type(flip["value"]):
        return None
    row = FlagService._apply(before, flip["key"], flip["value"], None, None, None, False, None,
                             None, before["namespace"], None)  # fmt: skip
    saved = uow.flags.put(row, actor)
    uow.audit.record(actor, "flag.set", f"flag:{flip['key']}", details={
        "before": flag_view(before), "after": flag_view(saved),
        "by": {"monitor": monitor, "alert": alert}})  # fmt: skip
    return {"key": flip["key"], "value": flip["value"], "alert": alert}
