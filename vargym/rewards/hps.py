"""``"hpsv2"``: Human Preference Score v2 / v2.1 (Wu et al. 2023), a prompt-conditioned preference model.

HPSv2 is an open_clip ViT-H-14 fine-tuned on human preference pairs; its score is the cosine between
the normalised image and prompt embeddings (no logit scale; typical values 0.24..0.30, papers print
x100). Images are fitted as the hpsv2 package's eval transform does: the longer side resized to 224 and the
rest zero-padded (the whole image is scored; CLIP's centre crop would cut a non-square image). We load it through open_clip ourselves instead of the ``hpsv2`` package, whose runtime pins
(pytest, protobuf<4, an old open_clip fork) would break a training environment; the weights are the
official files, used as they are.

Weights: ``HPS_v2.1_compressed.pt`` (or ``HPS_v2_compressed.pt`` for ``version="v2.0"``) from the
Hugging Face repo ``xswu/HPSv2`` through the user's HF cache, or a local file (``weights_path=``).
"""

from __future__ import annotations

import os

import torch

from vargym.netcheck import hub_file
from vargym.rewards.clip_models import ClipBackbone, load_clip
from vargym.rewards.clip_score import ClipScoreReward
from vargym.rewards.registry import register

__all__ = ["HPS_FILES", "HPSv2Reward"]

HPS_REPO = "xswu/HPSv2"
HPS_FILES = {"v2.1": "HPS_v2.1_compressed.pt", "v2.0": "HPS_v2_compressed.pt"}


@register("hpsv2")
class HPSv2Reward(ClipScoreReward):
    """HPS v2.1 (default) or v2.0: cosine of the ViT-H-14 image and prompt embeddings.

    The prompt is ``context.prompt`` when given, else ``prompt``; ``{label}`` is filled per image with
    the class name of its label (see `RewardContext.prompts`). Prompt embeddings are cached.

    Args:
        prompt: default prompt, ``"a photo of a {label}"`` (class-conditional generation).
        version: ``"v2.1"`` or ``"v2.0"``.
        weights_path: a local HPS checkpoint (``{"state_dict": ...}`` as released); skips the hub.
        clip_model: open_clip architecture of the checkpoint (``"ViT-H-14"``).
        device, dtype: where/how to load the backbone (ViT-H-14 is ~1 B parameters: use a GPU, bf16 halves it).
        backbone: a ready `ClipBackbone` to use instead of loading one.
    """

    def __init__(
        self,
        prompt: str = "a photo of a {label}",
        version: str = "v2.1",
        weights_path: str | os.PathLike | None = None,
        clip_model: str = "ViT-H-14",
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
        backbone: ClipBackbone | None = None,
    ) -> None:
        if version not in HPS_FILES:
            raise ValueError(f"version must be one of {sorted(HPS_FILES)}, got {version!r}")
        if backbone is None:
            if weights_path is None:
                weights_path = hub_file(
                    HPS_REPO, (HPS_FILES[version],), f"HPS {version} weights",
                    "pass weights_path=/path/to/" + HPS_FILES[version] + " (CLI: --reward-arg weights_path=PATH, "
                    "or --reward-arg hpsv2.weights_path=PATH inside an expression)",
                )
            backbone = load_clip(clip_model, weights_path=weights_path, device=device, dtype=dtype)
        super().__init__(prompt=prompt, backbone=backbone)
        self.name, self.version = "hpsv2", version

    image_resize = "pad"
    """HPSv2's own eval transform: the longer side to 224 and zero padding, the whole image kept
    (`vargym.rewards.clip_models.resize_longer_and_pad`), not CLIP's centre crop."""

    def extra_repr(self) -> str:
        return f"{super().extra_repr()}, version={self.version!r}"
