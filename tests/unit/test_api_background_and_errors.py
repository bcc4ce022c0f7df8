"""Server background loops (skipped when missing, stopped on shutdown) and the client's one
error mapping, without a server process."""

from __future__ import annotations

import sys
import threading
import types

import httpx
import pytest

from mlstudio.api.background import load, start_loops, stop_loops
from mlstudio.client.errors import error_from_response
from mlstudio.errors import (
    ArchiveError,
    MlstudioError,
    NotFoundError,
    PermissionDeniedError,
    PolicyViolationError,
)


def test_missing_loops_are_skipped_with_a_log_line(caplog):
    caplog.set_level("WARNING", logger="mlstudio.server")
    assert load("mlstudio.no_such_module:start") is None
    assert load("mlstudio.errors:start") is None
    assert len(caplog.records) == 2
    assert "does not exist" in caplog.records[0].getMessage()
    assert "has no start()" in caplog.records[1].getMessage()


def test_a_loop_that_fails_to_import_stops_the_start(tmp_path, monkeypatch):
    (tmp_path / "mlstudio_test_broken_loop.py").write_text("import mlstudio_missing_dependency\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.raises(ModuleNotFoundError, match="mlstudio_missing_dependency"):
        load("mlstudio_test_broken_loop:start")


def test_loops_run_until_stop_is_set(monkeypatch):
    module = types.ModuleType("mlstudio_test_loop")
    seen: list[object] = []

    def start(platform: object, stop: threading.Event) -> threading.Thread:
        seen.append(platform)
        thread = threading.Thread(target=stop.wait, daemon=True)
        thread.start()
        return thread

    module.start = start  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "mlstudio_test_loop", module)
    stop = threading.Event()
    threads = start_loops("P", stop, ["mlstudio_test_loop:start", "mlstudio.nothing:start"])
    assert seen == ["P"] and len(threads) == 1 and threads[0].is_alive()
    stop_loops(threads, stop, timeout=5)
    assert not threads[0].is_alive()


def _response(status: int, body: object) -> httpx.Response:
    request = httpx.Request("GET", "http://server/api/v1/x")
    if isinstance(body, (dict, list)):
        return httpx.Response(status, json=body, request=request)
    return httpx.Response(status, text=str(body), request=request)


@pytest.mark.parametrize(
    ("status", "code", "cls"),
    [
        (404, "not_found", NotFoundError),
        (400, "unsafe_archive", ArchiveError),
        (403, "policy_violation", PolicyViolationError),
        (403, "permission_denied", PermissionDeniedError),
    ],
)
def test_errors_come_back_as_the_class_the_server_raised(status, code, cls):
    error = error_from_response(
        _response(status, {"error": {"code": code, "message": "it broke", "hint": "fix it"}})
    )
    assert type(error) is cls
    assert (error.one_line(), error.code, error.exit_code) == (
        "it broke (fix it)",
        code,
        cls.exit_code,
    )


def test_unknown_codes_and_bodies_fall_back_to_the_status():
    error = error_from_response(
        _response(404, {"error": {"code": "artifact_gone", "message": "gone", "details": [1]}})
    )
    assert isinstance(error, NotFoundError)
    assert error.to_dict() == {"code": "artifact_gone", "message": "gone", "details": [1]}
    proxy = error_from_response(_response(502, "<html>\nBad   gateway</html>"))
    assert type(proxy) is MlstudioError
    assert proxy.one_line() == "the server answered 502: <html> Bad gateway</html>"
