"""Serving benchmark (issue 16): a scikit-learn model behind ``mlstudio serve`` on 1-row requests.

    python bench/bench_serving.py [--rate 200] [--seconds 20] [--repeat 3] [--json] [--quick]
        [--serve-arg=--http=h11 --serve-arg=--loop=asyncio]   # the pure-Python stack

Prepares a throwaway home (SQLite) with two versions of a logistic regression, starts a real
``mlstudio serve`` process with the prediction log on, and measures:

* p50/p99 latency at a fixed offered rate (open loop: requests are sent on a schedule, not
  when the previous one returns), target p99 < 10 ms at 200 req/s; ``--repeat`` runs (3)
  print min and median;
* the highest throughput of 8 clients sending back to back;
* the added cost per request of the flag evaluation and of the prediction log (append plus
  its share of the background flush), measured in process, target < 0.2 ms;
* the time from an alias move (committed) to the first response from the new version,
  target < 2 s; and the same from the start of a ``mlstudio model alias`` command.

Then the same open and closed loops against ``mlflow models serve`` (``--env-manager local``)
on the same estimator, with the ratios (``--no-peer`` skips it). Prints ``os.getloadavg()``
with the figures (the machine is shared).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

import httpx

TARGET_P99_MS = 10.0
TARGET_ADDED_MS = 0.2
TARGET_SWAP_S = 2.0


def percentile(values: list[float], q: float) -> float:
    import numpy as np

    return float(np.percentile(values, q)) if values else float("nan")


def mlstudio_request(n: int) -> tuple[str, dict]:
    return "/v1/models/churn:predict", {"rows": [{"a": n % 10, "b": 2}]}


def mlflow_request(n: int) -> tuple[str, dict]:
    return "/invocations", {"dataframe_records": [{"a": n % 10, "b": 2}]}


def open_loop(
    url: str,
    token: str | None,
    rate: float,
    seconds: float,
    clients: int = 8,
    request: Callable[[int], tuple[str, dict]] = mlstudio_request,
) -> dict:
    """``rate`` requests/s spread over ``clients`` threads, each on its own schedule."""
    latencies: list[float] = []
    errors = [0]
    lock = threading.Lock()
    interval = clients / rate
    start = time.perf_counter() + 0.2

    def client(k: int) -> None:
        with httpx.Client(base_url=url, headers=auth(token)) as http:
            n = 0
            while True:
                due = start + (k / clients) * interval + n * interval
                if due - start > seconds:
                    return
                delay = due - time.perf_counter()
                if delay > 0:
                    time.sleep(delay)
                t0 = time.perf_counter()
                path, body = request(n)
                r = http.post(path, json=body)
                took = (time.perf_counter() - t0) * 1000
                with lock:
                    latencies.append(took)
                    if r.status_code != 200:
                        errors[0] += 1
                n += 1

    threads = [threading.Thread(target=client, args=(k,)) for k in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - start
    return {
        "offered_rps": rate,
        "achieved_rps": len(latencies) / elapsed,
        "requests": len(latencies),
        "errors": errors[0],
        "p50_ms": percentile(latencies, 50),
        "p99_ms": percentile(latencies, 99),
        "max_ms": max(latencies) if latencies else float("nan"),
    }


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of process ``pid`` so far (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def auth(token: str | None) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"} if token else {}


def closed_loop(
    url: str,
    token: str | None,
    seconds: float,
    clients: int = 8,
    pid: int = 0,
    request: Callable[[int], tuple[str, dict]] = mlstudio_request,
) -> dict:
    done = [0]
    lock = threading.Lock()
    end = time.perf_counter() + seconds

    def client() -> None:
        with httpx.Client(base_url=url, headers=auth(token)) as http:
            path, body = request(1)
            while time.perf_counter() < end:
                http.post(path, json=body)
                with lock:
                    done[0] += 1

    threads = [threading.Thread(target=client) for _ in range(clients)]
    started = time.perf_counter()
    cpu0 = cpu_seconds(pid) if pid else 0.0
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    cpu = (cpu_seconds(pid) - cpu0) if pid else float("nan")
    return {
        "clients": clients,
        "rps": done[0] / (time.perf_counter() - started),
        "server_cpu_ms_per_request": cpu * 1000 / max(done[0], 1),
    }


def added_costs(tmp: Path, n: int, platform) -> dict:
    """Per-request cost of the flag evaluations (kill, a 90/10 route split, shadow: what the
    serving process asks per request) and of the prediction log, in process."""
    from mlstudio.integrations.serving.flagging import open_flags
    from mlstudio.integrations.serving.predlog import PredictionLog

    flags = open_flags(platform)
    subjects = [f"user-{i}" for i in range(n)]
    t0 = time.perf_counter()
    for subject in subjects:
        flags.evaluate("serve.churn.kill", False, subject=subject)
        flags.evaluate("serve.churn.route", "live", subject=subject)
        flags.evaluate("serve.churn.shadow", "", subject=subject)
    flag_ms = (time.perf_counter() - t0) * 1000 / n
    log = PredictionLog(tmp / "predlog-bench", max_buffer=n + 1, flush_records=n + 1)
    record = {
        "request_id": "req_0123456789abcdef",
        "at": time.time(),
        "model": "churn",
        "version": 1,
        "variant": "live",
        "flag_reason": "DEFAULT",
        "answered_by": "model",
        "fallback_reason": None,
        "attempts": ["version:1 ok"],
        "latency_ms": 1.234,
        "subject": None,
        "classification": "public",
        "inputs": [{"a": 1.0, "b": 2.0}],
        "outputs": [0.42],
    }
    t0 = time.perf_counter()
    for _ in range(n):
        log.append(dict(record))
    append_ms = (time.perf_counter() - t0) * 1000 / n
    t0 = time.perf_counter()
    log.flush()
    flush_ms = (time.perf_counter() - t0) * 1000 / n
    return {
        "flag_eval_ms": flag_ms,
        "flags": type(flags).__name__,
        "log_append_ms": append_ms,
        "log_flush_share_ms": flush_ms,
        "log_total_ms": append_ms + flush_ms,
    }


def alias_to_serving(served, platform, versions: dict[str, int], moves: int, cli: bool) -> dict:
    """Seconds from an alias move to the first response from the new version."""
    from mlstudio.testing.flows import mlstudio_executable
    from mlstudio.testing.servers import clean_env

    figures: list[float] = []
    cli_figures: list[float] = []
    targets = [versions["other"], versions["good"]] * moves
    for k, target in enumerate(targets[:moves]):
        via_cli = cli and k == moves - 1
        t0 = time.perf_counter()
        if via_cli:
            subprocess.run(
                [mlstudio_executable(), "model", "alias", "churn", "live", str(target)],
                env=clean_env(served.home, served.database_url),
                check=True,
                capture_output=True,
            )
        else:
            platform.registry.set_alias("alice", "churn", "live", target)
        committed = time.perf_counter()
        while served.predict([{"a": 1, "b": 2}]).json().get("version") != target:
            time.sleep(0.01)
        now = time.perf_counter()
        (cli_figures if via_cli else figures).append(now - (t0 if via_cli else committed))
    return {
        "moves": len(figures),
        "median_s": statistics.median(figures) if figures else float("nan"),
        "max_s": max(figures) if figures else float("nan"),
        "from_cli_start_s": cli_figures[0] if cli_figures else None,
    }


def train_frame(n: int = 200):
    """The same data and estimator as the served model (mlstudio.testing.serving's ``train``),
    fitted on a frame so that MLflow's pyfunc gets named columns."""
    import pandas as pd
    from sklearn.linear_model import LogisticRegression

    a = [((i * 37) % 100) / 10.0 for i in range(n)]
    b = [((i * 53) % 100) / 10.0 for i in range(n)]
    frame = pd.DataFrame({"a": a, "b": b})
    y = [int(x + 0.5 * z > 7.0) for x, z in zip(a, b, strict=True)]
    return LogisticRegression(C=1.0).fit(frame, y)


def peer_mlflow(root: Path, args: argparse.Namespace) -> dict:
    """``mlflow models serve`` (``--env-manager local``: this venv, one uvicorn worker) on the
    same logistic regression, measured with the same clients. It does no auth, flags, fallback
    or prediction log: the bare model server."""
    import signal
    import socket

    try:
        import mlflow.sklearn
    except ImportError:
        return {"skipped": "mlflow is not installed (pip install -e '.[dev]')"}
    bindir = Path(sys.executable).parent
    model_dir = root / "mlflow-model"
    mlflow.sklearn.save_model(train_frame(), str(model_dir), pyfunc_predict_fn="predict_proba")
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    log = (root / "mlflow-serve.log").open("wb")
    env = dict(os.environ, PATH=f"{bindir}{os.pathsep}{os.environ.get('PATH', '')}")
    cmd = [str(bindir / "mlflow"), "models", "serve", "-m", str(model_dir)]
    cmd += ["--env-manager", "local", "-h", "127.0.0.1", "-p", str(port), "-w", "1"]
    proc = subprocess.Popen(
        cmd, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            if proc.poll() is not None:
                return {"skipped": f"mlflow models serve exited {proc.returncode} (see its log)"}
            try:
                if httpx.get(f"{url}/ping", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                return {"skipped": "mlflow models serve did not answer /ping within 60 s"}
            time.sleep(0.2)
        server_pid = _listener_pid(proc.pid)
        for n in range(50):  # warm up like the mlstudio side
            httpx.post(f"{url}{mlflow_request(n)[0]}", json=mlflow_request(n)[1])
        runs = [
            open_loop(url, None, args.rate, args.seconds, request=mlflow_request)
            for _ in range(max(1, args.repeat))
        ]
        p99s = [r["p99_ms"] for r in runs]
        return {
            "version": mlflow.__version__,
            "errors": sum(r["errors"] for r in runs),
            "p99_min_ms": min(p99s),
            "p99_median_ms": statistics.median(p99s),
            "p50_median_ms": statistics.median(r["p50_ms"] for r in runs),
            "closed_loop": closed_loop(
                url, None, min(args.seconds, 5.0), pid=server_pid, request=mlflow_request
            ),
        }
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        log.close()


def _listener_pid(pid: int) -> int:
    """The deepest descendant of ``pid`` (mlflow's CLI runs uvicorn in a child): the process
    whose CPU is the server's."""
    while True:
        children = Path(f"/proc/{pid}/task/{pid}/children")
        found = children.read_text().split() if children.exists() else []
        if not found:
            return pid
        pid = int(found[0])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rate", type=float, default=200.0)
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--moves", type=int, default=6)
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--quick", action="store_true", help="short runs (CI)")
    parser.add_argument("--repeat", type=int, default=3, help="open-loop runs (min/median)")
    parser.add_argument(
        "--serve-arg", action="append", default=[], help="extra mlstudio serve option (repeat)"
    )
    parser.add_argument(
        "--no-peer", action="store_true", help="skip `mlflow models serve` on the same model"
    )
    args = parser.parse_args()
    if args.quick:
        args.seconds, args.moves, args.repeat = 3.0, 2, 1

    from mlstudio.platform import Platform
    from mlstudio.settings import Settings
    from mlstudio.testing.serving import prepare_home, run_cli, start_serve

    out: dict = {"loadavg_before": os.getloadavg(), "cores": os.cpu_count()}
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        home = root / "home"
        url = f"sqlite:///{home / 'studio.db'}"
        t0 = time.perf_counter()
        versions = prepare_home(home, url, broken=False)
        out["prepare_s"] = time.perf_counter() - t0
        # a real split on the route flag: every request is bucketed (both variants → live)
        run_cli(
            home,
            url,
            "flag",
            "set",
            "serve.churn.route",
            "--variant",
            "a=live",
            "--variant",
            "b=live",
            "--default",
            "a",
            "--split",
            "a=90",
            "--split",
            "b=10",
        )
        served = start_serve(
            home, url, "churn", "--alias", "live", "--poll", "0.5", "--log", *args.serve_arg
        )
        out["serve_args"] = args.serve_arg
        if served.proc.poll() is not None:
            print(served.log_text(), file=sys.stderr)
            return 1
        platform = Platform.open(
            Settings(home=home, database_url=url, user="alice"), bootstrap=False
        )
        try:
            for _ in range(50):  # warm up (imports, first predict, token cache)
                served.predict([{"a": 1, "b": 2}])
            runs = [
                open_loop(served.url, served.token, args.rate, args.seconds)
                for _ in range(max(1, args.repeat))
            ]
            out["open_loop_runs"] = runs
            p99s = [r["p99_ms"] for r in runs]
            out["open_loop"] = dict(
                runs[p99s.index(sorted(p99s)[len(p99s) // 2])],
                p99_min_ms=min(p99s),
                p99_median_ms=statistics.median(p99s),
                p50_median_ms=statistics.median(r["p50_ms"] for r in runs),
            )
            out["closed_loop"] = closed_loop(
                served.url, served.token, min(args.seconds, 5.0), pid=served.proc.pid
            )
            out["added"] = added_costs(root, 20_000 if args.quick else 100_000, platform)
            out["alias_to_serving"] = alias_to_serving(
                served, platform, versions, args.moves, cli=True
            )
            out["prediction_log"] = served.show()["prediction_log"]
        finally:
            platform.close()
            served.stop()
        out["peer_mlflow"] = {"skipped": "--no-peer"} if args.no_peer else peer_mlflow(root, args)
    out["loadavg_after"] = os.getloadavg()
    ol, added, swap = out["open_loop"], out["added"], out["alias_to_serving"]
    out["targets"] = {
        "p99_ms<10": ol["p99_ms"] < TARGET_P99_MS,
        "flag+log_ms<0.2": added["flag_eval_ms"] + added["log_total_ms"] < TARGET_ADDED_MS,
        "alias_to_serving_s<2": swap["max_s"] < TARGET_SWAP_S,
    }
    if args.json:
        print(json.dumps(out, indent=2, default=str))
        return 0
    print(
        f"load average before {out['loadavg_before']}, after {out['loadavg_after']}, "
        f"{out['cores']} cores"
    )
    print(
        f"open loop {ol['offered_rps']:.0f} req/s offered, {ol['achieved_rps']:.1f} achieved, "
        f"{ol['requests']} requests, {ol['errors']} errors: p50 {ol['p50_ms']:.2f} ms, "
        f"p99 {ol['p99_ms']:.2f} ms, max {ol['max_ms']:.1f} ms (target p99 < {TARGET_P99_MS} ms)"
    )
    print(
        f"open loop over {len(out['open_loop_runs'])} runs: p99 min {ol['p99_min_ms']:.2f} ms, "
        f"median {ol['p99_median_ms']:.2f} ms; p50 median {ol['p50_median_ms']:.2f} ms "
        f"(serve options: {' '.join(out['serve_args']) or 'defaults'})"
    )
    cl = out["closed_loop"]
    print(
        f"closed loop {cl['clients']} clients: {cl['rps']:.0f} req/s; the serving process used "
        f"{cl['server_cpu_ms_per_request']:.2f} ms of CPU per request"
    )
    print(
        f"added per request: 3 flag evaluations {added['flag_eval_ms'] * 1000:.1f} us "
        f"({added['flags']}), prediction log {added['log_total_ms'] * 1000:.1f} us "
        f"(append {added['log_append_ms'] * 1000:.1f} + flush {added['log_flush_share_ms'] * 1000:.1f})"
        f" (target < {TARGET_ADDED_MS} ms together)"
    )
    print(
        f"alias move → new version serving: median {swap['median_s']:.2f} s, max "
        f"{swap['max_s']:.2f} s over {swap['moves']} moves (target < {TARGET_SWAP_S} s); from the "
        f"start of `mlstudio model alias`: {swap['from_cli_start_s']:.2f} s"
    )
    peer = out["peer_mlflow"]
    if "skipped" in peer:
        print(f"peer mlflow models serve: skipped ({peer['skipped']})")
    else:
        pcl = peer["closed_loop"]
        print(
            f"peer mlflow models serve {peer['version']} (--env-manager local, 1 worker; no auth, "
            f"flags, fallback or log), same model and clients: p99 min {peer['p99_min_ms']:.2f} "
            f"ms, median {peer['p99_median_ms']:.2f} ms; p50 median {peer['p50_median_ms']:.2f} "
            f"ms; {peer['errors']} errors; closed loop {pcl['rps']:.0f} req/s, "
            f"{pcl['server_cpu_ms_per_request']:.2f} ms CPU per request"
        )
        print(
            f"ratios mlstudio / mlflow: p99 median {ol['p99_median_ms'] / peer['p99_median_ms']:.2f}x, "
            f"p50 median {ol['p50_median_ms'] / peer['p50_median_ms']:.2f}x, "
            f"closed-loop throughput {cl['rps'] / pcl['rps']:.2f}x"
        )
    print(f"targets: {out['targets']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
