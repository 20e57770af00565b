"""Image-quality rewards: BRISQUE equals piq's own function on the same SVR file; CLIP-IQA's antonym softmax."""

import pytest
import torch
import torch.nn.functional as F

from vargym.errors import WeightsNotAvailableError
from vargym.rewards import make


def _textured(batch: int, size: int = 64) -> torch.Tensor:
    generator = torch.Generator().manual_seed(1)
    smooth = F.interpolate(torch.rand(batch, 3, size // 8, size // 8, generator=generator), size=size, mode="bilinear")
    return (smooth + 0.1 * torch.rand(batch, 3, size, size, generator=generator)).clamp(0, 1)


def test_brisque_equals_piq_on_the_same_weights(brisque_svr, monkeypatch):
    import piq

    monkeypatch.setenv("TORCH_HOME", str(brisque_svr.parents[2]))  # piq reads the file from torch hub's cache
    images = _textured(4)
    reward = make("brisque")  # finds the cached file offline
    out = reward(images)
    expected = piq.brisque(images, data_range=1.0, reduction="none")
    torch.testing.assert_close(out.components["brisque"], expected.float(), rtol=1e-4, atol=1e-3)
    torch.testing.assert_close(out.total, -out.components["brisque"])
    assert torch.equal(make("brisque", weights_path=brisque_svr)(images).total, out.total)


def test_brisque_gives_flat_images_the_worst_score(brisque_svr):
    images = _textured(3)
    images[1] = 0.5  # no texture: BRISQUE's statistics are undefined
    out = make("brisque", weights_path=brisque_svr)(images)
    assert torch.isfinite(out.total).all() and out.total[1] == out.total.min()
    with pytest.raises(ValueError, match="non-finite"):
        make("brisque", weights_path=brisque_svr, nan_policy="raise")(images)


def test_brisque_errors(tmp_path):
    with pytest.raises(WeightsNotAvailableError, match=r"brisque_svm_weights\.pt.*brisque\.weights_path=PATH"):
        make("brisque")
    torch.save((torch.zeros(3), torch.zeros(3, 5)), tmp_path / "bad.pt")
    with pytest.raises(ValueError, match=r"is not a BRISQUE SVR.*\(3, 5\)"):
        make("brisque", weights_path=tmp_path / "bad.pt")


def test_clip_iqa_is_the_antonym_softmax(tiny_clip):
    name, path = tiny_clip
    reward = make("clip-iqa", clip_model=name, weights_path=path)
    images = torch.rand(3, 3, 64, 64)
    scores = reward(images).total
    backbone = reward.backbone
    cos = backbone.encode_images(images) @ backbone.encode_texts(["Good photo.", "Bad photo."]).T  # [3, 2]
    expected = (backbone.model.logit_scale.exp() * cos).softmax(-1)[:, 0]
    torch.testing.assert_close(scores, expected)
    assert ((scores > 0) & (scores < 1)).all()
    swapped = make("clip-iqa", clip_model=name, weights_path=path, prompts=("Bad photo.", "Good photo."))
    torch.testing.assert_close(swapped(images).total, 1 - scores, rtol=1e-5, atol=1e-6)
    with pytest.raises(ValueError, match="prompts must be two non-empty strings"):
        make("clip-iqa", clip_model=name, weights_path=path, prompts=("only one",))
