"""Prometheus text exposition for the serving process: counters and one latency histogram.

Small on purpose (no client library needed): a lock per update, text rendered on scrape."""

from __future__ import annotations

import bisect
import threading
from collections import defaultdict

LATENCY_BUCKETS_S = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)

_HELP = {
    "mlstudio_serve_requests_total": "Predict requests answered, by HTTP status",
    "mlstudio_serve_errors_total": "Predict requests that failed, by kind",
    "mlstudio_serve_fallbacks_total": "Requests answered by a fallback, by reason and target",
    "mlstudio_serve_missing_inputs_total": "Missing or null input values, by column and action",
    "mlstudio_serve_swaps_total": "Alias moves followed, by outcome",
    "mlstudio_serve_predlog_dropped_total": "Prediction log records dropped (buffer full)",
}


def _labels(labels: tuple[tuple[str, str], ...]) -> str:
    if not labels:
        return ""
    inner = ",".join(f'{k}="{_escape(v)}"' for k, v in labels)
    return "{" + inner + "}"


def _escape(value: str) -> str:
    return str(value).replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


class Metrics:
    """Counters keyed by (name, labels) and the request latency histogram."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counters: dict[str, dict[tuple[tuple[str, str], ...], float]] = defaultdict(dict)
        self._buckets = [0] * (len(LATENCY_BUCKETS_S) + 1)
        self._sum = 0.0
        self._count = 0

    def inc(self, name: str, amount: float = 1.0, **labels: str) -> None:
        key = tuple(sorted(labels.items()))
        with self._lock:
            series = self._counters[name]
            series[key] = series.get(key, 0.0) + amount

    def observe(self, seconds: float) -> None:
        index = bisect.bisect_left(LATENCY_BUCKETS_S, seconds)
        with self._lock:
            self._buckets[index] += 1
            self._sum += seconds
            self._count += 1

    def value(self, name: str, **labels: str) -> float:
        with self._lock:
            return self._counters.get(name, {}).get(tuple(sorted(labels.items())), 0.0)

    def render(self) -> str:
        lines: list[str] = []
        with self._lock:
            name = "mlstudio_serve_request_duration_seconds"
            lines += [f"# HELP {name} Predict latency", f"# TYPE {name} histogram"]
            running = 0
            for bound, n in zip(LATENCY_BUCKETS_S, self._buckets, strict=False):
                running += n
                lines.append(f'{name}_bucket{{le="{bound}"}} {running}')
            lines.append(f'{name}_bucket{{le="+Inf"}} {self._count}')
            lines.append(f"{name}_sum {self._sum}")
            lines.append(f"{name}_count {self._count}")
            for counter in sorted(set(_HELP) | set(self._counters)):
                lines.append(f"# HELP {counter} {_HELP.get(counter, counter)}")
                lines.append(f"# TYPE {counter} counter")
                for labels, value in sorted(self._counters.get(counter, {}).items()):
                    lines.append(f"{counter}{_labels(labels)} {value:g}")
        return "\n".join(lines) + "\n"
