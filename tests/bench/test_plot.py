"""PIL plots: valid PNGs, bands drawn, ticks that cover the data, input checks."""

from __future__ import annotations

import math

import pytest
from PIL import Image

from vargym.bench.plot import PALETTE, Series, bar_plot, line_plot, nice_ticks, tile


def test_line_plot_writes_a_png_with_lines_and_bands(tmp_path):
    x = [8.0, 16.0, 24.0, 32.0]
    series = [
        Series("grpo", x, [0.1, 0.3, 0.5, 0.6], low=[0.0, 0.2, 0.4, 0.5], high=[0.2, 0.4, 0.6, 0.7]),
        Series("ppo", x, [0.1, 0.2, math.nan, 0.3]),
    ]
    path = tmp_path / "plot.png"
    line_plot(series, "reward vs samples", "samples", "reward").save(path)
    with Image.open(path) as image:
        assert image.format == "PNG" and image.size == (640, 400)
        pixels = {color for _, color in image.convert("RGB").getcolors(640 * 400)}
    assert PALETTE[0] in pixels and PALETTE[1] in pixels  # both lines drawn
    # the translucent band blends the first colour with white: a light blue that is neither
    band = tuple(round(255 + (c - 255) * 56 / 255) for c in PALETTE[0])
    assert any(all(abs(p - b) <= 2 for p, b in zip(px, band)) for px in pixels)


def test_bar_plot_and_tile():
    bars = bar_plot(["grpo", "ppo"], [3.0, 5.0], [(2.5, 3.5), (4.0, 6.5)], "wall time", "seconds")
    sheet = tile([bars, bars, bars], columns=2)
    assert sheet.size == (1280, 800)
    assert PALETTE[1] in {color for _, color in bars.getcolors(640 * 400)}


@pytest.mark.parametrize("low, high", [(0.498, 0.5085), (0.0, 1.57), (8, 24), (-0.3, 0.7), (5, 5)])
def test_nice_ticks_cover_the_range(low, high):
    ticks = nice_ticks(low, high)
    assert ticks[0] <= low and ticks[-1] >= high and len(ticks) >= 2
    steps = {round(b - a, 9) for a, b in zip(ticks, ticks[1:])}
    assert len(steps) == 1


def test_plot_input_errors():
    with pytest.raises(ValueError, match="x has 2 points but y/low/high has 3"):
        line_plot([Series("a", [0, 1], [0, 1, 2])])
    with pytest.raises(ValueError, match="one entry per bar"):
        bar_plot(["a"], [1.0, 2.0])
    with pytest.raises(ValueError, match="tick range must be finite"):
        nice_ticks(0.0, math.inf)
