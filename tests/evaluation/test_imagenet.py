import dataclasses

import pytest
import torch

from vargym import netcheck
from vargym.errors import CheckpointError, WeightsNotAvailableError
from vargym.evaluation.evaluate import evaluate_model
from vargym.evaluation.imagenet import IMAGENET_MEAN, IMAGENET_STD, imagenet_preprocess, load_resnet50


@pytest.fixture(scope="module")
def resnet_path(tmp_path_factory):
    from torchvision.models import resnet50

    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("resnet") / "resnet50-random.pth"
    torch.save(resnet50(weights=None).state_dict(), path)
    return path


def test_preprocess_resizes_crops_and_normalises():
    images = torch.full((2, 3, 64, 96), 0.5)
    out = imagenet_preprocess(images)
    assert out.shape == (2, 3, 224, 224)
    expected = (0.5 - torch.tensor(IMAGENET_MEAN)) / torch.tensor(IMAGENET_STD)
    torch.testing.assert_close(out.mean(dim=(2, 3)), expected.expand(2, 3))
    # centre crop of a wide image: a left-half marker (x < 48 of 96) covers columns below 112 of 224
    marked = torch.zeros(1, 3, 64, 96)
    marked[..., :48] = 1.0
    crop = imagenet_preprocess(marked)[0, 0]  # [224, 224]
    assert crop[:, :100].min() > 2.0 and crop[:, 124:].max() < -2.0


def test_resnet50_loads_strictly_through_the_path_option(resnet_path):
    model = load_resnet50(resnet_path)
    images = torch.rand(2, 3, 32, 32)
    logits, features = model(images), model.features(images)
    assert logits.shape == (2, 1000) and features.shape == (2, 2048)
    torch.testing.assert_close(logits, model.head(features))
    assert not model.train().training  # stays in eval mode


def test_resnet50_rejects_wrong_and_missing_files(tmp_path):
    from torchvision.models import resnet18

    wrong = tmp_path / "resnet18.pth"
    torch.save(resnet18(weights=None).state_dict(), wrong)
    with pytest.raises(CheckpointError, match="shape mismatch|missing"):
        load_resnet50(wrong)
    with pytest.raises(WeightsNotAvailableError, match="nothing.pth does not exist"):
        load_resnet50(tmp_path / "nothing.pth")


def test_offline_without_cache_raises_naming_file_and_option(tmp_path, monkeypatch):
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(
        WeightsNotAvailableError, match=r"resnet50-11ad3fa6\.pth.*HF_HUB_OFFLINE.*resnet_weights="
    ):
        load_resnet50()
    monkeypatch.delenv("HF_HUB_OFFLINE")
    monkeypatch.setattr(netcheck, "host_reachable", lambda host, timeout=4.0: False)
    with pytest.raises(WeightsNotAvailableError, match="download.pytorch.org is unreachable"):
        load_resnet50()


def test_cached_file_is_used_without_network(tmp_path, monkeypatch, resnet_path):
    (tmp_path / "checkpoints").mkdir()
    (tmp_path / "checkpoints" / "resnet50-11ad3fa6.pth").symlink_to(resnet_path)
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    assert load_resnet50().head.weight.shape == (1000, 2048)


def test_imagenet_suite_end_to_end_on_a_1000_class_model(resnet_path):
    from vargym.models.var.presets import TINY_VAR, TINY_VQVAE, build

    torch.manual_seed(0)
    vqvae, var = build(TINY_VQVAE, dataclasses.replace(TINY_VAR, num_classes=1000))
    result = evaluate_model(
        (vqvae, var.eval()), classes=(3, 999), labels_per_class=2, rewards=("luma",), resnet_weights=resnet_path
    )
    assert result["suite"] == "imagenet" and result["num_samples"] == 4
    assert set(result["classifier"]) == {"top1", "top5", "per_class"}
    assert set(result["classifier"]["per_class"]) == {"3", "999"}
    assert 0.0 <= result["classifier"]["top1"] <= result["classifier"]["top5"] <= 1.0
    assert 0.0 <= result["rewards"]["luma"]["mean"] <= 1.0
    assert result["diversity"]["feature_distance"] >= 0.0
