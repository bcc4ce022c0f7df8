"""Real ``mlstudio serve`` processes for tests and benches: a home with a trained, registered
model, the serving process on a free port, and models that misbehave on purpose.

The misbehaving models live here (not in a pushed module) so the serving process can unpickle
them: ``Raising`` always raises, ``Sleeping`` takes ``seconds`` to answer."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from mlstudio.testing.flows import mlstudio_executable
from mlstudio.testing.receivers import free_port
from mlstudio.testing.servers import clean_env

READY_DEADLINE_S = 60.0


TRIGGER = 50.0  # a row with a >= TRIGGER makes the misbehaving models misbehave


def _triggered(rows: Any) -> bool:
    return any(float(row[0]) >= TRIGGER for row in rows)


class Raising:
    """A model that answers 0.25, but raises on rows with ``a >= TRIGGER`` (so it passes a
    sample check with small ``a`` and fails in service)."""

    def predict(self, rows: Any) -> Any:
        if _triggered(rows):
            raise RuntimeError("this model fails on a >= 50")
        return [0.25 for _ in range(len(rows))]


class Sleeping:
    """A model that answers 0.75, but takes ``seconds`` on rows with ``a >= TRIGGER``."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds

    def predict(self, rows: Any) -> Any:
        if _triggered(rows):
            time.sleep(self.seconds)
        return [0.75 for _ in range(len(rows))]


TASKS = """
import pandas as pd
from sklearn.linear_model import LogisticRegression

from mlstudio import Model, task, workflow
from mlstudio.testing.serving import Raising, Sleeping


def frame(n):
    a = [((i * 37) % 100) / 10.0 for i in range(n)]
    b = [((i * 53) % 100) / 10.0 for i in range(n)]
    y = [int(x + 0.5 * z > 7.0) for x, z in zip(a, b)]
    return pd.DataFrame({"a": a, "b": b, "y": y})


@task
def train(c: float = 1.0) -> Model:
    df = frame(200)
    est = LogisticRegression(C=c).fit(df[["a", "b"]].to_numpy(), df["y"].to_numpy())
    return Model(est, features=["a", "b"], defaults={"b": 5.0})


@task
def broken(kind: str = "raising") -> Model:
    obj = Raising() if kind == "raising" else Sleeping(30.0)
    return Model(obj, features=["a", "b"])


@task(classify={"*": "confidential+pii"})
def people() -> pd.DataFrame:
    return frame(200)


@task
def train_on(df: pd.DataFrame) -> Model:
    est = LogisticRegression().fit(df[["a", "b"]].to_numpy(), df["y"].to_numpy())
    return Model(est, features=["a", "b"])


@workflow
def fit_pii():
    return train_on(people())


@workflow
def fit(c: float = 1.0):
    return train(c)


@workflow
def bad(kind: str = "raising"):
    return broken(kind)
"""


def write_module(root: Path) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    (root / "module.toml").write_text(
        '[module]\nname = "shop/scoring"\ndescription = "serving tests"\nrequirements = []\n'
    )
    (root / "tasks.py").write_text(TASKS)
    return root


