"""Draws the two Teams app icons with Pillow: ``python -m deployment.icons`` rewrites them in place.

Teams wants a 192x192 full-colour icon (the logo on a solid background, shown in the app store and the
app bar) and a 32x32 outline icon (white strokes on a transparent background, tinted by Teams). The logo
is three linked circles (people in a community), kept simple so it still
reads at 32 pixels. The PNGs are committed so packaging needs no Pillow; this script is how they were made.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from PIL import Image, ImageDraw

HERE = Path(__file__).resolve().parent
COLOR_PATH = HERE / "appPackage" / "color.png"
OUTLINE_PATH = HERE / "appPackage" / "outline.png"

ACCENT = "#4B53BC"  # Teams-like indigo; also the manifest's accentColor
COLOR_SIZE = 192
OUTLINE_SIZE = 32
SUPERSAMPLE = 4  # draw large, then downscale, for smooth edges

_WHITE = (255, 255, 255, 255)


def _logo(draw: ImageDraw.ImageDraw, size: int, stroke: int) -> None:
    """Three rings in a triangle joined by lines: a small community of practice."""
    r = size * 0.14
    centres = [(size * 0.5, size * 0.30), (size * 0.28, size * 0.66), (size * 0.72, size * 0.66)]
    for i, (x1, y1) in enumerate(centres):
        x2, y2 = centres[(i + 1) % 3]
        draw.line([(x1, y1), (x2, y2)], fill=_WHITE, width=stroke)
    for x, y in centres:
        draw.ellipse([x - r, y - r, x + r, y + r], fill=_WHITE)


def color_icon() -> Image.Image:
    big = COLOR_SIZE * SUPERSAMPLE
    image = Image.new("RGB", (big, big), ACCENT)
    # The logo sits inside the central safe area so Teams' rounded-corner mask never clips it.
    inset = big * 0.16
    inner = big - 2 * inset
    logo = Image.new("RGBA", (round(inner), round(inner)), (0, 0, 0, 0))
    _logo(ImageDraw.Draw(logo), round(inner), stroke=round(inner * 0.06))
    image.paste(logo, (round(inset), round(inset)), logo)
    return image.resize((COLOR_SIZE, COLOR_SIZE), Image.Resampling.LANCZOS)


def outline_icon() -> Image.Image:
    big = OUTLINE_SIZE * SUPERSAMPLE
    image = Image.new("RGBA", (big, big), (0, 0, 0, 0))
    _logo(ImageDraw.Draw(image), big, stroke=round(big * 0.08))
    small = image.resize((OUTLINE_SIZE, OUTLINE_SIZE), Image.Resampling.LANCZOS)
    # Teams requires only white and transparent pixels: keep the anti-aliasing in alpha, force RGB to white.
    white = Image.new("RGBA", small.size, _WHITE)
    white.putalpha(small.getchannel("A"))
    return white


def write(color_path: Path = COLOR_PATH, outline_path: Path = OUTLINE_PATH) -> None:
    color_path.parent.mkdir(parents=True, exist_ok=True)
    color_icon().save(color_path, format="PNG", optimize=True)
    outline_icon().save(outline_path, format="PNG", optimize=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Draw the Teams app icons (color.png, outline.png).")
    parser.add_argument("--out-dir", type=Path, default=COLOR_PATH.parent)
    args = parser.parse_args(argv)
    write(args.out_dir / "color.png", args.out_dir / "outline.png")
    print(f"wrote {args.out_dir / 'color.png'} and {args.out_dir / 'outline.png'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
