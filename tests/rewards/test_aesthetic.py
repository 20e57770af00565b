"""Aesthetic heads: real LAION weights rank the LAION rating embeddings; strict loading."""

import numpy as np
import pytest
import torch

from vargym.errors import CheckpointError, WeightsNotAvailableError
from vargym.rewards import make
from vargym.rewards.aesthetic import AestheticV2Head, load_aesthetic_head


def _ratings(folder):
    return torch.cat([torch.from_numpy(np.load(folder / f"rating{k}.npy")) for k in range(10)])  # [10, D]


def test_real_v2_head_orders_ratings(v2_head, v1_dir):
    head = load_aesthetic_head(v2_head, "v2")
    assert isinstance(head, AestheticV2Head) and not head.training
    assert [k for k, _ in head.state_dict().items()][0] == "layers.0.weight"
    scores = head(_ratings(v1_dir / "vit_l_14_embeddings"))
    assert scores.shape == (10,)
    assert torch.all(scores[1:] > scores[:-1]), scores
    assert 1.0 < scores[0] < 2.5 and 5.0 < scores[-1] < 6.5  # ~1.66 .. 5.75


@pytest.mark.parametrize(
    ("file", "emb"), [("sa_0_4_vit_l_14_linear.pth", "vit_l_14"), ("sa_0_4_vit_b_32_linear.pth", "vit_b_32")]
)
def test_real_v1_heads_order_ratings(v1_dir, file, emb):
    head = load_aesthetic_head(v1_dir / file, "v1")
    scores = head(_ratings(v1_dir / f"{emb}_embeddings"))
    assert torch.all(scores[1:] > scores[:-1]), scores


def test_strict_loading(tmp_path, v1_dir):
    bad = tmp_path / "bad.pth"
    state = AestheticV2Head().state_dict()
    state["layers.1.weight"] = torch.zeros(1)
    torch.save(state, bad)
    with pytest.raises(CheckpointError, match="not a LAION aesthetic v2 head"):
        load_aesthetic_head(bad, "v2")
    with pytest.raises(CheckpointError, match="not a LAION aesthetic v2 head"):
        load_aesthetic_head(v1_dir / "sa_0_4_vit_b_32_linear.pth", "v2")
    with pytest.raises(ValueError, match="version must be 'v1' or 'v2'"):
        load_aesthetic_head(bad, "v3")


def test_aesthetic_reward_end_to_end(tiny_clip, v2_head):
    name, path = tiny_clip
    reward = make("aesthetic", clip_model=name, weights_path=path, head_path=v2_head)
    images = torch.rand(2, 3, 80, 80)
    out = reward(images)
    emb = reward.backbone.encode_images(images)
    torch.testing.assert_close(emb.norm(dim=-1), torch.ones(2))
    torch.testing.assert_close(out.total, reward.head(emb))
    assert torch.all((out.total > 3) & (out.total < 7))  # real head on a random backbone: ~5.25 +- 0.64
    assert reward.input_size is None and reward.backbone.image_size == 64 and not reward.head.training


def test_aesthetic_v1_dimension_mismatch(tiny_clip, v1_dir):
    name, path = tiny_clip
    with pytest.raises(ValueError, match="expects 512-d embeddings, but .* gives 768-d"):
        make(
            "aesthetic-v1",
            clip_model=name,
            weights_path=path,
            head_path=v1_dir / "sa_0_4_vit_b_32_linear.pth",
        )


def test_default_head_download_is_offline_safe(tiny_clip):
    name, path = tiny_clip
    with pytest.raises(ValueError, match="needs a ViT-L-14 backbone"):
        make("aesthetic", clip_model=name, weights_path=path)
    with pytest.raises(WeightsNotAvailableError, match="HF_HUB_OFFLINE=1"):
        make("aesthetic")  # backbone not cached offline
