"""The trend picture: members and median time to first response over time, as a small PNG.

Why an image and not Adaptive Card chart elements: Teams documents ``Chart.Line`` and friends, but they are not
part of the Adaptive Card 1.5 schema nor of the official ``adaptivecards`` renderer our card checks use (they
would fail validation and show nothing on clients without chart support, e.g. older mobile builds). An
``Image`` is 1.5, renders everywhere, and is served by the bot through a signed, expiring link (bot/security/links.py).
Why no plotting library: the picture is two polylines, a grid and a few digits; a ~150-line stdlib PNG writer
(zlib + struct) costs nothing at start-up, where matplotlib would add ~40 MB and seconds of import time.
"""

from __future__ import annotations

import struct
import zlib
from collections.abc import Sequence

from bot.health.snapshot import TrendPoint

RGB = tuple[int, int, int]
WHITE: RGB = (255, 255, 255)
GRID: RGB = (225, 228, 233)
AXIS: RGB = (120, 124, 130)
BLUE: RGB = (70, 71, 117)  # Teams purple-blue: members
ORANGE: RGB = (196, 49, 75)  # response time
TEXT: RGB = (60, 60, 60)

# 3x5 bitmap glyphs for the axis labels (digits and a few signs)
GLYPHS: dict[str, tuple[str, ...]] = {
    "0": ("111", "101", "101", "101", "111"),
    "1": ("010", "110", "010", "010", "111"),
    "2": ("111", "001", "111", "100", "111"),
    "3": ("111", "001", "111", "001", "111"),
    "4": ("101", "101", "111", "001", "001"),
    "5": ("111", "100", "111", "001", "111"),
    "6": ("111", "100", "111", "101", "111"),
    "7": ("111", "001", "010", "010", "010"),
    "8": ("111", "101", "111", "101", "111"),
    "9": ("111", "101", "111", "001", "111"),
    "-": ("000", "000", "111", "000", "000"),
    ".": ("000", "000", "000", "000", "010"),
    "h": ("100", "100", "111", "101", "101"),
    " ": ("000", "000", "000", "000", "000"),
}


class Canvas:
    def __init__(self, width: int, height: int) -> None:
        self.width = width
        self.height = height
        self.pixels = bytearray(bytes(WHITE) * (width * height))

    def dot(self, x: int, y: int, colour: RGB) -> None:
        if 0 <= x < self.width and 0 <= y < self.height:
            i = (y * self.width + x) * 3
            self.pixels[i : i + 3] = bytes(colour)

    def rect(self, x0: int, y0: int, x1: int, y1: int, colour: RGB) -> None:
        for y in range(max(y0, 0), min(y1, self.height)):
            for x in range(max(x0, 0), min(x1, self.width)):
                self.dot(x, y, colour)

    def line(self, x0: int, y0: int, x1: int, y1: int, colour: RGB, thick: int = 1) -> None:
        dx, dy = abs(x1 - x0), -abs(y1 - y0)
        sx, sy = (1 if x0 < x1 else -1), (1 if y0 < y1 else -1)
        err = dx + dy
        while True:
            self.rect(x0 - thick // 2, y0 - thick // 2, x0 - thick // 2 + thick, y0 - thick // 2 + thick, colour)
            if x0 == x1 and y0 == y1:
                return
            e2 = 2 * err
            if e2 >= dy:
                err += dy
                x0 += sx
            if e2 <= dx:
                err += dx
                y0 += sy

    def write(self, x: int, y: int, label: str, colour: RGB = TEXT, scale: int = 2) -> None:
        for ch in label:
            glyph = GLYPHS.get(ch, GLYPHS[" "])
            for row, bits in enumerate(glyph):
                for col, bit in enumerate(bits):
                    if bit == "1":
                        self.rect(
                            x + col * scale, y + row * scale, x + (col + 1) * scale, y + (row + 1) * scale, colour
                        )
            x += 4 * scale

    def png(self) -> bytes:
        raw = b"".join(
            b"\x00" + bytes(self.pixels[y * self.width * 3 : (y + 1) * self.width * 3]) for y in range(self.height)
        )

        def chunk(kind: bytes, data: bytes) -> bytes:
            return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

        header = struct.pack(">IIBBBBB", self.width, self.height, 8, 2, 0, 0, 0)
        return (
            b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(raw, 6)) + chunk(b"IEND", b"")
        )


def _label(value: float, suffix: str = "") -> str:
    return (f"{value:.0f}" if value >= 10 or value == int(value) else f"{value:.1f}") + suffix


def _panel(
    canvas: Canvas, top: int, height: int, values: Sequence[float | None], colour: RGB, suffix: str = ""
) -> None:
    left, right = 56, canvas.width - 12
    bottom = top + height
    for i in range(5):
        y = top + i * height // 4
        canvas.line(left, y, right, y, GRID)
    canvas.line(left, top, left, bottom, AXIS)
    canvas.line(left, bottom, right, bottom, AXIS)
    known = [v for v in values if v is not None]
    if not known:
        return
    low, high = min(0.0, min(known)), max(known)
    if high == low:
        high = low + 1
    canvas.write(4, top - 4, _label(high, suffix))
    canvas.write(4, bottom - 6, _label(low, suffix))
    span = max(len(values) - 1, 1)
    previous: tuple[int, int] | None = None
    for i, value in enumerate(values):
        if value is None:
            previous = None
            continue
        x = left + 2 + round(i * (right - left - 4) / span)
        y = bottom - round((value - low) / (high - low) * (height - 2)) - 1
        if previous is not None:
            canvas.line(previous[0], previous[1], x, y, colour, thick=3)
        canvas.rect(x - 2, y - 2, x + 3, y + 3, colour)
        previous = (x, y)


def trend_png(points: Sequence[TrendPoint], width: int = 600, height: int = 300) -> bytes:
    """Two stacked panels: members (top, blue) and median hours to first response (bottom, red)."""
    canvas = Canvas(width, height)
    panel = (height - 60) // 2
    _panel(canvas, 14, panel, [float(p.members) for p in points], BLUE)
    _panel(canvas, 14 + panel + 24, panel, [p.median_response_hours for p in points], ORANGE, "h")
    if points:
        canvas.write(56, height - 14, points[0].day[5:])
        last = points[-1].day[5:]
        canvas.write(width - 12 - len(last) * 8, height - 14, last)
    return canvas.png()


def describe(points: Sequence[TrendPoint]) -> str:
    """The picture in words (alt text and the card's caption)."""
    if not points:
        return "No history yet."
    first, last = points[0], points[-1]
    members = f"Members {first.members} on {first.day} → {last.members} on {last.day}"
    medians = [p.median_response_hours for p in points if p.median_response_hours is not None]
    if not medians:
        return members + "; no response times yet."
    latest = medians[-1]
    return f"{members}; median first response now {latest:.0f} h (range {min(medians):.0f}-{max(medians):.0f} h)."
