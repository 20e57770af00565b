"""Procedural images with captions: the text-to-image world of the embedded ``tiny-t2i`` model.

Each image has four attributes drawn from small named palettes: the shape (the 10 procedural classes), its
colour (8 names), the background colour (8 other names) and, for the six shapes with an outline, its size
(small or large; the four textures have none). A caption names every attribute the image has, through one of
several templates and synonyms ("a small red circle on a navy background", "red ring, teal backdrop"), and
its metadata (the attribute names) is what the ``attr`` reward and the fidelity metric read.

Ten shape/colour pairs (`HELD_OUT_PAIRS`) never occur in the ``"seen"`` split that pretraining draws from;
``"held_out"`` draws only them, so a model's compositional generalisation can be measured.

Example:
    >>> images, attributes, captions = next(captioned_batches(8, seed=0))
    >>> captions[0], describe(attributes[0])
"""

from __future__ import annotations

import re
from collections.abc import Iterator

import torch

from vargym.data.procedural import _NUM_PARAMS, _SIZE, CLASS_NAMES, ProceduralConfig, _render

__all__ = ["ATTRIBUTES", "ATTRIBUTE_VALUES", "BACKGROUND_COLORS", "HELD_OUT_PAIRS", "SHAPE_COLORS", "SIZED_SHAPES",
           "attributes_from_metadata", "caption", "captioned_batches", "captioned_prompts", "describe",
           "draw_attributes", "render_attributes"]

SHAPE_COLORS: dict[str, tuple[float, float, float]] = {
    "red": (0.90, 0.12, 0.12), "orange": (1.00, 0.55, 0.08), "yellow": (0.95, 0.90, 0.15),
    "green": (0.15, 0.75, 0.20), "cyan": (0.20, 0.85, 0.90), "blue": (0.15, 0.30, 0.95),
    "purple": (0.60, 0.20, 0.85), "pink": (1.00, 0.55, 0.78),
}
"""The shape's colour names and their RGB in [0, 1]."""
BACKGROUND_COLORS: dict[str, tuple[float, float, float]] = {
    "white": (0.95, 0.95, 0.95), "black": (0.05, 0.05, 0.05), "gray": (0.50, 0.50, 0.50),
    "navy": (0.05, 0.10, 0.38), "beige": (0.90, 0.84, 0.66), "olive": (0.45, 0.45, 0.10),
    "maroon": (0.45, 0.05, 0.12), "teal": (0.05, 0.45, 0.45),
}
"""The background's colour names (another palette, so a shape never vanishes into its background)."""
SIZES = ("small", "large")
SIZED_SHAPES = 6
"""Shapes ``0..5`` (circle .. star) have a size; the textures (stripes, checkerboard, gradient) have none."""
ATTRIBUTES = ("shape", "color", "background", "size")
ATTRIBUTE_VALUES: dict[str, tuple[str, ...]] = {"shape": CLASS_NAMES, "color": tuple(SHAPE_COLORS),
                                                "background": tuple(BACKGROUND_COLORS), "size": SIZES}
HELD_OUT_PAIRS = frozenset((shape, (3 * shape + 1) % len(SHAPE_COLORS)) for shape in range(len(CLASS_NAMES)))
"""(shape, colour) index pairs kept out of the ``"seen"`` split: one colour per shape, every colour used."""
SPLITS = ("seen", "held_out", "all")

_SHAPE_WORDS = {
    "circle": ("circle", "disc"), "square": ("square", "box"), "triangle": ("triangle",), "ring": ("ring", "donut"),
    "cross": ("cross", "plus sign"), "star": ("star",), "horizontal_stripes": ("horizontal stripes", "horizontal lines"),
    "vertical_stripes": ("vertical stripes", "vertical lines"), "checkerboard": ("checkerboard", "checker pattern"),
    "gradient": ("gradient", "color fade"),
}
_SIZE_WORDS = {"small": ("small", "little"), "large": ("large", "big")}
_TEMPLATES_SIZED = ("a {size} {color} {shape} on a {background} background", "{size} {color} {shape}, {background} backdrop",
                    "a {color} {shape}, {size}, against {background}", "{background} background with a {size} {color} {shape}")
_TEMPLATES_TEXTURE = ("{color} {shape} on a {background} background", "{color} {shape}, {background} backdrop",
                      "{color} {shape} against {background}", "{background} background with {color} {shape}")
_ARTICLE_BEFORE_VOWEL = re.compile(r"(^|\s)a ([aeiou])")  # "a orange" -> "an orange"
_COLOR_JITTER = 0.04
_SIZE_RANGES = ((0.0, 0.3), (0.7, 1.0))  # of the procedural size parameter: small, large


