"""The attribute classifiers and the ``attr`` / ``text-fidelity`` rewards of the captioned world."""

import pytest
import torch

from vargym.data.attributes import SCENE_NUM_LOGITS, attribute_fidelity, train_attribute_classifier
from vargym.data.captioned import (
    SCENE_ATTRIBUTES,
    describe,
    draw_attributes,
    draw_scenes,
    render_attributes,
    render_scenes,
)
from vargym.data.classifier import save_classifier
from vargym.errors import WeightsNotAvailableError
from vargym.rewards import RewardContext, make


@pytest.fixture(scope="module")
def classifier_dir(tmp_path_factory):
    model, figures = train_attribute_classifier(steps=150, batch_size=64, seed=1)
    folder = tmp_path_factory.mktemp("attr")
    save_classifier(model, folder)
    return folder, model, figures


def test_a_short_training_recognises_each_attribute(classifier_dir):
    _, _, figures = classifier_dir
    # chance: shape 0.1, colour and background 0.125, size 0.5; all four right by chance < 0.001. Measured at
    # this length: shape 0.56, colour 0.99, background 0.96, all 0.51; the bounds leave room for other CPUs.
    assert figures["shape"] > 0.3 and figures["color"] > 0.6 and figures["background"] > 0.6
    assert figures["all"] > 0.1


def test_fidelity_is_all_or_nothing_over_named_attributes(classifier_dir):
    _, model, _ = classifier_dir
    generator = torch.Generator().manual_seed(5)
    rows = draw_attributes(64, generator, "all")
    images = render_attributes(rows, generator)
    truth = attribute_fidelity(model, images, rows)
    wrong = rows.clone()
    wrong[:, 1] = (wrong[:, 1] + 1) % 8  # every colour named wrongly
    lied = attribute_fidelity(model, images, wrong)
    assert lied["all"] <= 1 - truth["color"] + 1e-6 and lied["color"] < truth["color"]
    unnamed = rows.clone()
    unnamed[:, 2] = -1  # the background not named: it no longer counts
    assert attribute_fidelity(model, images, unnamed)["all"] >= truth["all"]


def test_attr_reward_reads_the_prompt_metadata(classifier_dir):
    folder, _, _ = classifier_dir
    generator = torch.Generator().manual_seed(6)
    rows = draw_attributes(32, generator, "all")
    images = render_attributes(rows, generator)
    reward = make("attr", classifier=str(folder))
    right = reward(images, RewardContext(metadata=[describe(r) for r in rows]))
    swapped = rows.clone()
    swapped[:, 0] = (swapped[:, 0] + 3) % 10  # the shape and the colour named wrongly
    swapped[:, 1] = (swapped[:, 1] + 1) % 8
    swapped[:, 3] = torch.where(swapped[:, 0] < 6, swapped[:, 3].clamp_min(0), -1)
    wrong = reward(images, RewardContext(metadata=[describe(r) for r in swapped]))
    assert right.total.mean() > wrong.total.mean() + 0.2
    assert set(right.components) == {"shape", "color", "background", "size", "all_correct"}
    assert ((right.total >= 0) & (right.total <= 1)).all()
    gold = make("text-fidelity", classifier=str(folder))(images, RewardContext(metadata=[describe(r) for r in rows]))
    torch.testing.assert_close(gold.total, right.components["all_correct"])
    with pytest.raises(ValueError, match="reads each image's prompt metadata"):
        reward(images, RewardContext(labels=torch.zeros(32, dtype=torch.long)))


def test_attr_joint_rule_is_the_product_of_the_named_attributes(classifier_dir):
    folder, _, _ = classifier_dir
    generator = torch.Generator().manual_seed(7)
    rows = draw_attributes(24, generator, "all")  # textures name no size
    images = render_attributes(rows, generator)
    metadata = [describe(r) for r in rows]
    for i in range(3):  # some prompts name no background: it must not enter their product
        del metadata[i]["background"]
        rows[i, 2] = -1
    mean = make("attr", classifier=str(folder), rule="mean")(images, RewardContext(metadata=metadata))
    joint = make("attr", classifier=str(folder))(images, RewardContext(metadata=metadata))  # the default rule
    parts = torch.stack([joint.components[name] for name in ("shape", "color", "background", "size")], 1)
    named = rows >= 0
    expected = torch.where(named, parts, torch.ones_like(parts)).prod(1)
    torch.testing.assert_close(joint.total, expected)
    torch.testing.assert_close(mean.total, (parts * named).sum(1) / named.sum(1))
    assert (joint.total <= mean.total + 1e-6).all()  # a product of probabilities never exceeds their mean
    with pytest.raises(ValueError, match=r"rule must be one of \('joint', 'mean'\), got 'max'"):
        make("attr", classifier=str(folder), rule="max")


