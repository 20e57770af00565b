"""``"clip"``: CLIP image-text similarity to a prompt (e.g. "a painting")."""

from __future__ import annotations

import os

import torch

from vargym.rewards.base import Reward, RewardContext
from vargym.rewards.clip_models import ClipBackbone, load_clip
from vargym.rewards.registry import register

__all__ = ["ClipScoreReward"]


@register("clip")
class ClipScoreReward(Reward):
    """Cosine similarity between the image and prompt CLIP embeddings.

    Scale: the raw cosine in [-1, 1] (no clamping, no x100; typical matched pairs ~0.25..0.35,
    unrelated ~0.1..0.2). Group-normalised algorithms do not care about the scale; multiply
    in an expression (``"aesthetic+10*clip"``) or with `ScaleReward` to weigh it.

    The prompt is ``context.prompt`` when given, else ``prompt``. A prompt containing ``{label}``
    is filled per image with the class name of ``context.labels`` (the generator's own class names, or
    ImageNet's for VAR and LlamaGen).
    Text embeddings are computed once per distinct prompt and cached.

    Args:
        prompt: default prompt.
        clip_model: ``"ViT-L-14-quickgelu"`` (default, OpenAI), ``"ViT-B-32-quickgelu"`` (cheap on CPU),
            ``"tiny-clip"`` (shipped: the text-to-image world's, offline) or a folder in open_clip's Hugging Face
            layout (`vargym.rewards.clip_models.load_clip`).
        pretrained: open_clip pretrained tag; weights_path: local CLIP checkpoint.
        device, dtype: where/how to load the backbone.
        backbone: a ready `ClipBackbone` to use instead of loading one.
    """

    def __init__(
        self,
        prompt: str = "a painting",
        clip_model: str = "ViT-L-14-quickgelu",
        pretrained: str = "openai",
        weights_path: str | os.PathLike | None = None,
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
        backbone: ClipBackbone | None = None,
    ) -> None:
        super().__init__(name="clip")
        if not isinstance(prompt, str) or not prompt:
            raise ValueError(f"prompt must be a non-empty string, got {prompt!r}")
        self.prompt = prompt
        if backbone is None:
            backbone = load_clip(clip_model, pretrained, weights_path, device=device, dtype=dtype)
        self.backbone = backbone
        self.input_size = None  # the backbone resizes once itself (bicubic, as CLIP's own preprocessing)

    image_resize = "crop"
    """How images fit the backbone's input (`vargym.rewards.clip_models.IMAGE_RESIZES`): CLIP's centre crop."""

    def score(self, images: torch.Tensor, context: RewardContext) -> torch.Tensor:
        image_emb = self.backbone.encode_images(images, self.image_resize)  # [N, D], unit norm
        text_emb = self.backbone.encode_texts(context.prompts(self.prompt))  # [1 or N, D]
        return (image_emb * text_emb).sum(dim=-1)  # [N]

    def extra_repr(self) -> str:
        return f"{super().extra_repr()}, prompt={self.prompt!r}"
