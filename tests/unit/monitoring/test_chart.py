"""The monitor chart's PNG draws the band at the monitor's own threshold."""

from __future__ import annotations

import struct
import zlib

from mlstudio.integrations.monitoring.chart import png

BAND = bytes((220, 220, 220))


def _band_rows(data: bytes) -> int:
    """How many pixel rows of the first column hold the grey band."""
    assert data.startswith(b"\x89PNG\r\n\x1a\n")
    width, height = struct.unpack(">II", data[16:24])
    at, idat = 8, b""
    while at < len(data):
        (length,) = struct.unpack(">I", data[at : at + 4])
        kind = data[at + 4 : at + 8]
        if kind == b"IDAT":
            idat += data[at + 8 : at + 8 + length]
        at += 12 + length
    raw = zlib.decompress(idat)
    stride = 1 + 3 * width
    rows = [raw[r * stride + 1 : (r + 1) * stride] for r in range(height)]
    return sum(1 for row in rows if row[3:6] == BAND)


def test_the_band_follows_the_threshold():
    points = [
        {"window": f"w{i}", "value": 10.0 + i % 3, "expected": 10.0, "scale": 1.0, "status": "ok"}
        for i in range(20)
    ] + [{"window": "w20", "value": 40.0, "expected": 10.0, "scale": 1.0, "status": "anomaly"}]
    wide, narrow = png(points), png(points, threshold=1.0)
    assert png(points, threshold=4.0) == wide  # 4 is the detector's default
    assert 0 < _band_rows(narrow) < _band_rows(wide)
