"""The artifact store on S3 (issue 20, item 1), against a real S3 API server on loopback
(``moto_server``, started per test session): the object store's contract, content addressing
and verification on read, multipart uploads, a whole workflow whose modules, datasets and task
outputs live in the bucket, and the faults (no bucket, wrong credentials, endpoint down) as
one-line errors that change nothing."""

from __future__ import annotations

import json
import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from mlstudio.core.hashing import sha256_bytes
from mlstudio.errors import ConfigurationError, CorruptArtifactError, StoreUnavailableError
from mlstudio.store.artifacts.cas import ArtifactMissingError, ContentStore
from mlstudio.store.artifacts.objectstore import MULTIPART_BYTES, FsspecObjectStore
from mlstudio.testing.flows import mlstudio_executable, write_flow
from mlstudio.testing.s3 import S3Server, start_s3_server

pytest.importorskip("s3fs")


@pytest.fixture(scope="session")
def s3(tmp_path_factory: pytest.TempPathFactory):
    server = start_s3_server(tmp_path_factory.mktemp("s3"))
    yield server
    server.stop()


@pytest.fixture
def s3_url(s3: S3Server, monkeypatch: pytest.MonkeyPatch) -> str:
    """A fresh bucket, and the AWS settings pointing at the server (this process and its
    children: workers, serving processes)."""
    for key, value in s3.env().items():
        monkeypatch.setenv(key, value)
    return f"s3://{s3.new_bucket()}/mlstudio"


def test_the_object_store_contract_on_s3(s3_url, s3):
    store = FsspecObjectStore(s3_url)
    assert not store.exists("cas/ab/x")
    store.put("cas/ab/x", b"hello")
    store.put("other/y", b"!")
    assert store.exists("cas/ab/x") and store.get("cas/ab/x") == b"hello"
    listed = {o.key: o for o in store.list("cas/")}
    assert list(listed) == ["cas/ab/x"] and listed["cas/ab/x"].size == 5
    now = datetime.now(UTC)
    assert now - timedelta(minutes=5) < listed["cas/ab/x"].modified <= now + timedelta(minutes=1)
    assert store.refresh("cas/ab/x") is True  # just written: fresh enough, nothing to do
    assert store.refresh("cas/ab/none") is False
    # another process's write is seen at once (no listing cache hides it)
    s3.filesystem().pipe_file(f"{s3_url.removeprefix('s3://')}/cas/cd/z", b"from elsewhere")
    assert store.exists("cas/cd/z") and {o.key for o in store.list("cas/")} == {
        "cas/ab/x",
        "cas/cd/z",
    }
    # deleted only if not written since the cutoff
    assert store.delete_if_unmodified("cas/ab/x", now - timedelta(hours=1)) is False
    assert store.delete_if_unmodified("cas/ab/x", now + timedelta(hours=1)) is True
    assert not store.exists("cas/ab/x")
    store.delete("other/y")
    store.delete("other/y")  # deleting what is gone is fine
    assert not store.exists("other/y")


