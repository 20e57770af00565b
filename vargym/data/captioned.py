"""Procedural images with captions: the text-to-image world of the embedded ``tiny-t2i`` model.

Each image has four attributes drawn from small named palettes: the shape (the 10 procedural classes), its
colour (8 names), the background colour (8 other names) and, for the six shapes with an outline, its size
(small or large; the four textures have none). A caption names every attribute the image has, through one of
several templates and synonyms ("a small red circle on a navy background", "red ring, teal backdrop"), and
its metadata (the attribute names) is what the ``attr`` reward and the fidelity metric read.

Ten shape/colour pairs (`HELD_OUT_PAIRS`) never occur in the ``"seen"`` split that pretraining draws from;
``"held_out"`` draws only them, so a model's compositional generalisation can be measured.

The second stage (``objects=2``) draws two outlined shapes and their spatial relation on one background: "a red
circle left of a blue square on a navy background", "blue box to the right of a red disc, navy backdrop". Its
rows have the six `SCENE_ATTRIBUTES`: the first object (left or top: shape, colour), the second (``shape2``,
``color2``), the relation (``"left of"`` or ``"above"``, the first object's side) and the background; a caption
may name the pair in either order ("B right of A" is "A left of B"). A scene is held out when either of its
objects is a held-out pair.

Example:
    >>> images, attributes, captions = next(captioned_batches(8, seed=0))
    >>> captions[0], describe(attributes[0])
    >>> images, scenes, captions = next(captioned_batches(8, seed=0, objects=2))
"""

from __future__ import annotations

import re
from collections.abc import Iterator

import torch

from vargym.data.procedural import (
    _CX,
    _CY,
    _NUM_PARAMS,
    _SIZE,
    CLASS_NAMES,
    ProceduralConfig,
    _render,
    _shape_masks,
)

__all__ = ["ATTRIBUTES", "ATTRIBUTE_VALUES", "BACKGROUND_COLORS", "HELD_OUT_PAIRS", "OBJECTS", "RELATIONS",
           "SCENE_ATTRIBUTES", "SHAPE_COLORS", "SIZED_SHAPES", "attributes_from_metadata", "caption", "captioned_batches",
           "captioned_prompts", "describe", "draw", "draw_attributes", "draw_scenes", "render", "render_attributes",
           "render_scenes", "schema"]

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
"""The columns of a one-object row."""
RELATIONS = ("left of", "above")
"""Where a two-object scene's first object lies relative to its second."""
SCENE_ATTRIBUTES = ("shape", "color", "shape2", "color2", "relation", "background")
"""The columns of a two-object row (the first object is the left or upper one)."""
OBJECTS = (1, 2)
"""Objects per image: the first stage's one, the second stage's two."""
ATTRIBUTE_VALUES: dict[str, tuple[str, ...]] = {
    "shape": CLASS_NAMES, "color": tuple(SHAPE_COLORS), "background": tuple(BACKGROUND_COLORS), "size": SIZES,
    "shape2": CLASS_NAMES, "color2": tuple(SHAPE_COLORS), "relation": RELATIONS}
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
_TEMPLATES_SCENE = ("a {color} {shape} {relation} a {color2} {shape2} on a {background} background",
                    "{color} {shape} {relation} {color2} {shape2}, {background} backdrop",
                    "{background} background with a {color} {shape} {relation} a {color2} {shape2}")
_RELATION_WORDS = {"left of": ("left of", "to the left of"), "above": ("above", "over")}
_CONVERSE_WORDS = {"left of": ("right of", "to the right of"), "above": ("below", "under")}
_ARTICLE_BEFORE_VOWEL = re.compile(r"(^|\s)a ([aeiou])")  # "a orange" -> "an orange"
_COLOR_JITTER = 0.04
_SIZE_RANGES = ((0.0, 0.3), (0.7, 1.0))  # of the procedural size parameter: small, large
_SCENE_SIZE = (0.0, 0.15)  # both objects of a scene are small enough to sit side by side without touching
_SCENE_OFFSET = (0.45, 0.6)  # |centre| along the relation's axis, in half image sides
_SCENE_SPREAD = 0.35  # |centre| across it


def schema(width: int) -> tuple[str, ...]:
    """The attribute names of rows ``[N, width]``: `ATTRIBUTES` (4) or `SCENE_ATTRIBUTES` (6)."""
    if width == len(ATTRIBUTES):
        return ATTRIBUTES
    if width == len(SCENE_ATTRIBUTES):
        return SCENE_ATTRIBUTES
    raise ValueError(f"attribute rows have {len(ATTRIBUTES)} (one object) or {len(SCENE_ATTRIBUTES)} (two objects) "
                     f"columns, got {width}")


def _check_split(split: str) -> None:
    if split not in SPLITS:
        raise ValueError(f"split must be one of {SPLITS}, got {split!r}")


