"""The ``mlstudio`` command: a lazy root group (fast ``--help``) and the one error boundary."""

from __future__ import annotations

import importlib
import json
import sys
from typing import Any

import click

# name -> ("module:attribute" of a Typer app, one-line help). Loaded only when invoked.
ENTRIES: dict[str, tuple[str, str]] = {
    "init": (
        "mlstudio.cli.home:init_app",
        "Create the home (SQLite + artifact store); you become admin.",
    ),
    "quickstart": (
        "mlstudio.cli.quickstart:app",
        "Push the example modules and run the end-to-end demo.",
    ),
    "whoami": ("mlstudio.cli.home:whoami_app", "Show who you are and your roles."),
    "run": ("mlstudio.cli.run:app", "Run a workflow (pushed module or PATH.py:FUNCTION)."),
    "runs": ("mlstudio.cli.runs:app", "List, inspect, cancel, clone and resume runs."),
    "experiments": (
        "mlstudio.cli.experiments:app",
        "List and show experiments; compare and search tracked runs with `runs`.",
    ),
    "cache": ("mlstudio.cli.cache:app", "Cache statistics and clearing."),
    "module": (
        "mlstudio.cli.module:app",
        "Scaffold, push, test, tag, promote and roll back modules.",
    ),
    "model": (
        "mlstudio.cli.model:app",
        "Register, show, alias, approve and protect models (the model registry).",
    ),
    "namespace": (
        "mlstudio.cli.namespace:app",
        "Create team namespaces, grant their roles, set their quotas and money budgets.",
    ),
    "data": (
        "mlstudio.cli.data:app",
        "Import, classify, trace and export datasets; declassifiers.",
    ),
    "eval": (
        "mlstudio.cli.evaluation:app",
        "Is model A better than B here? Paired statistics, slices, stored reports.",
    ),
    "flag": (
        "mlstudio.cli.flags:app",
        "Feature flags: kill switches, canary splits and targeting (set, list, show, remove).",
    ),
    "monitor": (
        "mlstudio.cli.monitor:app",
        "Monitors: n-aware drift, metric anomalies, alerts and feedback (add, run, alerts).",
    ),
    "features": (
        "mlstudio.cli.features:app",
        "Feature views, point-in-time training sets, materialize and read online features.",
    ),
    "user": ("mlstudio.cli.user:app", "Add, disable and enable users; grant and revoke roles."),
    "token": ("mlstudio.cli.token:app", "Create, list and revoke API tokens."),
    "domain": (
        "mlstudio.cli.domain:app",
        "List, show, create and change execution domains and their policies.",
    ),
    "audit": ("mlstudio.cli.audit:app", "Read the append-only audit log."),
    "server": (
        "mlstudio.cli.server:app",
        "Serve the REST API (and run the run driver, schedules and webhooks).",
    ),
    "ui": ("mlstudio.cli.ui:app", "Serve the web portal on the local home; print its sign-in URL."),
    "serve": (
        "mlstudio.cli.serve:app",
        "Serve a registered model over HTTP, following its alias (fallbacks, prediction log).",
    ),
    "genai": (
        "mlstudio.cli.genai:app",
        "GenAI: providers (embed, serve over the OpenAI API) and the offline example.",
    ),
    "prompt": (
        "mlstudio.cli.prompt:app",
        "Prompts, versioned with the module that defines them: list, show.",
    ),
    "deploy": (
        "mlstudio.cli.deploy:app",
        "Deployments the server runs and restarts: deploy NAME, list, show, remove.",
    ),
    "predict": (
        "mlstudio.cli.predict:app",
        "Score a dataset with a registered model (batch): predict NAME@ALIAS --input --output.",
    ),
    "schedule": (
        "mlstudio.cli.schedule:app",
        "Start runs on a cron schedule: add, list, pause, resume, remove.",
    ),
    "webhook": (
        "mlstudio.cli.webhook:app",
        "Signed webhooks on run and tag events: add, list, deliveries, replay.",
    ),
    "gc": (
        "mlstudio.cli.storage:app",
        "Remove artifact blobs nothing needs (--dry-run, --keep-runs-days N).",
    ),
    "worker": (
        "mlstudio.cli.worker:app",
        "Run queued tasks of a pool on warm processes (--drive: drive runs too).",
    ),
}


