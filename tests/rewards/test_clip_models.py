"""The shared CLIP loader, offline errors, preprocessing, and one image forward for aesthetic+clip."""


import pytest
import torch
import torch.nn.functional as F

from tests.rewards.conftest import TINY_CLIP_CFG
from vargym.errors import CheckpointError, WeightsNotAvailableError
from vargym.rewards import RewardContext, make
from vargym.rewards.clip_models import OPENAI_MEAN, OPENAI_STD, download_file, load_clip


def test_load_from_local_path_matches_saved_weights(tiny_clip):
    import open_clip

    name, path = tiny_clip
    backbone = load_clip(name, weights_path=path)
    saved = torch.load(path, weights_only=True)
    for key, value in backbone.model.state_dict().items():
        torch.testing.assert_close(value, saved[key])
    assert backbone.image_size == 64 and backbone.embed_dim == 768
    assert any(isinstance(m, open_clip.transformer.QuickGELU) for m in backbone.model.modules())
    assert load_clip(name, weights_path=path) is backbone  # cached per (name, path, device, dtype)
    assert load_clip(name, weights_path=path, dtype=torch.float64) is not backbone


def test_offline_without_path_raises_without_touching_the_network(monkeypatch):
    import huggingface_hub

    import vargym.netcheck

    def no_network(*args, local_files_only=False, **kwargs):
        assert local_files_only, "an offline load must not try to download"
        raise huggingface_hub.errors.LocalEntryNotFoundError("not cached")

    monkeypatch.setattr(huggingface_hub, "hf_hub_download", no_network)
    monkeypatch.setattr(vargym.netcheck, "host_reachable", lambda host, timeout=4.0: pytest.fail("probed " + host))
    with pytest.raises(
        WeightsNotAvailableError, match=r"timm/vit_large_patch14_clip_224\.openai.*weights_path="
    ):
        load_clip("ViT-L-14-quickgelu")
    with pytest.raises(WeightsNotAvailableError, match="HF_HUB_OFFLINE=1"):
        make("clip", clip_model="ViT-B-32-quickgelu")


def test_missing_file_and_bad_checkpoint(tiny_clip, tmp_path):
    name, _ = tiny_clip
    with pytest.raises(WeightsNotAvailableError, match="does not exist"):
        load_clip(name, weights_path=tmp_path / "nope.pt")
    bad = tmp_path / "bad.pt"
    torch.save({"visual.conv1.weight": torch.zeros(1)}, bad)
    with pytest.raises(CheckpointError, match="cannot load"):
        load_clip(name, weights_path=bad)
    with pytest.raises(ValueError, match="unknown open_clip model 'ViT-L-14-quickgel'.*ViT-L-14-quickgelu"):
        load_clip("ViT-L-14-quickgel")


def test_download_file_offline_names_url(tmp_path):
    with pytest.raises(
        WeightsNotAvailableError, match=r"head\.pth is not cached .*https://example\.org/head\.pth"
    ):
        download_file("https://example.org/head.pth", "head.pth", "0" * 64, cache_dir=str(tmp_path))
    # a cached file with the right hash is used without any network
    import hashlib

    (tmp_path / "ok.bin").write_bytes(b"hello")
    digest = hashlib.sha256(b"hello").hexdigest()
    assert (
        download_file("https://example.org/ok.bin", "ok.bin", digest, cache_dir=str(tmp_path)).read_bytes()
        == b"hello"
    )


def test_preprocess_resize_crop_normalise(tiny_clip):
    name, path = tiny_clip
    backbone = load_clip(name, weights_path=path)
    flat = torch.full((2, 3, 96, 128), 0.5)
    x = backbone.preprocess(flat)
    assert x.shape == (2, 3, 64, 64)
    expected = (0.5 - torch.tensor(OPENAI_MEAN)) / torch.tensor(OPENAI_STD)
    torch.testing.assert_close(x[0, :, 10, 10], expected)
    # a left/right split survives the centre crop of a wide image only in its middle part
    images = torch.rand(1, 3, 64, 64)
    torch.testing.assert_close(backbone.preprocess(images), (images - backbone.mean) / backbone.std)


def test_aesthetic_plus_clip_runs_image_encoder_once(tiny_clip, v2_head):
    name, path = tiny_clip
    clip_kw = {"clip_model": name, "weights_path": path}
    reward = make("aesthetic+0.5*clip", aesthetic={**clip_kw, "head_path": v2_head}, clip=clip_kw)
    aesthetic, clip = reward.rewards
    assert aesthetic.backbone is clip.backbone
    calls = []
    handle = aesthetic.backbone.model.visual.register_forward_hook(lambda *args: calls.append(1))
    try:
        images = torch.rand(3, 3, 64, 64)
        out = reward(images)
        assert len(calls) == 1
        reward(images.clone())
        assert len(calls) == 2  # a new tensor is a new batch
        images.mul_(0.5)  # in-place change invalidates the cache
        reward(images)
        assert len(calls) == 3
    finally:
        handle.remove()
    torch.testing.assert_close(out.total, out.components["aesthetic"] + 0.5 * out.components["clip"])
    assert reward.input_size is None and clip.backbone.image_size == 64  # the backbone resizes itself


