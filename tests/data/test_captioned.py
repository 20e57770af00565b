"""The captioned procedural world: attributes, captions and their metadata, the held-out split, rendering."""

import pytest
import torch

from vargym.data.captioned import (
    ATTRIBUTE_VALUES,
    BACKGROUND_COLORS,
    HELD_OUT_PAIRS,
    SHAPE_COLORS,
    SIZED_SHAPES,
    attributes_from_metadata,
    caption,
    captioned_batches,
    captioned_prompts,
    describe,
    draw_attributes,
    render_attributes,
)


def test_splits_partition_the_compositions():
    generator = torch.Generator().manual_seed(0)
    seen = draw_attributes(4000, generator, "seen")
    held = draw_attributes(500, generator, "held_out")
    pairs = lambda rows: {(int(s), int(c)) for s, c in rows[:, :2]}  # noqa: E731
    assert not pairs(seen) & HELD_OUT_PAIRS and pairs(held) <= HELD_OUT_PAIRS
    assert len(pairs(seen)) == 80 - len(HELD_OUT_PAIRS) and len(pairs(held)) == len(HELD_OUT_PAIRS)
    assert {c for _, c in HELD_OUT_PAIRS} == set(range(len(SHAPE_COLORS)))  # every colour has a held-out shape
    assert ((seen[:, 3] == -1) == (seen[:, 0] >= SIZED_SHAPES)).all()  # textures have no size
    with pytest.raises(ValueError, match="split must be one of"):
        draw_attributes(1, generator, "train")


def test_captions_name_every_attribute_and_metadata_round_trips():
    generator = torch.Generator().manual_seed(1)
    rows = draw_attributes(300, generator, "all")
    for row in rows:
        text, meta = caption(row, generator), describe(row)
        assert meta["color"] in text and meta["background"] in text
        assert ("size" in meta) == (int(row[3]) >= 0)
    metadata = [describe(row) for row in rows]
    assert torch.equal(attributes_from_metadata(metadata), rows)
    with pytest.raises(ValueError, match="'mauve' is not one of"):
        attributes_from_metadata([{"color": "mauve"}])


def test_captions_use_an_before_a_vowel():
    generator = torch.Generator().manual_seed(4)
    texts = [caption(row, generator) for row in draw_attributes(2000, generator, "all")]
    words = [text.split() for text in texts]
    pairs = [(w[i], w[i + 1]) for w in words for i in range(len(w) - 1) if w[i] in ("a", "an")]
    assert ("an", "orange") in pairs and ("an", "olive") in pairs and ("a", "red") in pairs
    assert all((article == "an") == (noun[0] in "aeiou") for article, noun in pairs)


def test_rendered_colours_are_the_named_ones():
    generator = torch.Generator().manual_seed(2)
    rows = torch.tensor([[0, 0, 0, 1], [1, 5, 1, 1]])  # a large red circle on white, a large blue square on black
    images = render_attributes(rows, generator)
    centre, corner = images[:, :, 30:34, 30:34].mean((2, 3)), images[:, :, :2, :2].mean((2, 3))
    torch.testing.assert_close(centre[0], torch.tensor(SHAPE_COLORS["red"]), atol=0.08, rtol=0)
    torch.testing.assert_close(corner[1], torch.tensor(BACKGROUND_COLORS["black"]), atol=0.08, rtol=0)


def test_batches_and_prompt_sets_are_seeded():
    a, b = next(captioned_batches(4, seed=3)), next(captioned_batches(4, seed=3))
    assert torch.equal(a[0], b[0]) and a[2] == b[2]
    prompts, metadata = captioned_prompts(40, seed=0, split="held_out")
    assert len(set(prompts)) == 40
    for meta in metadata:
        pair = (ATTRIBUTE_VALUES["shape"].index(meta["shape"]), ATTRIBUTE_VALUES["color"].index(meta["color"]))
        assert pair in HELD_OUT_PAIRS
