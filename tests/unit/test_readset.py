"""Read-set validation: stat first, hash only when needed, name what changed."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from mlstudio.workflows.cache import readset
from mlstudio.workflows.sandbox import SandboxPolicy, TaskScope


def read_set_of(*paths: Path, listings: tuple[Path, ...] = ()) -> dict:
    scope = TaskScope(SandboxPolicy({}, {}, "/nonexistent"), (), None)
    for path in paths:
        scope.reads[os.path.realpath(path)] = readset._stat(os.path.realpath(path))
    scope.listings.update(os.path.realpath(p) for p in listings)
    built = readset.finish(scope)
    assert built is not None
    return built


def age(path: Path, seconds: float = 10.0) -> None:
    """Move a file's mtime into the past (so it is not "racily clean")."""
    st = path.stat()
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns - int(seconds * 1e9)))


def test_an_unchanged_file_is_valid_without_hashing_it(tmp_path, monkeypatch):
    f = tmp_path / "points.csv"
    f.write_text("x\n1\n")
    age(f)
    built = read_set_of(f)
    monkeypatch.setattr(readset, "_sha256", lambda path: pytest.fail("hashed an unchanged file"))
    assert readset.validate(built) == []


def test_a_touched_file_with_the_same_content_is_still_valid(tmp_path):
    f = tmp_path / "points.csv"
    f.write_text("x\n1\n")
    built = read_set_of(f)
    f.write_text("x\n1\n")  # same bytes, new mtime/ctime
    assert readset.validate(built) == []


def test_a_same_size_content_change_is_caught_by_its_digest(tmp_path):
    f = tmp_path / "points.csv"
    f.write_text("x\n1\n")
    built = read_set_of(f)
    st = f.stat()
    f.write_text("x\n2\n")
    os.utime(f, ns=(st.st_atime_ns, st.st_mtime_ns))  # even with the old mtime put back
    [problem] = readset.validate(built)
    assert problem.startswith(f"file {os.path.realpath(f)} changed (content sha256 ")


def test_deleted_created_and_listing_changes_are_named(tmp_path):
    gone = tmp_path / "gone.csv"
    gone.write_text("a")
    folder = tmp_path / "inputs"
    folder.mkdir()
    (folder / "a.csv").write_text("a")
    absent = tmp_path / "config.json"
    built = read_set_of(gone, absent, listings=(folder,))
    assert readset.validate(built) == []
    gone.unlink()
    absent.write_text("{}")
    (folder / "b.csv").write_text("b")
    problems = readset.validate(built)
    assert problems == [
        f"file {os.path.realpath(absent)} now exists (the task found none)",
        f"file {os.path.realpath(gone)} was deleted",
        f"directory {os.path.realpath(folder)} changed (1 → 2 entries)",
    ]


def test_files_above_the_hash_limit_are_compared_by_size_and_times(tmp_path, monkeypatch):
    monkeypatch.setattr(readset, "HASH_LIMIT", 4)
    big = tmp_path / "big.bin"
    big.write_bytes(b"0123456789")
    built = read_set_of(big)
    [entry] = built["files"]
    assert entry["rule"] == "stat" and "sha256" not in entry
    age(big)
    built = read_set_of(big)
    assert readset.validate(built) == []
    big.write_bytes(b"9876543210")
    [problem] = readset.validate(built)
    assert "compared by size and times" in problem


def test_a_file_changed_while_the_task_ran_makes_the_result_uncacheable(tmp_path):
    f = tmp_path / "counter.txt"
    f.write_text("1")
    scope = TaskScope(SandboxPolicy({}, {}, "/nonexistent"), (), None)
    scope.reads[os.path.realpath(f)] = readset._stat(os.path.realpath(f))
    f.write_text("22")
    built = readset.finish(scope)
    assert built["changed_during_task"] == [os.path.realpath(f)]
    assert not readset.cacheable(built)


# --- model reads (mlstudio.load_model in a task) and the read set's format --------------------
class _Entry:
    """A cache_entries row as check_entry sees it."""

    def __init__(self, read_set):
        self.read_set = read_set
        self.run_id, self.key = "run_a", "k"


CHURN = {"uri": "models:/churn@champion", "name": "churn", "version": 1, "digest": "d" * 64}


def test_model_reads_are_kept_sorted_by_uri_with_or_without_a_sandbox():
    other = {"uri": "models:/alpha/2", "name": "alpha", "version": 2, "digest": "e" * 64}
    models = {CHURN["uri"]: CHURN, other["uri"]: other}
    bare = readset.finish(None, models)
    assert bare == {"v": readset.READ_SET_VERSION, "models": [other, CHURN]}
    scoped = readset.finish(TaskScope(SandboxPolicy({}, {}, "/nonexistent"), (), None), models)
    assert readset.model_reads(scoped) == [other, CHURN]
    assert readset.summary(scoped)["models"] == [
        "models:/alpha/2 → alpha/2",
        "models:/churn@champion → churn/1",
    ]


def test_a_task_that_read_nothing_still_gets_a_read_set_of_the_current_format():
    built = readset.finish(None)
    assert built == {"v": readset.READ_SET_VERSION}
    assert readset.summary(built) is None  # nothing to show
    assert readset.check_entry(_Entry(built), {}) == []


@pytest.mark.parametrize("old", [None, {"v": 1, "files": [], "dirs": []}, {"files": []}])
def test_an_entry_cached_before_model_reads_were_recorded_is_a_miss(old):
    # it may hide a model read the new run's domain may not make: recomputed once
    [reason] = readset.check_entry(_Entry(old), {})
    assert "before model reads were recorded" in reason
    # a CachePolicy that vouches for its reads does not waive that
    [again] = readset.check_entry(_Entry(old), {"cache_policy": {"reads": "ignore"}})
    assert again == reason


def test_a_stale_note_keeps_the_model_reads_and_explain_names_the_reason():
    built = readset.finish(None, {CHURN["uri"]: CHURN})
    reason = "model models:/churn@champion now resolves to churn/2; the cached result read churn/1"
    noted = readset.with_note(built, readset.stale_note(_Entry(built), [reason]))
    assert readset.model_reads(noted) == [CHURN]
    assert readset.explain(noted) == ("run_a", [f"cached result not reused: {reason}"])