def test_clip_score_is_cosine_and_uses_context_prompt(tiny_clip):
    name, path = tiny_clip
    reward = make("clip", clip_model=name, weights_path=path, prompt="a painting")
    backbone = reward.backbone
    images = torch.rand(2, 3, 64, 64)
    img = F.normalize(backbone.model.encode_image(backbone.preprocess(images)), dim=-1)
    txt = F.normalize(backbone.model.encode_text(backbone.tokenizer(["a photo of a cat"])), dim=-1)
    got = reward(images, RewardContext(prompt="a photo of a cat")).total
    torch.testing.assert_close(got, (img * txt).sum(-1), atol=1e-5, rtol=1e-5)
    default = reward(images).total
    assert not torch.allclose(default, got)
    assert set(backbone._text_cache) == {"a painting", "a photo of a cat"}  # text encoded once each


def test_clip_label_prompts(tiny_clip):
    name, path = tiny_clip
    reward = make("clip", clip_model=name, weights_path=path, prompt="a photo of a {label}")
    images = torch.rand(2, 3, 64, 64)
    out = reward(images, RewardContext(labels=torch.tensor([1, 2])))
    assert {"a photo of a goldfish", "a photo of a great white shark"} <= set(reward.backbone._text_cache)
    assert out.total.shape == (2,)
    with pytest.raises(ValueError, match="uses \\{label\\} but the reward context has no labels"):
        reward(images)


def test_explicit_backbone_argument(tiny_clip, v2_head):
    name, path = tiny_clip
    backbone = load_clip(name, weights_path=path)
    aesthetic = make("aesthetic", backbone=backbone, head_path=v2_head)
    clip = make("clip", backbone=backbone)
    assert aesthetic.backbone is backbone and clip.backbone is backbone
    with pytest.raises(ValueError, match=f"needs a ViT-L-14 backbone, got '{name}'"):
        make("aesthetic", backbone=backbone)  # default head chosen from the backbone's name


def test_clip_reward_in_the_env_sees_what_open_clip_preprocessing_gives(tmp_path):
    """The env hands CLIP the decoded image; CLIP resizes it once (bicubic). Compared with open_clip's own
    preprocess + encode on the same weights, the embedding is far closer than after a bilinear pre-resize."""
    import json

    import open_clip
    from PIL import Image

    from vargym.envs import make_core
    from vargym.models import build_preset
    from vargym.rewards import resize_for
    from vargym.rewards.clip_models import ClipBackbone

    name = "vargym-tiny-clip-32-test"
    config = {**json.loads(json.dumps(TINY_CLIP_CFG)), "vision_cfg": {**TINY_CLIP_CFG["vision_cfg"], "image_size": 32}}
    (tmp_path / f"{name}.json").write_text(json.dumps(config))
    open_clip.add_model_config(tmp_path / f"{name}.json")
    torch.manual_seed(0)
    model, _, preprocess = open_clip.create_model_and_transforms(name, pretrained=None)
    path = tmp_path / "clip32.pt"
    torch.save(model.state_dict(), path)
    reward = make("clip", clip_model=name, weights_path=path, prompt="a photo")

    seen = []
    score = reward.score
    reward.score = lambda images, context: (seen.append(images), score(images, context))[1]
    torch.manual_seed(1)
    core = make_core(build_preset("tiny"), reward, num_envs=4)
    core.reset(torch.arange(4))
    for k in range(core.num_steps):
        core.step(torch.randint(0, core.V, (4, core.step_sizes[k])))
    assert seen[0].shape[-1] == 64  # the decoded image itself, not a pre-resized one

    pil = [Image.fromarray((img.permute(1, 2, 0) * 255).round().byte().numpy()) for img in core.last_images]
    with torch.no_grad():
        reference = torch.nn.functional.normalize(model.eval().encode_image(torch.stack([preprocess(p) for p in pil])), dim=-1)
    ours = reward.backbone.encode_images(core.last_images)
    bilinear = ClipBackbone.encode_images(reward.backbone, resize_for(core.last_images, 32).clone())
    ours_gap = (ours - reference).norm(dim=-1)
    bilinear_gap = (bilinear - reference).norm(dim=-1)
    assert bool((ours_gap < 0.5 * bilinear_gap).all()), (ours_gap, bilinear_gap)