def test_missing_classifier_is_named(tmp_path):
    with pytest.raises(WeightsNotAvailableError, match="no attribute classifier at"):
        make("attr", classifier=str(tmp_path))


def test_the_augmented_half_comes_from_a_pool_augmented_once():
    calls = []

    def invert(images):
        calls.append(images.shape[0])
        return 1 - images

    model, figures = train_attribute_classifier(steps=3, batch_size=8, seed=2, augment=invert, augment_pool=10,
                                                input_size=16)
    assert calls == [10]  # one chunk, before the first step, never again
    calls.clear()
    train_attribute_classifier(steps=2, batch_size=8, seed=2, augment=invert, augment_pool=100, input_size=16)
    assert calls == [8]  # no more than the two steps' augmented halves read
    assert model.config.input_size == 16 and 0 <= figures["all"] <= 1


def test_pretrain_config_checks_the_classifier_input_size():
    from vargym.pretrain.config import PretrainConfig

    with pytest.raises(ValueError, match="classifier_input_size"):
        PretrainConfig(preset="tiny-t2i", classifier_input_size=4)
    with pytest.raises(ValueError, match="objects must be 1 or 2, got 3"):
        PretrainConfig(preset="tiny-t2i", objects=3)
    with pytest.raises(ValueError, match="objects=2 needs a text-to-image preset"):
        PretrainConfig(preset="tiny-llamagen", objects=2)


def test_the_shipped_classifiers_read_real_renders():
    """The defaults of ``attr`` and ``text-fidelity`` (tiny-t2i's two classifiers): measured 0.98 of 1024 fresh
    renders with every attribute right; chance is below 0.001."""
    generator = torch.Generator().manual_seed(8)
    rows = draw_attributes(128, generator, "all")
    images = render_attributes(rows, generator)
    context = RewardContext(metadata=[describe(r) for r in rows])
    assert make("attr")(images, context).components["all_correct"].mean() > 0.8
    assert make("text-fidelity")(images, context).total.mean() > 0.8


# -- two-object scenes -----------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def scene_classifier_dir(tmp_path_factory):
    model, figures = train_attribute_classifier(steps=150, batch_size=64, seed=1, objects=2)
    folder = tmp_path_factory.mktemp("scene_attr")
    save_classifier(model, folder)
    return folder, model, figures


def test_a_scene_classifier_reads_both_objects_and_their_relation(scene_classifier_dir):
    _, model, figures = scene_classifier_dir
    assert model.config.num_classes == SCENE_NUM_LOGITS
    assert set(figures) == {"all", *SCENE_ATTRIBUTES, "wall_s"}
    # chance: shapes 1/6 (outlined ones), colours and background 1/8, relation 1/2. Measured at this length:
    # shapes 0.37-0.38, colours 0.91-0.93, relation and background 1.0; the bounds leave room for other CPUs.
    assert figures["relation"] > 0.75 and figures["background"] > 0.6
    assert min(figures["color"], figures["color2"]) > 0.4 and min(figures["shape"], figures["shape2"]) > 0.25


def test_attr_reward_on_scenes_needs_a_scene_classifier(scene_classifier_dir, classifier_dir):
    generator = torch.Generator().manual_seed(9)
    rows = draw_scenes(32, generator, "all")
    images = render_scenes(rows, generator)
    reward = make("attr", classifier=str(scene_classifier_dir[0]))
    right = reward(images, RewardContext(metadata=[describe(r) for r in rows]))
    flipped = rows.clone()
    flipped[:, [0, 1, 2, 3]] = rows[:, [2, 3, 0, 1]]  # the same two objects, the relation named backwards
    wrong = reward(images, RewardContext(metadata=[describe(r) for r in flipped]))
    assert set(right.components) == {*SCENE_ATTRIBUTES, "all_correct"}
    differ = rows[:, 1] != rows[:, 3]  # named backwards, two different colours are both named wrongly
    assert right.components["color"][differ].mean() > wrong.components["color"][differ].mean() + 0.3
    assert right.total.mean() > wrong.total.mean()
    gold = make("text-fidelity", classifier=str(scene_classifier_dir[0]))
    torch.testing.assert_close(gold(images, RewardContext(metadata=[describe(r) for r in rows])).total,
                               right.components["all_correct"])
    with pytest.raises(ValueError, match="reads one-object captions but the prompts' metadata describes two-object"):
        make("attr", classifier=str(classifier_dir[0]))(images, RewardContext(metadata=[describe(r) for r in rows]))
    one = draw_attributes(4, generator)
    with pytest.raises(ValueError, match="reads two-object scenes but the prompts' metadata describes one-object"):
        reward(render_attributes(one, generator), RewardContext(metadata=[describe(r) for r in one]))