def _check_objects(objects: int) -> None:
    if objects not in OBJECTS:
        raise ValueError(f"objects must be one of {OBJECTS}, got {objects!r}")


def draw_attributes(num: int, generator: torch.Generator, split: str = "seen") -> torch.Tensor:
    """``num`` attribute rows int64 ``[num, 4]`` (shape, colour, background, size; size -1 for textures), uniform
    over the split's compositions."""
    _check_split(split)
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


def draw_scenes(num: int, generator: torch.Generator, split: str = "seen") -> torch.Tensor:
    """``num`` two-object rows int64 ``[num, 6]`` (`SCENE_ATTRIBUTES`): two different outlined shape/colour
    pairs, a relation and a background, uniform over the split's scenes (``"held_out"``: at least one object is
    a held-out pair; ``"seen"``: neither)."""
    _check_split(split)
    pairs = torch.tensor([(s, c) for s in range(SIZED_SHAPES) for c in range(len(SHAPE_COLORS))])  # [P, 2]
    held = torch.tensor([(int(s), int(c)) in HELD_OUT_PAIRS for s, c in pairs])  # [P]
    first, second = torch.meshgrid(torch.arange(len(pairs)), torch.arange(len(pairs)), indexing="ij")
    keep = first != second
    if split != "all":
        keep &= (held[first] | held[second]) == (split == "held_out")
    scenes = torch.stack([first[keep], second[keep]], dim=1)  # [S, 2] pair indices
    pick = scenes[torch.randint(len(scenes), (num,), generator=generator)]  # [num, 2]
    relation = torch.randint(len(RELATIONS), (num,), generator=generator)
    background = torch.randint(len(BACKGROUND_COLORS), (num,), generator=generator)
    return torch.cat([pairs[pick[:, 0]], pairs[pick[:, 1]], relation[:, None], background[:, None]], dim=1)


def render_scenes(scenes: torch.Tensor, generator: torch.Generator, image_size: int = 64,
                  config: ProceduralConfig | None = None) -> torch.Tensor:
    """Images ``[N, 3, H, W]`` in [0, 1] of two-object rows ``[N, 6]``: the first object left of (or above)
    the second, each in its own half, sizes, rotations and the position across the axis random."""
    config = config or ProceduralConfig(image_size=image_size)
    n = scenes.shape[0]
    palette = torch.tensor(list(SHAPE_COLORS.values()))
    jitter = (torch.rand(n, 3, 3, generator=generator) * 2 - 1) * _COLOR_JITTER
    bg = (torch.tensor(list(BACKGROUND_COLORS.values()))[scenes[:, 5]] + jitter[:, 2]).clamp(0, 1)
    image = bg[:, :, None, None].expand(n, 3, image_size, image_size)
    horizontal = scenes[:, 4] == RELATIONS.index("left of")
    for k, side in enumerate((-1.0, 1.0)):  # the first object on the negative side (left, or up: y grows down)
        params = torch.rand(n, _NUM_PARAMS, generator=generator)  # [N, P]
        params[:, _SIZE] = _SCENE_SIZE[0] + (_SCENE_SIZE[1] - _SCENE_SIZE[0]) * params[:, _SIZE]
        along = side * (_SCENE_OFFSET[0] + (_SCENE_OFFSET[1] - _SCENE_OFFSET[0]) * params[:, _CX])
        across = _SCENE_SPREAD * (2 * params[:, _CY] - 1)
        centre_x, centre_y = torch.where(horizontal, along, across), torch.where(horizontal, across, along)
        radius = config.min_scale + (config.max_scale - config.min_scale) * params[:, _SIZE]
        room = 1.0 - radius - 2.0 / image_size  # `_frame` maps [0, 1] to [-room, room]
        params[:, _CX], params[:, _CY] = (centre_x / room + 1) / 2, (centre_y / room + 1) / 2
        fg = (palette[scenes[:, 2 * k + 1]] + jitter[:, k]).clamp(0, 1)
        mask = _shape_masks(scenes[:, 2 * k], params, image_size, config)  # [N, 1, H, W]
        image = torch.lerp(image, fg[:, :, None, None], mask)
    if config.noise_std > 0:
        image = image + config.noise_std * torch.randn(n, 3, image_size, image_size, generator=generator)
    return image.clamp(0, 1)


def describe(row: torch.Tensor) -> dict[str, str]:
    """The attribute names of one row ``[4]`` or ``[6]`` (the caption's metadata; no ``size`` for a texture)."""
    if schema(row.shape[-1]) is SCENE_ATTRIBUTES:
        return {name: ATTRIBUTE_VALUES[name][int(v)] for name, v in zip(SCENE_ATTRIBUTES, row, strict=True)}
    shape, color, background, size = (int(v) for v in row)
    meta = {"shape": CLASS_NAMES[shape], "color": tuple(SHAPE_COLORS)[color],
            "background": tuple(BACKGROUND_COLORS)[background]}
    if size >= 0:
        meta["size"] = SIZES[size]
    return meta


