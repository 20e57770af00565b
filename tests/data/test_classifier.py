"""TinyClassifier: shapes, any input size, accuracy helper, short training, save/load and its errors."""

import json

import pytest
import torch
from safetensors.torch import load_file, save_file
from torch import nn

from vargym.data.classifier import (
    CONFIG_FILE,
    WEIGHTS_FILE,
    ClassifierConfig,
    TinyClassifier,
    classifier_accuracy,
    load_classifier,
    save_classifier,
    train_classifier,
)
from vargym.data.procedural import procedural_batches
from vargym.errors import CheckpointError, WeightsNotAvailableError


def test_small_and_shapes_for_any_input_size():
    model = TinyClassifier(ClassifierConfig())
    assert sum(p.numel() for p in model.parameters()) < 200_000
    model.eval()
    for height, width in [(32, 32), (64, 64), (17, 23), (256, 256)]:
        images = torch.rand(3, 3, height, width)
        assert model(images).shape == (3, 10)
        assert model.features(images).shape == (3, model.config.feature_dim)
    with pytest.raises(ValueError, match=r"images must be \[N, 3, H, W\]"):
        model(torch.rand(3, 32, 32))


def test_config_checks():
    with pytest.raises(ValueError, match="num_classes must be >= 2"):
        ClassifierConfig(num_classes=1)
    with pytest.raises(ValueError, match="input_size=4 is too small for 4 blocks"):
        ClassifierConfig(input_size=4)
    assert ClassifierConfig(widths=[8, 16]).widths == (8, 16)


class _FixedLogits(nn.Module):
    """Ranks classes by a fixed preference per sample: the label is at a known rank."""

    def __init__(self, logits):
        super().__init__()
        self.logits = logits
        self.dummy = nn.Parameter(torch.zeros(1))

    def forward(self, images):
        index = images[:, 0, 0, 0].long()
        return self.logits[index]


def test_classifier_accuracy_counts_topk():
    # 4 samples whose true class sits at rank 0, 1, 4 and 9 of the logits.
    ranks = [0, 1, 4, 9]
    labels = torch.tensor([3, 3, 3, 3])
    logits = torch.zeros(4, 10)
    for i, rank in enumerate(ranks):
        order = [c for c in range(10) if c != 3]
        order.insert(rank, 3)
        logits[i, order] = torch.arange(10, 0, -1, dtype=torch.float)
    images = torch.arange(4, dtype=torch.float).view(4, 1, 1, 1).expand(4, 3, 2, 2)
    model = _FixedLogits(logits).train()
    result = classifier_accuracy(model, images, labels, topk=(1, 2, 5), batch_size=3)
    assert result == {"top1": 0.25, "top2": 0.5, "top5": 0.75}
    assert model.training  # mode restored
    with pytest.raises(ValueError, match="differ in length"):
        classifier_accuracy(model, images, labels[:2])
    with pytest.raises(ValueError, match=r"topk values must be in \[1, 10\]"):
        classifier_accuracy(model, images, labels, topk=(11,))


def test_short_training_is_well_above_chance():
    seen = []
    model, figures = train_classifier(
        steps=60, batch_size=64, seed=0, eval_samples=500, progress=lambda step, loss: seen.append(loss)
    )
    assert len(seen) == 60 and figures["steps"] == 60
    assert figures["final_loss"] < seen[0] / 2
    assert figures["top1"] > 0.5  # chance is 0.1
    assert figures["top5"] > 0.9
    assert not model.training


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    torch.manual_seed(1)
    model, _ = train_classifier(ClassifierConfig(input_size=16, widths=(8, 16, 24)), steps=3, batch_size=8)
    return model


def test_save_load_round_trip(trained, tmp_path):
    save_classifier(trained, tmp_path / "clf")
    meta = json.loads((tmp_path / "clf" / CONFIG_FILE).read_text())
    assert meta["config"]["widths"] == [8, 16, 24]
    loaded = load_classifier(tmp_path / "clf")
    assert loaded.config == trained.config
    assert not loaded.training
    images, _ = next(procedural_batches(6, image_size=32, seed=9))
    trained.eval()
    assert torch.equal(loaded(images), trained(images))
    assert torch.equal(loaded.features(images), trained.features(images))


def test_load_missing_is_weights_not_available(tmp_path):
    with pytest.raises(WeightsNotAvailableError, match="classifier.json is missing"):
        load_classifier(tmp_path / "absent")
    with pytest.raises(FileNotFoundError):  # also catchable as the builtin
        load_classifier(tmp_path / "absent")


def test_load_corrupt_files_raise_checkpoint_error(trained, tmp_path):
    path = save_classifier(trained, tmp_path / "clf")
    weights = {k: v.clone() for k, v in load_file(str(path / WEIGHTS_FILE)).items()}  # off the mmap

    (path / WEIGHTS_FILE).write_bytes(b"\x00garbage")
    with pytest.raises(CheckpointError, match="corrupt classifier weights"):
        load_classifier(path)

    missing_key = {k: v for k, v in weights.items() if k != "head.bias"}
    save_file(missing_key, str(path / WEIGHTS_FILE))
    with pytest.raises(CheckpointError, match="do not match its config"):
        load_classifier(path)

    save_file(weights, str(path / WEIGHTS_FILE))
    (path / CONFIG_FILE).write_text("{not json")
    with pytest.raises(CheckpointError, match="corrupt classifier config"):
        load_classifier(path)

    (path / CONFIG_FILE).write_text(
        json.dumps({"format": "vargym-classifier", "config": {"widths": [8, 16]}})
    )
    with pytest.raises(CheckpointError, match="do not match its config"):
        load_classifier(path)  # shapes of a 2-block net do not fit the 3-block weights

    (path / CONFIG_FILE).write_text(json.dumps({"format": "something-else", "config": {}}))
    with pytest.raises(CheckpointError, match="is not a vargym-classifier config"):
        load_classifier(path)


def test_training_is_deterministic_per_seed_and_leaves_global_rng_alone():
    config = ClassifierConfig(input_size=16, widths=(8, 16))
    torch.manual_seed(123)
    expected_draw = torch.rand(1)
    torch.manual_seed(123)
    first, _ = train_classifier(config, steps=2, batch_size=8, seed=5, eval_samples=10)
    assert torch.equal(torch.rand(1), expected_draw)
    again, _ = train_classifier(config, steps=2, batch_size=8, seed=5, eval_samples=10)
    other, _ = train_classifier(config, steps=2, batch_size=8, seed=6, eval_samples=10)
    assert torch.equal(first.head.weight, again.head.weight)
    assert not torch.equal(first.head.weight, other.head.weight)
