"""GenEval's rules against golden values from the reference's own ``evaluate`` and ``relative_position``
(tools/geneval_golden.py), the reward around a fake detector, and the procedural world's exact detector."""

import json
from pathlib import Path

import pytest
import torch

from vargym.rewards import RewardContext, make
from vargym.rewards.geneval import (
    geneval_correct,
    group_detections,
    procedural_detector,
    procedural_metadata,
    relative_position,
)

GOLDEN = json.loads((Path(__file__).parent / "golden" / "geneval_rules.json").read_text())


def test_rules_equal_the_reference_on_every_shipped_prompt():
    cases = GOLDEN["cases"]
    assert len(cases) == 553 and 0.2 < sum(c["correct"] for c in cases) / len(cases) < 0.8
    tags = {c["metadata"]["tag"] for c in cases}
    assert tags == {"single_object", "two_object", "counting", "colors", "position", "color_attr"}
    wrong = [c["prompt"] for c in cases
             if geneval_correct(c["metadata"], group_detections(c["detections"], c["metadata"]["tag"]))[0] != c["correct"]]
    assert not wrong, wrong[:5]


def test_relative_position_equals_the_reference():
    for case in GOLDEN["positions"]:
        assert sorted(relative_position(case["a"], case["b"])) == case["relations"], case


def test_detections_are_thresholded_sorted_and_capped():
    dets = [{"class": "cup", "score": s, "box": [0, 0, 1, 1]} for s in (0.2, 0.95, 0.5, 0.91, 0.3)]
    assert [d["score"] for d in group_detections(dets, "colors")["cup"]] == [0.95, 0.91, 0.5]  # > 0.3
    assert [d["score"] for d in group_detections(dets, "counting")["cup"]] == [0.95, 0.91]  # > 0.9 for counting
    assert len(group_detections(dets * 10, "colors", max_objects=16)["cup"]) == 16


def test_reward_with_a_fake_detector_reads_each_prompts_metadata():
    meta = [{"tag": "color_attr", "include": [{"class": "cup", "count": 1, "color": "red"},
                                              {"class": "dog", "count": 1, "color": "blue"}]},
            {"tag": "counting", "include": [{"class": "cup", "count": 2}], "exclude": [{"class": "cup", "count": 3}]}]

    def detector(images):
        cup = {"class": "cup", "box": [0, 0, 10, 10], "score": 0.95, "color": "red"}
        dog = {"class": "dog", "box": [20, 0, 30, 10], "score": 0.95, "color": "blue"}
        return [[cup, dog], [cup, cup, cup]]  # the first is right, the second has one cup too many

    reward = make("geneval", detector=detector)
    out = reward(torch.rand(2, 3, 32, 32), RewardContext(metadata=meta))
    assert out.total.tolist() == [1.0, 0.0]
    with pytest.raises(ValueError, match="GenEval metadata"):
        reward(torch.rand(2, 3, 32, 32), RewardContext(labels=torch.tensor([0, 1])))
    with pytest.raises(ValueError, match="needs detector="):
        make("geneval")


def test_the_procedural_world_reports_geneval_colors(tmp_path):
    """Its attribute classifier is an exact detector: GenEval's colour rule then scores shape and colour."""
    from vargym.data.attributes import train_attribute_classifier
    from vargym.data.captioned import describe, draw_attributes, render_attributes
    from vargym.data.classifier import save_classifier

    model, figures = train_attribute_classifier(steps=120, batch_size=64, seed=3)
    save_classifier(model, tmp_path)
    generator = torch.Generator().manual_seed(4)
    rows = draw_attributes(48, generator, "all")
    images = render_attributes(rows, generator)
    metadata = [procedural_metadata(describe(r)) for r in rows]
    scores = make("geneval", detector=procedural_detector(tmp_path))(images, RewardContext(metadata=metadata)).total
    with torch.no_grad():
        logits = model(images)
    both = (logits[:, :10].argmax(-1) == rows[:, 0]) & (logits[:, 10:18].argmax(-1) == rows[:, 1])
    assert torch.equal(scores.bool(), both)  # the rule is exactly "shape and colour recognised"
    assert scores.mean() > 0.2