def attributes_from_metadata(metadata: list[dict]) -> torch.Tensor:
    """Attribute rows int64 ``[N, 4]`` from captions' metadata (-1 where an attribute is not named); ``[N, 6]``
    (`SCENE_ATTRIBUTES`) when the metadata describes two-object scenes (they name a ``relation``)."""
    scenes = ["relation" in meta for meta in metadata]
    if any(scenes) and not all(scenes):
        raise ValueError("metadata mixes one-object captions and two-object scenes (with a 'relation'): score "
                         "each kind with the classifier trained on it, in separate batches")
    names = SCENE_ATTRIBUTES if any(scenes) else ATTRIBUTES
    rows = []
    for i, meta in enumerate(metadata):
        row = []
        for name in names:
            value = meta.get(name)
            if value is not None and value not in ATTRIBUTE_VALUES[name]:
                raise ValueError(f"metadata[{i}][{name!r}] = {value!r} is not one of {ATTRIBUTE_VALUES[name]}")
            row.append(-1 if value is None else ATTRIBUTE_VALUES[name].index(value))
        rows.append(row)
    return torch.tensor(rows, dtype=torch.long).reshape(-1, len(names))


def caption(row: torch.Tensor, generator: torch.Generator) -> str:
    """A caption of one attribute row, its template and synonyms drawn with ``generator``."""

    def pick(options: tuple[str, ...]) -> str:
        return options[int(torch.randint(len(options), (1,), generator=generator))]

    meta = describe(row)
    words = {"shape": pick(_SHAPE_WORDS[meta["shape"]]), "color": meta["color"], "background": meta["background"]}
    if "relation" in meta:
        words |= {"shape2": pick(_SHAPE_WORDS[meta["shape2"]]), "color2": meta["color2"]}
        if int(torch.randint(2, (1,), generator=generator)):  # the converse: "B right of A" is "A left of B"
            words |= {"shape": words["shape2"], "color": words["color2"], "shape2": words["shape"],
                      "color2": words["color"], "relation": pick(_CONVERSE_WORDS[meta["relation"]])}
        else:
            words["relation"] = pick(_RELATION_WORDS[meta["relation"]])
        text = pick(_TEMPLATES_SCENE).format(**words)
    elif "size" in meta:
        text = pick(_TEMPLATES_SIZED).format(size=pick(_SIZE_WORDS[meta["size"]]), **words)
    else:
        text = pick(_TEMPLATES_TEXTURE).format(**words)
    return _ARTICLE_BEFORE_VOWEL.sub(r"\1an \2", text)


def draw(num: int, generator: torch.Generator, split: str = "seen", objects: int = 1) -> torch.Tensor:
    """`draw_attributes` (``objects=1``, rows ``[num, 4]``) or `draw_scenes` (``objects=2``, ``[num, 6]``)."""
    _check_objects(objects)
    return draw_attributes(num, generator, split) if objects == 1 else draw_scenes(num, generator, split)


def render(rows: torch.Tensor, generator: torch.Generator, image_size: int = 64) -> torch.Tensor:
    """`render_attributes` or `render_scenes`, by the rows' width."""
    if schema(rows.shape[-1]) is SCENE_ATTRIBUTES:
        return render_scenes(rows, generator, image_size)
    return render_attributes(rows, generator, image_size)


def captioned_batches(batch_size: int, seed: int = 0, split: str = "seen", image_size: int = 64, objects: int = 1,
                      ) -> Iterator[tuple[torch.Tensor, torch.Tensor, list[str]]]:
    """An endless seeded stream of ``(images [B, 3, H, W], attributes [B, 4] (objects=2: [B, 6]), captions [B])``."""
    _check_split(split)  # now, not at the first batch
    _check_objects(objects)
    return _stream(batch_size, seed, split, image_size, objects)


def _stream(batch_size: int, seed: int, split: str, image_size: int, objects: int
            ) -> Iterator[tuple[torch.Tensor, torch.Tensor, list[str]]]:
    generator = torch.Generator().manual_seed(int(seed))
    while True:
        attributes = draw(batch_size, generator, split, objects)
        images = render(attributes, generator, image_size)
        yield images, attributes, [caption(row, generator) for row in attributes]


def captioned_prompts(num: int, seed: int = 0, split: str = "seen", objects: int = 1,
                      ) -> tuple[tuple[str, ...], tuple[dict, ...]]:
    """``num`` distinct captions and their attribute metadata, seeded (`vargym.data.load_prompts("procedural")`
    makes a `vargym.data.PromptSet` of them)."""
    generator = torch.Generator().manual_seed(int(seed))
    prompts: dict[str, dict] = {}
    for _ in range(100 * num):
        row = draw(1, generator, split, objects)[0]
        prompts.setdefault(caption(row, generator), describe(row))
        if len(prompts) == num:
            break
    return tuple(prompts), tuple(prompts.values())
