import pytest
import torch
from torch import nn

from vargym.evaluation.metrics import MetricAccumulator, evaluate_images, topk_accuracy, topk_hits
from vargym.rewards import make


class ColourOracle(nn.Module):
    """Reads the class from the mean red level (class c is drawn with red = c / 10): logits = -|r - c/10|."""

    def __init__(self, num_classes: int = 10) -> None:
        super().__init__()
        self.register_buffer("levels", torch.arange(num_classes) / 10)

    def features(self, images):
        return images.mean(dim=(2, 3))  # [N, 3]

    def forward(self, images):
        return -(self.features(images)[:, :1] - self.levels).abs()  # [N, C]


def _colour_images(classes: torch.Tensor) -> torch.Tensor:
    images = torch.zeros(len(classes), 3, 8, 8)
    images[:, 0] = (classes.float() / 10)[:, None, None]
    return images


def test_topk_accuracy_known_answer():
    logits = torch.tensor([[3.0, 2.0, 1.0], [1.0, 3.0, 2.0], [1.0, 2.0, 3.0], [3.0, 2.0, 1.0]])
    labels = torch.tensor([0, 2, 0, 1])
    out = topk_accuracy(logits, labels, topk=(1, 2))
    assert out["top1"] == 0.25 and out["top2"] == 0.75
    assert out["per_class"] == {
        "0": {"top1": 0.5, "top2": 0.5, "count": 2},
        "1": {"top1": 0.0, "top2": 1.0, "count": 1},
        "2": {"top1": 0.0, "top2": 1.0, "count": 1},
    }
    with pytest.raises(ValueError, match=r"topk values must be in \[1, 3\]"):
        topk_hits(logits, labels, topk=(1, 5))


def test_classifier_accuracy_through_the_accumulator():
    true = torch.arange(10).repeat_interleave(2)  # [20]
    images = _colour_images(true)
    claimed = true.clone()
    # three wrong labels whose rank under the oracle is known without ties: 2 (top-5), 8 (miss), 5 (top-5)
    claimed[[0, 1, 18]] = torch.tensor([1, 7, 5])
    result = evaluate_images(
        [(images[:8], claimed[:8]), (images[8:], claimed[8:])], classifier=ColourOracle()
    )
    assert result["classifier"]["top1"] == pytest.approx(17 / 20)
    assert result["classifier"]["top5"] == pytest.approx(19 / 20)
    per_class = result["classifier"]["per_class"]
    assert per_class["5"] == {"top1": 2 / 3, "top5": 1.0, "count": 3}
    assert per_class["9"] == {"top1": 1.0, "top5": 1.0, "count": 1} and "0" not in per_class


def test_rewards_mean_std_and_components():
    images = torch.rand(6, 3, 8, 8)
    reward = make("luma+0.5*contrast")
    out = evaluate_images(
        [(images[:4], torch.zeros(4, dtype=torch.long)), (images[4:], torch.zeros(2, dtype=torch.long))],
        rewards={"mix": reward, "luma": make("luma")},
    )
    direct = reward(images).total
    assert out["rewards"]["mix"]["mean"] == pytest.approx(direct.mean().item(), rel=1e-6)
    assert out["rewards"]["mix"]["std"] == pytest.approx(direct.std().item(), rel=1e-5)
    assert set(out["rewards"]["mix"]["components"]) == {"luma", "contrast"}
    assert "components" not in out["rewards"]["luma"]  # a single reward's only component is itself
    assert out["num_samples"] == 6 and "classifier" not in out and "fid" not in out


def test_diversity_and_fid_from_the_accumulator():
    labels = torch.zeros(4, dtype=torch.long)
    same = MetricAccumulator(classifier=ColourOracle(), fid_extractor=lambda x: x.mean(dim=(2, 3)))
    same.add(torch.full((4, 3, 8, 8), 0.3), labels)
    result = same.result(fid_reference=(torch.full((3,), 0.3, dtype=torch.float64), torch.zeros(3, 3)))
    assert (
        result["diversity"]["near_duplicate_fraction"] == 1.0
        and result["diversity"]["feature_distance"] == 0.0
    )
    assert result["fid"] == pytest.approx(0.0, abs=1e-12)
    varied = evaluate_images([(torch.rand(4, 3, 8, 8), labels)], classifier=ColourOracle())
    assert varied["diversity"]["near_duplicate_fraction"] == 0.0
    assert varied["diversity"]["pixel_distance"] > result["diversity"]["pixel_distance"]


def test_empty_and_bad_batches_raise():
    with pytest.raises(ValueError, match="no images were added"):
        MetricAccumulator().result()
    with pytest.raises(ValueError, match=r"images must be \[B, 3, H, W\] and labels \[B\]"):
        MetricAccumulator().add(torch.rand(2, 3, 8, 8), torch.zeros(3, dtype=torch.long))


def test_shipped_classifier_recognises_procedural_images():
    from vargym.data.classifier import load_classifier
    from vargym.data.procedural import procedural_batches
    from vargym.models.files import TINY_DIR

    if not (TINY_DIR / "classifier.json").is_file():
        pytest.skip(f"the shipped classifier is not in {TINY_DIR} yet")
    images, labels = next(procedural_batches(100, image_size=64, seed=123))
    result = evaluate_images([(images, labels)], classifier=load_classifier(TINY_DIR))
    assert result["classifier"]["top1"] > 0.8 and result["classifier"]["top5"] > 0.95
