"""Looking at rendered pages in tests: Chromium screenshots (PNG) and pdftoppm pages (PPM) as pixel arrays.

No imaging library is a dependency, so PNG is decoded here: 8-bit RGB or RGBA,
not interlaced -- what Chromium writes.
"""

from __future__ import annotations

import struct
import subprocess
import tempfile
import zlib
from pathlib import Path

import numpy as np
import numpy.typing as npt

from agentaudit.report.render_pdf import chromium_args, find_chromium, run_chromium

Image = npt.NDArray[np.uint8]  # height x width x 3


def screenshot(html: Path, png: Path, width: int = 1200, height: int = 4000) -> Image:
    with tempfile.TemporaryDirectory() as profile:
        run_chromium([*chromium_args(find_chromium(), Path(profile)), f"--window-size={width},{height}",
                      f"--screenshot={png}", html.resolve().as_uri()], "taking a screenshot")
    return read_png(png)


def pdf_pages(pdf: Path, out: Path, dpi: int = 50) -> list[Image]:
    """Every page of the PDF rendered by poppler's pdftoppm (a renderer other than the one that printed it)."""
    subprocess.run(["pdftoppm", "-r", str(dpi), str(pdf), str(out / "page")], check=True, timeout=120)
    return [read_ppm(p) for p in sorted(out.glob("page-*.ppm"))]


def pdf_text(pdf: Path) -> str:
    return subprocess.run(["pdftotext", "-layout", str(pdf), "-"], check=True, capture_output=True, text=True,
                          timeout=60).stdout


def read_ppm(path: Path) -> Image:
    data = path.read_bytes()
    header = data.split(maxsplit=4)
    assert header[0] == b"P6" and header[3] == b"255", "pdftoppm writes binary 8-bit PPM"
    width, height = int(header[1]), int(header[2])
    return np.frombuffer(data[-width * height * 3:], dtype=np.uint8).reshape(height, width, 3)


def read_png(path: Path) -> Image:
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n", f"{path} is not a PNG"
    pos, idat, width = 8, bytearray(), 0
    channels = 0
    while pos < len(data):
        length, kind = struct.unpack(">I4s", data[pos:pos + 8])
        body = data[pos + 8:pos + 8 + length]
        if kind == b"IHDR":
            width, height, depth, colour, _, _, interlace = struct.unpack(">IIBBBBB", body)
            assert depth == 8 and colour in (2, 6) and interlace == 0, "only 8-bit RGB(A), not interlaced"
            channels = 3 if colour == 2 else 4
        elif kind == b"IDAT":
            idat += body
        pos += 12 + length
    raw = zlib.decompress(bytes(idat))
    stride = width * channels
    rows = np.zeros((height, stride), dtype=np.uint8)
    previous = np.zeros(stride, dtype=np.int32)
    for y in range(height):
        kind_, line = raw[y * (stride + 1)], np.frombuffer(raw, np.uint8, stride, y * (stride + 1) + 1).astype(np.int32)
        if kind_ == 0:
            out = line
        elif kind_ == 2:
            out = (line + previous) & 0xFF
        elif kind_ == 1:
            out = _sequential(line, previous, channels, lambda a, b, c: a)
        elif kind_ == 3:
            out = _sequential(line, previous, channels, lambda a, b, c: (a + b) >> 1)
        else:
            out = _sequential(line, previous, channels, _paeth)
        rows[y] = out
        previous = out.astype(np.int32)
    return rows.reshape(height, width, channels)[:, :, :3]


def _paeth(a: int, b: int, c: int) -> int:
    p = a + b - c
    pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
    return a if pa <= pb and pa <= pc else b if pb <= pc else c


def _sequential(line: npt.NDArray[np.int32], up: npt.NDArray[np.int32], bpp: int, predict: object) -> npt.NDArray[np.int32]:
    """Filters whose prediction needs the pixel just decoded to its left (Sub, Average, Paeth)."""
    assert callable(predict)
    cur, above = line.tolist(), up.tolist()
    for i in range(len(cur)):
        a = cur[i - bpp] if i >= bpp else 0
        c = above[i - bpp] if i >= bpp else 0
        cur[i] = (cur[i] + predict(a, above[i], c)) & 0xFF
    return np.array(cur, dtype=np.int32)


def pixels_of(image: Image, colour: str, tolerance: int = 10) -> int:
    """How many pixels are within `tolerance` of the #rrggbb colour in every channel."""
    rgb = np.array([int(colour[i:i + 2], 16) for i in (1, 3, 5)], dtype=np.int16)
    return int((np.abs(image.astype(np.int16) - rgb) <= tolerance).all(axis=2).sum())


def ink(image: Image) -> float:
    """Share of pixels that are not (nearly) white."""
    return float((image.min(axis=2) < 235).mean())
