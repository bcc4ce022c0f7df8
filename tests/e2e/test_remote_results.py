"""Getting results out and cleaning up with the CLI against a real server: the same output as
embedded mode on the same database, downloads streamed into place, the same one-line refusals."""

from __future__ import annotations

from pathlib import Path

TABLE = """
import pandas as pd

from mlstudio import task, workflow


@task(classify={"*": "internal"})
def make(n: int) -> pd.DataFrame:
    return pd.DataFrame({"x": list(range(n)), "label": [f"row {i}" for i in range(n)]})


@workflow
def flow(n: int = 3) -> pd.DataFrame:
    return make(n)
"""


def _module(tmp_path: Path, name: str) -> Path:
    root = tmp_path / name.replace("/", "-")
    root.mkdir(parents=True)
    (root / "module.toml").write_text(f'[module]\nname = "{name}"\nrequirements = []\n')
    (root / "tasks.py").write_text(TABLE)
    return root


def test_runs_output_and_data_head_print_the_same_and_download_whole(api_server, tmp_path):
    token = api_server.token()
    assert api_server.cli("namespace", "create", "outs", "--json").code == 0
    pushed = api_server.cli("module", "push", _module(tmp_path, "outs/tab"), "--no-tests")
    assert pushed.code == 0, pushed.stderr
    ran = api_server.cli("run", "outs/tab/flow:latestAlpha", "-p", "n=2000", "--json")
    assert ran.code == 0, ran.stderr
    rid = ran.json["id"]

    summary = api_server.same("runs", "output", rid, token=token, human=True)
    assert summary["value"][1999] == {"x": 1999, "label": "row 1999"}
    printed = api_server.cli("runs", "output", rid, token=token).stdout.splitlines()
    assert printed[0] == '"x","label"' and printed[-1] == '1999,"row 1999"' and len(printed) == 2001

    target = tmp_path / "downloaded.csv"
    remote = api_server.cli("runs", "output", rid, "--to", target, "--json", token=token)
    assert remote.code == 0, remote.stderr
    assert (remote.json["file"], remote.json["rows"]) == (str(target), 2000)
    local = tmp_path / "local.csv"
    assert api_server.cli("runs", "output", rid, "--to", local).code == 0
    assert target.read_bytes() == local.read_bytes()
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []

    missing_folder = api_server.cli(
        "runs", "output", rid, "--to", tmp_path / "nofolder" / "x.csv", token=token
    )
    assert missing_folder.code == 3 and "nofolder does not exist" in missing_folder.stderr

    csv = tmp_path / "people.csv"
    csv.write_text("id,email\n1,a@x.io\n2,b@x.io\n")
    assert (
        api_server.cli(
            "data", "import", csv, "--name", "outs/people", "--classify", "id=internal"
        ).code
        == 0
    )
    head = api_server.same("data", "head", "outs/people", token=token, human=True)
    assert head["columns"] == ["id"] and [w["column"] for w in head["withheld"]] == ["email"]


def test_refusals_read_the_same_remotely(api_server, tmp_path):
    token = api_server.token()
    api_server.cli("namespace", "create", "cleanns", "--json")
    api_server.cli("module", "push", _module(tmp_path, "cleanns/tab"), "--no-tests")
    for args in (
        ("module", "delete", "cleanns/tab@1"),
        ("module", "delete", "cleanns/tab"),
        ("data", "delete", "cleanns/nosuch"),
        ("domain", "remove", "production"),
        ("gc", "--keep-runs-days", "-2"),
    ):
        local = api_server.cli(*args)
        remote = api_server.cli(*args, token=token)
        assert local.code != 0 and (remote.code, remote.stderr) == (local.code, local.stderr), args
        assert local.stderr.startswith("error: ") and local.stderr.count("\n") == 1

    local = api_server.cli("gc", "--dry-run", "--json")
    remote = api_server.cli("gc", "--dry-run", "--json", token=token)
    assert local.code == remote.code == 0, remote.stderr
    here, there = local.json, remote.json
    for report in (here, there):
        report.pop("started_at")
    assert there == here and here["dry_run"] is True
    assert there["removed"]["blobs"] == 0 and there["referenced"]["blobs"] >= 1