def test_blobs_are_content_addressed_verified_on_read_and_large_ones_go_up_in_parts(
    s3_url, s3, tmp_path
):
    cas = ContentStore(FsspecObjectStore(s3_url))
    digest = cas.put(b"a model")
    assert cas.put(b"a model") == digest and cas.get(digest) == b"a model"
    # a blob changed behind our back is refused on read, never returned
    key = f"{s3_url.removeprefix('s3://')}/{cas.key(digest)}"
    s3.filesystem().pipe_file(key, b"tampered")
    with pytest.raises(CorruptArtifactError, match="corrupt"):
        cas.get(digest)
    assert cas.repair(b"a model") is True and cas.get(digest) == b"a model"
    with pytest.raises(ArtifactMissingError):
        cas.get("0" * 64)
    # bigger than a part: a multipart upload (its ETag counts the parts), read back whole
    big = bytes(range(256)) * (3 * MULTIPART_BYTES // 256 + 1000)
    path = tmp_path / "big.bin"
    path.write_bytes(big)
    for stored in (cas.put_file(path), cas.put(big + b"!")):
        info = s3.filesystem().info(f"{s3_url.removeprefix('s3://')}/{cas.key(stored)}")
        assert info["ETag"].strip('"').endswith("-4"), info["ETag"]
    assert cas.get(cas.put_file(path)) == big


FLOW = """
import pyarrow as pa

from mlstudio import dataset, task, workflow

@task
def double(table: pa.Table) -> pa.Table:
    return pa.table({"x": [v * 2 for v in table.column("x").to_pylist()]})

@task
def total(table: pa.Table) -> int:
    return sum(table.column("x").to_pylist())

@workflow
def pipeline() -> int:
    return total(double(dataset("team/numbers")))
"""


@pytest.mark.parametrize("studio", ["postgres"], indirect=True)
def test_a_workflow_on_an_s3_artifact_store_keeps_nothing_on_local_disk(
    studio, s3_url, s3, monkeypatch, tmp_path
):
    monkeypatch.setenv("MLSTUDIO_ARTIFACT_URL", s3_url)
    (tmp_path / "numbers.csv").write_text("x\n1\n2\n3\n")
    studio.ok("namespace", "create", "team")
    studio.ok(
        "data", "import", str(tmp_path / "numbers.csv"), "--name", "team/numbers",
        "--classify", "x=internal",
    )  # fmt: skip
    flow = write_flow(tmp_path, FLOW)
    run = studio.ok("run", f"{flow}:pipeline")
    assert run["state"] == "succeeded" and run["output_value"] == 12
    again = studio.ok("run", f"{flow}:pipeline")  # the cache reads its blobs back from S3
    assert again["output_value"] == 12
    assert {t["state"] for t in studio.ok("runs", "show", again["id"])["tasks"]} == {"cached"}
    objects = s3.filesystem().find(s3_url.removeprefix("s3://"))
    assert len(objects) >= 3  # the dataset, the doubled table, the totals
    assert not (studio.home / "artifacts" / "cas").exists()
    assert studio.ok("data", "show", "team/numbers")["rows"] == 3
    with studio.opened() as platform:  # read back from the bucket, verified
        table = platform.datasets.read("alice", "team/numbers").to_arrow()
    assert table.column("x").to_pylist() == [1, 2, 3]


def _cli(home: Path, db_url: str, env: dict[str, str], *args: str) -> subprocess.CompletedProcess:
    import os

    base = {k: v for k, v in os.environ.items() if not k.startswith(("MLSTUDIO_", "AWS_"))}
    base.update(env, MLSTUDIO_HOME=str(home), MLSTUDIO_DATABASE_URL=db_url, MLSTUDIO_USER="alice")
    return subprocess.run(
        [mlstudio_executable(), *args], env=base, capture_output=True, text=True, timeout=120
    )


@pytest.mark.parametrize("studio", ["sqlite"], indirect=True)
def test_store_faults_are_one_line_errors_that_change_nothing(studio, s3, tmp_path):
    (tmp_path / "numbers.csv").write_text("x\n1\n")
    studio.ok("namespace", "create", "team")
    data = ["data", "import", str(tmp_path / "numbers.csv"), "--name", "team/numbers"]
    data += ["--classify", "x=internal"]
    checking = start_s3_server(tmp_path / "auth", auth=True)
    try:
        cases = {
            "no bucket": (
                s3.env(MLSTUDIO_ARTIFACT_URL="s3://no-such-bucket/p"),
                "cannot be written",
            ),
            "wrong credentials": (
                checking.env(MLSTUDIO_ARTIFACT_URL="s3://any/p", AWS_ACCESS_KEY_ID="wrong"),
                "refused to",
            ),
            "endpoint down": (
                s3.env(
                    MLSTUDIO_ARTIFACT_URL=f"s3://{s3.new_bucket()}/p",
                    AWS_ENDPOINT_URL="http://127.0.0.1:9",
                    AWS_MAX_ATTEMPTS="1",
                ),
                "is unavailable",
            ),
        }
        for name, (env, says) in cases.items():
            done = _cli(studio.home, studio.database_url, env, *data)
            assert done.returncode != 0, name
            lines = done.stderr.strip().splitlines()
            assert len(lines) == 1 and lines[0].startswith("error: artifact store s3://"), (
                name,
                done.stderr,
            )
            assert says in lines[0], (name, lines[0])
            listed = _cli(studio.home, studio.database_url, {}, "data", "list", "--json")
            assert json.loads(listed.stdout) == [], name  # nothing was recorded
    finally:
        checking.stop()


def test_the_store_errors_name_the_cause(s3, monkeypatch):
    for key, value in s3.env(AWS_ENDPOINT_URL="http://127.0.0.1:9", AWS_MAX_ATTEMPTS="1").items():
        monkeypatch.setenv(key, value)
    down = FsspecObjectStore(f"s3://{s3.new_bucket()}/p")
    with pytest.raises(StoreUnavailableError) as caught:
        down.get("cas/ab/x")
    assert "AWS_ENDPOINT_URL" in caught.value.hint
    for key, value in s3.env().items():
        monkeypatch.setenv(key, value)
    with pytest.raises(ConfigurationError) as missing:
        FsspecObjectStore("s3://no-such-bucket/p").put("k", b"v")
    assert "create the bucket" in missing.value.hint


@pytest.fixture
def faulty(s3, monkeypatch):
    """The S3 server behind a fault-injecting proxy, and the AWS settings pointing at it."""
    from mlstudio.testing.s3 import FaultyProxy

    proxy = FaultyProxy(s3.endpoint)
    for key, value in s3.env(AWS_ENDPOINT_URL=proxy.endpoint).items():
        monkeypatch.setenv(key, value)
    yield proxy
    proxy.stop()


def test_a_throttled_write_is_retried_and_lands_whole(faulty, s3):
    cas = ContentStore(FsspecObjectStore(f"s3://{s3.new_bucket()}/p"))
    faulty.throttle_writes = 2  # the next two writes answer 503 SlowDown
    before = faulty.seen.get("PUT", 0)
    digest = cas.put(b"written after two refusals")
    assert faulty.throttle_writes == 0 and faulty.seen["PUT"] - before == 3  # 2 refused + 1
    assert cas.get(digest) == b"written after two refusals"


def test_an_upload_cut_off_midway_leaves_no_blob_visible(faulty, s3, monkeypatch, tmp_path):
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "1")
    url = f"s3://{s3.new_bucket()}/p"
    big = bytes(range(256)) * (3 * MULTIPART_BYTES // 256 + 1000)  # four parts
    digest_of_big = ContentStore.key(sha256_bytes(big))
    faulty.cut_from_part = 2  # the endpoint goes away after the first part
    with pytest.raises(StoreUnavailableError, match="is unavailable"):
        ContentStore(FsspecObjectStore(url)).put(big)
    assert not FsspecObjectStore(url).exists(digest_of_big)
    assert list(ContentStore(FsspecObjectStore(url)).blobs()) == []
    faulty.cut_from_part = None  # back: the same write completes, whole
    cas = ContentStore(FsspecObjectStore(url))
    digest = cas.put(big)
    assert cas.get(digest) == big