class LazyGroup(click.Group):
    """Command groups imported and built on first use (and kept: the warm process builds them
    all once, see :mod:`mlstudio.cli.warm`)."""

    _built: dict[str, click.Command] = {}

    def list_commands(self, ctx: click.Context) -> list[str]:
        return list(ENTRIES)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        built = self._built.get(cmd_name)
        if built is not None:
            return built
        spec = ENTRIES.get(cmd_name)
        if spec is None:
            return None
        module_name, attr = spec[0].split(":")
        import typer.main

        app = getattr(importlib.import_module(module_name), attr)
        command = typer.main.get_command(app)
        command.name = cmd_name
        self._built[cmd_name] = command
        return command

    def resolve_command(
        self, ctx: click.Context, args: list[str]
    ) -> tuple[str | None, click.Command | None, list[str]]:
        """As click's, but an unknown command names the closest ones (``modul`` → ``module``)."""
        name = args[0] if args else ""
        if name and not name.startswith("-") and name not in ENTRIES:
            import difflib

            close = difflib.get_close_matches(name, list(ENTRIES), n=2)
            guess = f" Did you mean {' or '.join(repr(c) for c in close)}?" if close else ""
            ctx.fail(f"No such command {name!r}.{guess}")
        return super().resolve_command(ctx, args)

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        with formatter.section("Commands"):
            formatter.write_dl([(name, text) for name, (_, text) in ENTRIES.items()])


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="mlstudio", prog_name="mlstudio")
def cli() -> None:
    """mlstudio: versioned ML modules, durable workflows, governance in the execution layer.

    Every command takes --json for machine-readable output. State lives in $MLSTUDIO_HOME
    (default ~/.mlstudio), or on a server when MLSTUDIO_URL and MLSTUDIO_TOKEN are set.
    """


def _wants_json(argv: list[str]) -> bool:
    return "--json" in argv


def _fail(message: str, code: int, payload: dict[str, Any], as_json: bool) -> int:
    if as_json:
        sys.stdout.write(json.dumps({"error": payload}) + "\n")
    sys.stderr.write(f"error: {message}\n")
    return code


def _framework_exit(exc: Exception, as_json: bool) -> int | None:
    """Exit code for click's own exceptions (help, usage errors, aborts), else None.

    Typer >= 0.2x runs subcommands on its vendored copy of click (``typer._click``), whose
    exceptions are not click's: both families are handled here.
    """
    exits: tuple[type, ...] = (click.exceptions.Exit,)
    aborts: tuple[type, ...] = (click.exceptions.Abort,)
    usage: tuple[type, ...] = (click.ClickException,)
    typer = sys.modules.get("typer")  # never imported just for this
    if typer is not None:
        exits += (typer.Exit,)
        aborts += (typer.Abort,)
        usage += (typer.TyperException,)
    if isinstance(exc, exits):
        return int(getattr(exc, "exit_code", 0))
    if isinstance(exc, aborts):
        return _fail("aborted", 130, {"code": "aborted", "message": "aborted"}, as_json)
    if not isinstance(exc, usage):
        return None
    exit_code = int(getattr(exc, "exit_code", 2))
    ctx = getattr(exc, "ctx", None)
    if type(exc).__name__ == "NoArgsIsHelpError":  # a bare group: its help is the answer
        text = exc.format_message()  # type: ignore[attr-defined]
        if text:
            sys.stderr.write(text.rstrip() + "\n")
        return exit_code
    text = exc.format_message()  # type: ignore[attr-defined]
    if ctx is not None:
        text = f"{text} (see: {ctx.command_path} --help)"
    return _fail(text, exit_code, {"code": "usage", "message": text}, as_json)


def main(argv: list[str] | None = None) -> int:
    """Run the CLI; returns the exit code (errors become one line on stderr)."""
    from mlstudio.errors import MlstudioError

    argv = list(sys.argv[1:] if argv is None else argv)
    as_json = _wants_json(argv)
    try:
        result = cli.main(args=argv, prog_name="mlstudio", standalone_mode=False)
        return result if isinstance(result, int) else 0
    except MlstudioError as exc:
        return _fail(exc.one_line(), exc.exit_code, exc.to_dict(), as_json)
    except KeyboardInterrupt:
        return _fail("interrupted", 130, {"code": "interrupted", "message": "interrupted"}, as_json)
    except Exception as exc:
        code = _framework_exit(exc, as_json)
        if code is not None:
            return code
        # a bug in mlstudio, not the user's fault: one line, and the traceback in a file
        from mlstudio.cli.crash import debugging, save_traceback

        payload = {"code": "internal", "message": str(exc)}
        where = "MLSTUDIO_DEBUG=1 shows the traceback"
        if debugging():
            import traceback

            traceback.print_exc()
            where = "the traceback is above"
        else:
            saved = save_traceback(exc, argv)
            if saved is not None:
                payload["traceback_file"] = str(saved)
                where = f"traceback in {saved}; MLSTUDIO_DEBUG=1 prints it"
        return _fail(
            f"internal error (a bug in mlstudio): {type(exc).__name__}: {exc} ({where})",
            70,
            payload,
            as_json,
        )


def run() -> None:
    raise SystemExit(main())
