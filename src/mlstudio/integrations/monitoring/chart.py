"""A monitor's series as a terminal sparkline and as a small PNG, in pure Python (no plotting
dependency): the values, the baseline band (expected ± threshold·scale), alerts and feedback."""

from __future__ import annotations

import struct
import zlib
from collections.abc import Sequence
from typing import Any

BARS = "▁▂▃▄▅▆▇█"


def sparkline(values: Sequence[float | None]) -> str:
    """One character per point; a gap (no data) is a space."""
    present = [v for v in values if v is not None]
    if not present:
        return " " * len(values)
    lo, hi = min(present), max(present)
    span = (hi - lo) or 1.0
    return "".join(
        " " if v is None else BARS[min(int((v - lo) / span * (len(BARS) - 1) + 0.5), 7)]
        for v in values
    )


def _png(width: int, height: int, pixels: list[bytearray]) -> bytes:
    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    raw = b"".join(b"\x00" + bytes(row) for row in pixels)
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(raw)) + \
        chunk(b"IEND", b"")  # fmt: skip


def png(
    points: Sequence[dict[str, Any]],
    *,
    marks: Sequence[str] = (),
    height: int = 160,
    threshold: float = 4.0,
) -> bytes:
    """PNG of ``points`` ({"window", "value", "expected", "scale", "status"}): grey band =
    expected ± threshold·scale (the monitor's detector threshold; 4 by default), black = the
    value, red = anomaly, blue columns = feedback windows."""
    k = float(threshold)
    step = 6
    width = max(len(points) * step, 60)
    img = [bytearray(b"\xff\xff\xff" * width) for _ in range(height)]
    ys: list[float] = []
    for p in points:
        for key in ("value", "expected"):
            if p.get(key) is not None:
                ys.append(float(p[key]))
        if p.get("expected") is not None and p.get("scale") is not None:
            ys += [p["expected"] - k * p["scale"], p["expected"] + k * p["scale"]]
    lo, hi = (min(ys), max(ys)) if ys else (0.0, 1.0)
    span = (hi - lo) or 1.0

    def y(v: float) -> int:
        return max(0, min(height - 1, int((hi - v) / span * (height - 8)) + 4))

    def put(x: int, yy: int, rgb: tuple[int, int, int]) -> None:
        if 0 <= x < width and 0 <= yy < height:
            img[yy][3 * x : 3 * x + 3] = bytes(rgb)

    for i, p in enumerate(points):
        x0 = i * step
        if p["window"] in marks:
            for yy in range(height):
                for dx in range(step):
                    put(x0 + dx, yy, (210, 225, 255))
        if p.get("expected") is not None and p.get("scale") is not None:
            for yy in range(
                y(p["expected"] + k * p["scale"]), y(p["expected"] - k * p["scale"]) + 1
            ):
                for dx in range(step):
                    put(x0 + dx, yy, (220, 220, 220))
        if p.get("value") is not None:
            colour = (220, 30, 30) if p.get("status") == "anomaly" else (20, 20, 20)
            for dy in range(-2, 3):
                for dx in range(1, step - 1):
                    put(x0 + dx, y(p["value"]) + dy, colour)
    return _png(width, height, img)
