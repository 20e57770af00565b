"""Small PIL line and bar plots (matplotlib is not a dependency): axes, ticks, legend, shaded bands.

Example:
    >>> image = line_plot([Series("grpo", [0, 64, 128], [0.1, 0.3, 0.5], low=[0.0, 0.2, 0.4],
    ...                           high=[0.2, 0.4, 0.6])], "reward vs samples", "samples", "reward")
    >>> image.save("reward.png")
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

__all__ = ["PALETTE", "Series", "bar_plot", "line_plot", "nice_ticks", "tile"]

# Colour-blind-safe palette (Okabe-Ito).
PALETTE = [
    (0, 114, 178),
    (230, 159, 0),
    (0, 158, 115),
    (204, 121, 167),
    (86, 180, 233),
    (213, 94, 0),
    (0, 0, 0),
]
SIZE = (640, 400)
MARGIN = (64, 46, 20, 44)  # left, top, right, bottom (pixels)


@dataclass
class Series:
    """One line: points ``(x[i], y[i])``, optionally a band between ``low[i]`` and ``high[i]``."""

    name: str
    x: Sequence[float]
    y: Sequence[float]
    low: Sequence[float] | None = None
    high: Sequence[float] | None = None


def nice_ticks(low: float, high: float, count: int = 5) -> list[float]:
    """About ``count`` round tick values (steps of 1, 2 or 5 x 10^k) covering ``[low, high]``."""
    if not (math.isfinite(low) and math.isfinite(high)):
        raise ValueError(f"tick range must be finite, got [{low}, {high}]")
    if high <= low:
        high = low + (abs(low) or 1.0)
    raw = (high - low) / max(count, 1)
    magnitude = 10 ** math.floor(math.log10(raw))
    step = next(m * magnitude for m in (1, 2, 5, 10) if m * magnitude >= raw)
    first = math.floor(low / step) * step
    ticks = [round(first, 12)]
    while ticks[-1] < high - step * 1e-9:  # the last tick must cover high
        ticks.append(round(first + len(ticks) * step, 12))
    return ticks if len(ticks) > 1 else [ticks[0], round(ticks[0] + step, 12)]


def _font(size: int = 12):
    from PIL import ImageFont

    try:
        return ImageFont.load_default(size=size)
    except TypeError:  # Pillow < 10.1 has only the fixed bitmap font
        return ImageFont.load_default()


def _label(value: float, step: float) -> str:
    if value == 0:
        return "0"
    if abs(value) >= 1e4 or abs(value) < 1e-3:
        return f"{value:.1e}"
    decimals = max(0, -math.floor(math.log10(step))) if step < 1 else 0
    return f"{value:.{decimals}f}"


class _Axes:
    """Maps data to pixels and draws the frame, grid, ticks, title and axis labels."""

    def __init__(
        self,
        draw,
        xs: list[float],
        ys: list[float],
        title: str,
        xlabel: str,
        ylabel: str,
        categories: int = 0,
    ) -> None:
        self.draw, self.font = draw, _font()
        finite_x = [v for v in xs if math.isfinite(v)] or [0.0, 1.0]
        finite_y = [v for v in ys if math.isfinite(v)] or [0.0, 1.0]
        # categorical x (bars): slots 0..categories, no numeric x ticks
        self.categories = categories
        self.xticks = [0.0, float(categories)] if categories else nice_ticks(min(finite_x), max(finite_x))
        self.yticks = nice_ticks(min(finite_y), max(finite_y))
        left, top, right, bottom = MARGIN
        self.box = (left, top, SIZE[0] - right, SIZE[1] - bottom)
        self._frame(title, xlabel, ylabel)

    def px(self, x: float, y: float) -> tuple[float, float]:
        x0, y0, x1, y1 = self.box
        (a, b), (c, d) = (self.xticks[0], self.xticks[-1]), (self.yticks[0], self.yticks[-1])
        return x0 + (x - a) / (b - a) * (x1 - x0), y1 - (y - c) / (d - c) * (y1 - y0)

    def _frame(self, title: str, xlabel: str, ylabel: str) -> None:
        draw, font = self.draw, self.font
        x0, y0, x1, y1 = self.box
        xstep = self.xticks[1] - self.xticks[0]
        ystep = self.yticks[1] - self.yticks[0]
        for tick in [] if self.categories else self.xticks:
            px, _ = self.px(tick, self.yticks[0])
            draw.line([(px, y0), (px, y1)], fill=(230, 230, 230))
            draw.line([(px, y1), (px, y1 + 4)], fill=(0, 0, 0))
            draw.text((px, y1 + 6), _label(tick, xstep), fill=(0, 0, 0), font=font, anchor="ma")
        for tick in self.yticks:
            _, py = self.px(self.xticks[0], tick)
            draw.line([(x0, py), (x1, py)], fill=(230, 230, 230))
            draw.line([(x0 - 4, py), (x0, py)], fill=(0, 0, 0))
            draw.text((x0 - 6, py), _label(tick, ystep), fill=(0, 0, 0), font=font, anchor="rm")
        draw.rectangle(self.box, outline=(0, 0, 0))
        draw.text(((x0 + x1) / 2, 8), title, fill=(0, 0, 0), font=font, anchor="ma")
        draw.text(((x0 + x1) / 2, SIZE[1] - 6), xlabel, fill=(0, 0, 0), font=font, anchor="md")
        draw.text((4, y0 - 24), ylabel, fill=(0, 0, 0), font=font)

    def legend(self, names: list[str]) -> None:
        draw, font = self.draw, self.font
        if not names:
            return
        width = max(int(draw.textlength(n, font=font)) for n in names) + 34
        x0, y0 = self.box[0] + 8, self.box[1] + 8
        draw.rectangle(
            (x0, y0, x0 + width, y0 + 16 * len(names) + 6), fill=(255, 255, 255), outline=(160,) * 3
        )
        for i, name in enumerate(names):
            y = y0 + 11 + 16 * i
            color = PALETTE[i % len(PALETTE)]
            draw.line([(x0 + 6, y), (x0 + 24, y)], fill=color, width=3)
            draw.text((x0 + 30, y), name, fill=(0, 0, 0), font=font, anchor="lm")


def line_plot(series: Sequence[Series], title: str = "", xlabel: str = "", ylabel: str = ""):
    """Draw lines (and min-max or mean±std bands, as translucent polygons) on one pair of axes.

    Args:
        series: the lines; colours follow `PALETTE` in order; non-finite points are skipped.
        title, xlabel, ylabel: texts.

    Returns:
        an RGB ``PIL.Image.Image`` of `SIZE`.
    """
    from PIL import Image, ImageDraw

    for s in series:
        for part in (s.y, s.low, s.high):
            if part is not None and len(part) != len(s.x):
                raise ValueError(f"series {s.name!r}: x has {len(s.x)} points but y/low/high has {len(part)}")
    image = Image.new("RGBA", SIZE, (255, 255, 255, 255))
    draw = ImageDraw.Draw(image)
    xs = [float(v) for s in series for v in s.x]
    ys = [float(v) for s in series for part in (s.y, s.low, s.high) if part is not None for v in part]
    axes = _Axes(draw, xs, ys, title, xlabel, ylabel)
    layer = Image.new("RGBA", SIZE, (0, 0, 0, 0))
    band_draw = ImageDraw.Draw(layer)
    for i, s in enumerate(series):
        if s.low is None or s.high is None:
            continue
        points = [
            (x, lo, hi) for x, lo, hi in zip(s.x, s.low, s.high) if math.isfinite(lo) and math.isfinite(hi)
        ]
        if len(points) >= 2:
            upper = [axes.px(x, hi) for x, _, hi in points]
            lower = [axes.px(x, lo) for x, lo, _ in reversed(points)]
            band_draw.polygon(upper + lower, fill=(*PALETTE[i % len(PALETTE)], 56))
    image.alpha_composite(layer)
    for i, s in enumerate(series):
        color = PALETTE[i % len(PALETTE)]
        points = [axes.px(x, y) for x, y in zip(s.x, s.y) if math.isfinite(x) and math.isfinite(y)]
        if len(points) >= 2:
            draw.line(points, fill=color, width=2, joint="curve")
        if len(points) <= 40:
            for px, py in points:
                draw.ellipse((px - 2.5, py - 2.5, px + 2.5, py + 2.5), fill=color)
    axes.legend([s.name for s in series])
    return image.convert("RGB")


def bar_plot(
    names: Sequence[str],
    values: Sequence[float],
    ranges: Sequence[tuple[float, float]] | None = None,
    title: str = "",
    ylabel: str = "",
):
    """Vertical bars from zero, one per name, with optional ``(low, high)`` whiskers.

    Returns:
        an RGB ``PIL.Image.Image`` of `SIZE`.
    """
    from PIL import Image, ImageDraw

    if len(names) != len(values) or (ranges is not None and len(ranges) != len(values)):
        raise ValueError(f"names, values and ranges need one entry per bar, got {len(names)}, {len(values)}")
    image = Image.new("RGB", SIZE, (255, 255, 255))
    draw = ImageDraw.Draw(image)
    tops = [float(v) for v in values] + [float(hi) for _, hi in (ranges or [])]
    axes = _Axes(draw, [], [0.0, *tops], title, "", ylabel, categories=max(len(values), 1))
    for i, (name, value) in enumerate(zip(names, values)):
        color = PALETTE[i % len(PALETTE)]
        left, base = axes.px(i + 0.2, 0.0)
        right, top = axes.px(i + 0.8, float(value))
        draw.rectangle((left, top, right, base), fill=color)
        if ranges is not None:
            low, high = ranges[i]
            middle = (left + right) / 2
            _, y_low = axes.px(i, float(low))
            _, y_high = axes.px(i, float(high))
            draw.line([(middle, y_low), (middle, y_high)], fill=(0, 0, 0), width=2)
            for y in (y_low, y_high):
                draw.line([(middle - 6, y), (middle + 6, y)], fill=(0, 0, 0), width=2)
        draw.text(((left + right) / 2, base + 6), name, fill=(0, 0, 0), font=axes.font, anchor="ma")
    return image


def tile(images: Sequence, columns: int = 2):
    """Paste equally sized images into a grid (row-major); returns one RGB image."""
    from PIL import Image

    if not images:
        raise ValueError("tile needs at least one image")
    width, height = images[0].size
    rows = -(-len(images) // columns)
    sheet = Image.new("RGB", (width * columns, height * rows), (255, 255, 255))
    for i, image in enumerate(images):
        sheet.paste(image, ((i % columns) * width, (i // columns) * height))
    return sheet