def draw_attributes(num: int, generator: torch.Generator, split: str = "seen") -> torch.Tensor:
    """``num`` attribute rows int64 ``[num, 4]`` (shape, colour, background, size; size -1 for textures), uniform
    over the split's compositions."""
    if split not in SPLITS:
        raise ValueError(f"split must be one of {SPLITS}, got {split!r}")
    pairs = [(s, c) for s in range(len(CLASS_NAMES)) for c in range(len(SHAPE_COLORS))
             if split == "all" or ((s, c) in HELD_OUT_PAIRS) == (split == "held_out")]
    pairs_t = torch.tensor(pairs)
    pick = pairs_t[torch.randint(len(pairs), (num,), generator=generator)]  # [num, 2]
    background = torch.randint(len(BACKGROUND_COLORS), (num,), generator=generator)
    size = torch.randint(len(SIZES), (num,), generator=generator)
    size = torch.where(pick[:, 0] < SIZED_SHAPES, size, -1)
    return torch.stack([pick[:, 0], pick[:, 1], background, size], dim=1)


def render_attributes(attributes: torch.Tensor, generator: torch.Generator, image_size: int = 64,
                      config: ProceduralConfig | None = None) -> torch.Tensor:
    """Images ``[N, 3, H, W]`` in [0, 1] showing ``attributes`` ``[N, 4]`` (position, rotation and pattern
    details random, colours jittered by a few percent)."""
    config = config or ProceduralConfig(image_size=image_size)
    n = attributes.shape[0]
    params = torch.rand(n, _NUM_PARAMS, generator=generator)  # [N, P]
    noise = torch.randn(n, 3, image_size, image_size, generator=generator)
    ranges = torch.tensor(_SIZE_RANGES)[attributes[:, 3].clamp_min(0)]  # [N, 2]
    params[:, _SIZE] = ranges[:, 0] + (ranges[:, 1] - ranges[:, 0]) * params[:, _SIZE]
    jitter = (torch.rand(n, 2, 3, generator=generator) * 2 - 1) * _COLOR_JITTER
    fg = (torch.tensor(list(SHAPE_COLORS.values()))[attributes[:, 1]] + jitter[:, 0]).clamp(0, 1)
    bg = (torch.tensor(list(BACKGROUND_COLORS.values()))[attributes[:, 2]] + jitter[:, 1]).clamp(0, 1)
    return _render(attributes[:, 0], params, noise, image_size, config, background=bg, foreground=fg)


def describe(row: torch.Tensor) -> dict[str, str]:
    """The attribute names of one row ``[4]`` (the caption's metadata; no ``size`` for a texture)."""
    shape, color, background, size = (int(v) for v in row)
    meta = {"shape": CLASS_NAMES[shape], "color": tuple(SHAPE_COLORS)[color],
            "background": tuple(BACKGROUND_COLORS)[background]}
    if size >= 0:
        meta["size"] = SIZES[size]
    return meta


def attributes_from_metadata(metadata: list[dict]) -> torch.Tensor:
    """Attribute rows int64 ``[N, 4]`` from captions' metadata (-1 where an attribute is not named)."""
    rows = []
    for i, meta in enumerate(metadata):
        row = []
        for name in ATTRIBUTES:
            value = meta.get(name)
            if value is not None and value not in ATTRIBUTE_VALUES[name]:
                raise ValueError(f"metadata[{i}][{name!r}] = {value!r} is not one of {ATTRIBUTE_VALUES[name]}")
            row.append(-1 if value is None else ATTRIBUTE_VALUES[name].index(value))
        rows.append(row)
    return torch.tensor(rows, dtype=torch.long).reshape(-1, len(ATTRIBUTES))


def caption(row: torch.Tensor, generator: torch.Generator) -> str:
    """A caption of one attribute row, its template and synonyms drawn with ``generator``."""

    def pick(options: tuple[str, ...]) -> str:
        return options[int(torch.randint(len(options), (1,), generator=generator))]

    meta = describe(row)
    words = {"shape": pick(_SHAPE_WORDS[meta["shape"]]), "color": meta["color"], "background": meta["background"]}
    if "size" in meta:
        text = pick(_TEMPLATES_SIZED).format(size=pick(_SIZE_WORDS[meta["size"]]), **words)
    else:
        text = pick(_TEMPLATES_TEXTURE).format(**words)
    return _ARTICLE_BEFORE_VOWEL.sub(r"\1an \2", text)


def captioned_batches(batch_size: int, seed: int = 0, split: str = "seen", image_size: int = 64,
                      ) -> Iterator[tuple[torch.Tensor, torch.Tensor, list[str]]]:
    """An endless seeded stream of ``(images [B, 3, H, W], attributes [B, 4], captions [B])``."""
    generator = torch.Generator().manual_seed(int(seed))
    while True:
        attributes = draw_attributes(batch_size, generator, split)
        images = render_attributes(attributes, generator, image_size)
        yield images, attributes, [caption(row, generator) for row in attributes]


def captioned_prompts(num: int, seed: int = 0, split: str = "seen") -> tuple[tuple[str, ...], tuple[dict, ...]]:
    """``num`` distinct captions and their attribute metadata, seeded (`vargym.data.load_prompts("procedural")`
    makes a `vargym.data.PromptSet` of them)."""
    generator = torch.Generator().manual_seed(int(seed))
    prompts: dict[str, dict] = {}
    for _ in range(100 * num):
        row = draw_attributes(1, generator, split)[0]
        prompts.setdefault(caption(row, generator), describe(row))
        if len(prompts) == num:
            break
    return tuple(prompts), tuple(prompts.values())