def run_cli(home: Path, db_url: str, *args: str) -> Any:
    """``mlstudio ARGS --json`` on ``home``; returns the parsed output (asserts success)."""
    import json

    proc = subprocess.run(
        [mlstudio_executable(), *map(str, args), "--json"],
        env=clean_env(home, db_url),
        cwd=home.parent,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, f"mlstudio {' '.join(args)}: {proc.stderr}"
    return json.loads(proc.stdout) if proc.stdout.strip() else None


def register(home: Path, db_url: str, name: str, workflow: str, *params: str) -> int:
    """Run ``shop/scoring/WORKFLOW`` and register its model as the next version of ``name``."""
    run = run_cli(home, db_url, "run", f"shop/scoring/{workflow}:latestAlpha", *params)
    assert run["state"] == "succeeded", run
    version = run_cli(
        home, db_url, "model", "register", name, "--run", run["id"], "--namespace", "shop"
    )
    return int(version["version"])


def prepare_home(
    home: Path, db_url: str, name: str = "churn", *, broken: bool = True
) -> dict[str, int]:
    """A home with namespace ``shop``, module ``shop/scoring`` and versions of ``name``:
    1 and 2 (logistic regressions), then (``broken``) 3 raising and 4 hanging on rows with
    ``a >= 50``, and model ``people`` (pii); alias ``live`` → 1 of each."""
    home.mkdir(parents=True, exist_ok=True)
    run_cli(home, db_url, "init")
    run_cli(home, db_url, "namespace", "create", "shop")
    module = write_module(home.parent / "shop-scoring")
    run_cli(home, db_url, "module", "push", module, "--no-tests")
    versions = {
        "good": register(home, db_url, name, "fit", "-p", "c=1.0"),
        "other": register(home, db_url, name, "fit", "-p", "c=0.01"),
    }
    if broken:
        versions["raising"] = register(home, db_url, name, "bad", "-p", "kind=raising")
        versions["hanging"] = register(home, db_url, name, "bad", "-p", "kind=hanging")
        # model "people": trained on confidential+pii data (inherits it); alias live → 1
        run_cli(
            home,
            db_url,
            "domain",
            "create",
            "pii-lab",
            "--clearance",
            "confidential",
            "--readable-labels",
            "all",
            "--persist",
            "--no-promoted-only",
        )
        register(home, db_url, "people", "fit_pii", "--domain", "pii-lab")
        run_cli(home, db_url, "model", "alias", "people", "live", "1")
    run_cli(home, db_url, "model", "alias", name, "live", str(versions["good"]))
    return versions


@dataclass
class ServeProcess:
    url: str
    name: str
    home: Path
    database_url: str
    proc: subprocess.Popen[bytes]
    log: Path
    token: str = ""
    _client: Any = field(default=None, repr=False)

    def client(self) -> httpx.Client:
        if self._client is None:
            self._client = httpx.Client(
                base_url=self.url, headers={"Authorization": f"Bearer {self.token}"}, timeout=60
            )
        return self._client

    def predict(self, rows: Any, **extra: Any) -> httpx.Response:
        return self.client().post(f"/v1/models/{self.name}:predict", json={"rows": rows, **extra})

    def show(self) -> dict[str, Any]:
        response = self.client().get(f"/v1/models/{self.name}")
        assert response.status_code == 200, response.text
        return response.json()

    def wait_for(self, check: Any, deadline_s: float = 30.0, what: str = "") -> Any:
        """Poll ``check()`` until it returns something truthy (the server's state changes
        asynchronously); fails with the log after ``deadline_s``."""
        end = time.monotonic() + deadline_s
        while True:
            value = check()
            if value:
                return value
            if time.monotonic() > end:
                raise AssertionError(f"timed out waiting for {what}:\n{self.log_text()}")
            time.sleep(0.05)

    def stop(self) -> int | None:
        if self._client is not None:
            self._client.close()
            self._client = None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
        return self.proc.returncode

    def kill9(self) -> None:
        os.kill(self.proc.pid, signal.SIGKILL)
        self.proc.wait(timeout=10)

    def log_text(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""


def make_token(home: Path, db_url: str, user: str = "alice") -> str:
    from mlstudio.platform import Platform
    from mlstudio.settings import Settings

    platform = Platform.open(
        Settings(home=home, database_url=db_url, user="alice"), bootstrap=False
    )
    try:
        _record, secret = platform.tokens.create("alice", user, ttl_days=1.0)
        return secret
    finally:
        platform.close()


def start_serve(
    home: Path, db_url: str, name: str, *options: str, token: str | None = None
) -> ServeProcess:
    """``mlstudio serve NAME OPTIONS`` on a free port; returns once ``/health`` answers."""
    return start_command(home, db_url, ["serve", name], *options, name=name, token=token)


def start_command(
    home: Path,
    db_url: str,
    command: list[str],
    *options: str,
    name: str = "",
    token: str | None = None,
) -> ServeProcess:
    """``mlstudio COMMAND --port P OPTIONS`` (a serving command: ``serve NAME``, ``genai
    serve``) on a free port; returns once ``/health`` answers (or the process exited)."""
    port = free_port()
    log = home.parent / f"serve-{port}.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [mlstudio_executable(), *command, "--port", str(port), *options],
            env=clean_env(home, db_url),
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )
    served = ServeProcess(f"http://127.0.0.1:{port}", name, home, db_url, proc, log)
    served.token = token or make_token(home, db_url)
    deadline = time.monotonic() + READY_DEADLINE_S
    while True:
        if proc.poll() is not None:
            return served  # exited: the caller reads returncode and the log
        try:
            if httpx.get(f"{served.url}/health", timeout=2).status_code == 200:
                return served
        except httpx.TransportError:
            pass
        if time.monotonic() > deadline:
            served.stop()
            raise AssertionError(f"no /health within {READY_DEADLINE_S}s:\n{served.log_text()}")
        time.sleep(0.1)


@dataclass
class Template:
    """A prepared home (on Postgres) that tests clone instead of re-training."""

    home: Path
    database_url: str
    versions: dict[str, int]


def clone(template: Template, where: Path) -> tuple[Path, str]:
    """A copy of the template's home and database (``CREATE DATABASE … TEMPLATE``); the
    database is dropped by :func:`drop`."""
    import secrets
    import shutil

    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    home = where / "home"
    shutil.copytree(template.home, home)
    url = make_url(template.database_url)
    name = f"mlstudio_serve_{secrets.token_hex(5)}"
    admin = create_engine(url.set(database="postgres"), isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}" TEMPLATE "{url.database}"'))
    finally:
        admin.dispose()
    return home, url.set(database=name).render_as_string(hide_password=False)


def set_connections(db_url: str, allowed: bool) -> None:
    """Take a Postgres database down (no new connections, existing ones terminated) or up."""
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    url = make_url(db_url)
    admin = create_engine(url.set(database="postgres"), isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            flag = "true" if allowed else "false"
            conn.execute(text(f'ALTER DATABASE "{url.database}" ALLOW_CONNECTIONS {flag}'))
            if not allowed:
                conn.execute(
                    text(
                        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                        "WHERE datname = :name AND pid <> pg_backend_pid()"
                    ),
                    {"name": url.database},
                )
    finally:
        admin.dispose()


def drop(db_url: str) -> None:
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    url = make_url(db_url)
    admin = create_engine(url.set(database="postgres"), isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{url.database}" WITH (FORCE)'))
    finally:
        admin.dispose()


def corrupt_artifact(home: Path, db_url: str, name: str, version: int) -> None:
    """Overwrite the stored bytes of ``name/version``'s artifact (the registry detects it)."""
    from mlstudio.platform import Platform
    from mlstudio.settings import Settings

    platform = Platform.open(
        Settings(home=home, database_url=db_url, user="alice"), bootstrap=False
    )
    try:
        with platform.store.read() as uow:
            model = uow.registry.get_model(name)
            digest = uow.registry.get_version(model["id"], version)["artifact"]["digest"]
        key = platform.cas.key(digest)
        platform.cas.objects.put(key, b"not a pickle")
    finally:
        platform.close()
