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
    reward = make("clip-iqa", clip_model=name, weights_path=path, protocol="resize")
    images = torch.rand(3, 3, 64, 64)
    scores = reward(images).total
    backbone = reward.backbone
    cos = backbone.encode_images(images) @ backbone.encode_texts(["Good photo.", "Bad photo."]).T  # [3, 2]
    expected = (backbone.model.logit_scale.exp() * cos).softmax(-1)[:, 0]
    torch.testing.assert_close(scores, expected)
    assert ((scores > 0) & (scores < 1)).all()
    swapped = make("clip-iqa", clip_model=name, weights_path=path, prompts=("Bad photo.", "Good photo."),
                   protocol="resize")
    torch.testing.assert_close(swapped(images).total, 1 - scores, rtol=1e-5, atol=1e-6)
    with pytest.raises(ValueError, match="prompts must be two non-empty strings"):
        make("clip-iqa", clip_model=name, weights_path=path, prompts=("only one",))


def _piq_clipiqa(model, tokenizer):
    """piq's own ``CLIPIQA`` holding ``model``'s weights (its ``clip.build_model`` reads the OpenAI key layout that
    open_clip shares; its text anchors come from ``model``'s text tower, as piq's come from its own)."""
    from piq import CLIPIQA
    from piq.feature_extractors.clip import build_model

    network = build_model({k: v.clone() for k, v in model.state_dict().items()}).float().eval()
    metric = CLIPIQA.__new__(CLIPIQA)  # its constructor downloads RN50 and the tokens
    torch.nn.Module.__init__(metric)
    metric.feature_extractor, metric.data_range = network, 1.0
    metric.logit_scale = network.logit_scale.exp()
    with torch.no_grad():
        anchors = torch.nn.functional.normalize(model.encode_text(tokenizer(["Good photo.", "Bad photo."])).float(), dim=-1)
    metric.register_buffer("anchors", anchors)
    metric.register_buffer("default_mean", torch.tensor((0.48145466, 0.4578275, 0.40821073)).view(1, 3, 1, 1))
    metric.register_buffer("default_std", torch.tensor((0.26862954, 0.26130258, 0.27577711)).view(1, 3, 1, 1))
    return metric


@pytest.mark.parametrize("shape", [(64, 64), (96, 64), (40, 72), (224, 224)])
def test_clip_iqa_equals_piq_on_square_and_non_square_images(tiny_rn_clip, shape):
    """The default protocol is the reference's: piq.CLIPIQA's own forward (images at their own size, the attention
    pool without its positional embedding) on the same weights."""
    pytest.importorskip("piq")
    name, path = tiny_rn_clip
    reward = make("clip-iqa", clip_model=name, weights_path=path)
    assert reward.input_size is None  # no resize before scoring
    metric = _piq_clipiqa(reward.backbone.model, reward.backbone.tokenizer)
    generator = torch.Generator().manual_seed(sum(shape))
    images = torch.rand(4, 3, *shape, generator=generator) * torch.tensor([0.2, 0.5, 0.8, 1.0]).view(4, 1, 1, 1)
    expected = metric(images).squeeze(-1)
    torch.testing.assert_close(reward(images).total, expected, rtol=0, atol=1e-5)
    assert expected.std() > 1e-3  # the images are told apart
    resized = make("clip-iqa", clip_model=name, weights_path=path, protocol="resize")(images).total
    assert (resized - expected).abs().max() > 1e-4  # the other protocol is another number


def test_clip_iqa_protocol_errors(tiny_clip, tiny_rn_clip):
    with pytest.raises(ValueError, match="protocol must be one of"):
        make("clip-iqa", clip_model=tiny_rn_clip[0], weights_path=tiny_rn_clip[1], protocol="crop")
    with pytest.raises(ValueError, match="not a ResNet CLIP: use protocol='resize'"):
        make("clip-iqa", clip_model=tiny_clip[0], weights_path=tiny_clip[1])
    reward = make("clip-iqa", clip_model=tiny_rn_clip[0], weights_path=tiny_rn_clip[1])
    with pytest.raises(ValueError, match="at least 32 px"):
        reward(torch.rand(1, 3, 16, 16))
