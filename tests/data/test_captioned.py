"""The captioned procedural world: attributes, captions and their metadata, the held-out split, rendering; the
second stage's two-object scenes."""

import pytest
import torch

from vargym.data.captioned import (
    ATTRIBUTE_VALUES,
    BACKGROUND_COLORS,
    HELD_OUT_PAIRS,
    SCENE_ATTRIBUTES,
    SHAPE_COLORS,
    SIZED_SHAPES,
    attributes_from_metadata,
    caption,
    captioned_batches,
    captioned_prompts,
    describe,
    draw_attributes,
    draw_scenes,
    render_attributes,
    render_scenes,
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


# -- the second stage: two objects and their relation --------------------------------------------------------
def _pair_index(meta: dict, which: str = "") -> tuple[int, int]:
    return ATTRIBUTE_VALUES["shape"].index(meta[f"shape{which}"]), ATTRIBUTE_VALUES["color"].index(meta[f"color{which}"])


def test_scene_splits_keep_held_out_pairs_out_of_seen_scenes():
    generator = torch.Generator().manual_seed(0)
    seen, held = draw_scenes(4000, generator, "seen"), draw_scenes(1000, generator, "held_out")
    assert seen.shape == (4000, len(SCENE_ATTRIBUTES))
    pairs = lambda rows: {(int(s), int(c)) for s, c in torch.cat([rows[:, 0:2], rows[:, 2:4]])}  # noqa: E731
    assert not pairs(seen) & HELD_OUT_PAIRS
    assert all({(int(r[0]), int(r[1])), (int(r[2]), int(r[3]))} & HELD_OUT_PAIRS for r in held)
    assert (seen[:, 0] < SIZED_SHAPES).all() and (seen[:, 2] < SIZED_SHAPES).all()  # outlined shapes only
    assert ((seen[:, 0] != seen[:, 2]) | (seen[:, 1] != seen[:, 3])).all()  # two different objects
    assert set(seen[:, 4].tolist()) == {0, 1} and set(seen[:, 5].tolist()) == set(range(len(BACKGROUND_COLORS)))
    with pytest.raises(ValueError, match="split must be one of"):
        draw_scenes(1, generator, "train")


def test_scene_captions_say_the_relation_either_way_and_metadata_round_trips():
    generator = torch.Generator().manual_seed(1)
    rows = draw_scenes(400, generator, "all")
    orders = set()
    for row in rows:
        text, meta = caption(row, generator), describe(row)
        assert set(meta) == set(SCENE_ATTRIBUTES) and meta["background"] in text
        if meta["color"] == meta["color2"]:
            continue  # the order below is read from the colours
        converse = any(w in text for w in ("right of", "below", "under"))
        assert converse != any(w in text for w in ("left of", "above", "over")), text
        # "A left of B" names A first; its converse "B right of A" names B first
        assert (text.find(meta["color2"]) < text.find(meta["color"])) == converse, text
        orders.add(converse)
    assert orders == {True, False}
    metadata = [describe(row) for row in rows]
    assert torch.equal(attributes_from_metadata(metadata), rows)
    with pytest.raises(ValueError, match="mixes one-object captions and two-object scenes"):
        attributes_from_metadata([metadata[0], describe(draw_attributes(1, generator)[0])])
    with pytest.raises(ValueError, match="'behind' is not one of"):
        attributes_from_metadata([{**metadata[0], "relation": "behind"}])


def test_scenes_draw_the_first_object_left_of_or_above_the_second():
    generator = torch.Generator().manual_seed(2)
    # a red circle left of a blue square, then a red circle above a blue square; both on black
    rows = torch.tensor([[0, 0, 1, 5, 0, 1], [0, 0, 1, 5, 1, 1]])
    images = render_scenes(rows, generator)
    red = torch.tensor(SHAPE_COLORS["red"])[:, None, None]
    blue = torch.tensor(SHAPE_COLORS["blue"])[:, None, None]
    for image, along in zip(images, (1, 0), strict=True):  # nonzero() of [H, W] gives (y, x): left of reads x
        is_red = (image - red).abs().amax(0) < 0.15  # [H, W]
        is_blue = (image - blue).abs().amax(0) < 0.15
        assert is_red.sum() > 40 and is_blue.sum() > 40  # both objects are visible
        red_at, blue_at = (mask.nonzero()[:, along].float().mean() for mask in (is_red, is_blue))
        assert red_at + 16 < blue_at  # the first object lies at least a quarter image before the second
        assert not (is_red & is_blue).any()
    corner = images[:, :, :2, :2].mean((2, 3))
    torch.testing.assert_close(corner, torch.tensor(BACKGROUND_COLORS["black"]).expand(2, 3), atol=0.08, rtol=0)


def test_two_object_prompt_sets_and_batches():
    from vargym.data.prompts import load_prompts

    seen, held = load_prompts("procedural-two-objects"), load_prompts("procedural-two-objects-held-out")
    assert (len(seen), len(held)) == (2000, 200) and len(set(seen.prompts)) == 2000
    assert all("relation" in meta for meta in seen.metadata)
    assert all({_pair_index(m), _pair_index(m, "2")} & HELD_OUT_PAIRS for m in held.metadata)
    assert not {p for m in seen.metadata for p in (_pair_index(m), _pair_index(m, "2"))} & HELD_OUT_PAIRS
    images, rows, captions = next(captioned_batches(6, seed=4, objects=2))
    assert images.shape == (6, 3, 64, 64) and rows.shape == (6, 6) and len(captions) == 6
    with pytest.raises(ValueError, match=r"objects must be one of \(1, 2\), got 3"):
        captioned_batches(2, objects=3)
