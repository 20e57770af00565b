"""LAION aesthetic predictors: ``"aesthetic"`` (v2, CLIP ViT-L/14 + MLP) and ``"aesthetic-v1"`` (linear).

Both score the L2-normalised OpenAI CLIP image embedding on a roughly 1..10 scale (typical
photos ~4.5..5.5). Head weights:

- v2 ("improved-aesthetic-predictor", Apache-2.0): ``sac+logos+ava1-l14-linearMSE.pth`` from the
  GitHub repo christophschuhmann/improved-aesthetic-predictor (no canonical Hugging Face copy),
  downloaded once to ``$TORCH_HOME/hub/checkpoints/vargym/`` with its sha256 checked;
- v1 (LAION-AI/aesthetic-predictor, MIT): ``sa_0_4_vit_{b_32,l_14}_linear.pth`` likewise.

Pass ``head_path=`` to use a local file; ``weights_path=`` for the CLIP backbone (see `load_clip`).
"""

from __future__ import annotations

import os

import torch
from torch import nn

from vargym.errors import CheckpointError
from vargym.rewards.base import Reward, RewardContext
from vargym.rewards.clip_models import ClipBackbone, download_file, load_clip
from vargym.rewards.registry import register

__all__ = ["AestheticReward", "AestheticV1Reward", "AestheticV2Head", "load_aesthetic_head"]

_V2 = (
    "https://github.com/christophschuhmann/improved-aesthetic-predictor/raw/main/sac%2Blogos%2Bava1-l14-linearMSE.pth",
    "sac+logos+ava1-l14-linearMSE.pth",
    "21dd590f3ccdc646f0d53120778b296013b096a035a2718c9cb0d511bff0f1e0",
)
_V1_BASE = "https://github.com/LAION-AI/aesthetic-predictor/raw/main/"
_V1 = {  # backbone family -> (url, file, sha256)
    "ViT-B-32": (
        _V1_BASE + "sa_0_4_vit_b_32_linear.pth",
        "sa_0_4_vit_b_32_linear.pth",
        "c7b14cead230694acc7b9447974d3cad78003c72da032e402a303b6c2429e85f",
    ),
    "ViT-L-14": (
        _V1_BASE + "sa_0_4_vit_l_14_linear.pth",
        "sa_0_4_vit_l_14_linear.pth",
        "2cd4e60f4f24ae3bcd57b847b13c1f3ba27edc28cc1a7f9ce74ee9f421243cba",
    ),
}


class AestheticV2Head(nn.Module):
    """The LAION v2 "linearMSE" MLP (no activations); state-dict keys ``layers.{0,2,4,6,7}``."""

    def __init__(self, input_dim: int = 768) -> None:
        super().__init__()
        self.layers = nn.Sequential(
            nn.Linear(input_dim, 1024),
            nn.Dropout(0.2),
            nn.Linear(1024, 128),
            nn.Dropout(0.2),
            nn.Linear(128, 64),
            nn.Dropout(0.1),
            nn.Linear(64, 16),
            nn.Linear(16, 1),
        )

    def forward(self, embeddings: torch.Tensor) -> torch.Tensor:
        """``[N, D]`` normalised embeddings -> scores ``[N]``."""
        return self.layers(embeddings).squeeze(-1)


class _LinearHead(nn.Linear):
    """The LAION v1 head: ``Linear(D, 1)`` with keys ``weight``/``bias``."""

    def forward(self, embeddings: torch.Tensor) -> torch.Tensor:
        return super().forward(embeddings).squeeze(-1)


def load_aesthetic_head(path: str | os.PathLike, version: str = "v2") -> nn.Module:
    """Load an aesthetic head file strictly (``torch.load(weights_only=True)``).

    Args:
        path: the ``.pth`` state dict.
        version: ``"v2"`` (MLP, 768-d input) or ``"v1"`` (linear, input size read from the file).

    Raises:
        ValueError: unknown version. CheckpointError: keys or shapes do not match.
    """
    if version not in ("v1", "v2"):
        raise ValueError(f"version must be 'v1' or 'v2', got {version!r}")
    state = torch.load(path, map_location="cpu", weights_only=True)
    if version == "v2":
        head: nn.Module = AestheticV2Head(
            state["layers.0.weight"].shape[1] if "layers.0.weight" in state else 768
        )
    else:
        head = _LinearHead(state["weight"].shape[1] if "weight" in state else 512, 1)
    try:
        head.load_state_dict(state, strict=True)
    except RuntimeError as e:
        raise CheckpointError(f"{path} is not a LAION aesthetic {version} head: {e}") from e
    return head.eval().requires_grad_(False)


@register("aesthetic")
class AestheticReward(Reward):
    """LAION aesthetic score v2: CLIP ViT-L/14 (OpenAI) embedding, L2-normalised, then the MLP head.

    Args:
        head_path: local head file; None downloads the official one (sha256-checked).
        clip_model: open_clip model name of the backbone.
        pretrained: open_clip pretrained tag of the backbone.
        weights_path: local CLIP checkpoint (skips the hub).
        device: where to load; dtype: backbone dtype (the head stays float32).
        backbone: a ready `ClipBackbone` to use instead of loading one (``clip_model`` still picks
            the default head from its ``model_name``).
    """

    version = "v2"

    def __init__(
        self,
        head_path: str | os.PathLike | None = None,
        clip_model: str = "ViT-L-14-quickgelu",
        pretrained: str = "openai",
        weights_path: str | os.PathLike | None = None,
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
        backbone: ClipBackbone | None = None,
    ) -> None:
        super().__init__(name="aesthetic")
        if backbone is None:
            backbone = load_clip(clip_model, pretrained, weights_path, device=device, dtype=dtype)
        self.backbone = backbone
        if head_path is None:
            url, filename, sha256 = self._default_head(backbone.model_name)
            head_path = download_file(url, filename, sha256, option="--reward-arg head_path=PATH")
        self.head = load_aesthetic_head(head_path, self.version).to(self.backbone.mean.device)
        head_dim = self.head.layers[0].in_features if self.version == "v2" else self.head.in_features
        if head_dim != self.backbone.embed_dim:
            raise ValueError(
                f"aesthetic head {head_path} expects {head_dim}-d embeddings, but {backbone.model_name!r} gives "
                f"{self.backbone.embed_dim}-d"
            )
        self.input_size = None  # the backbone resizes once itself (bicubic, as CLIP's own preprocessing)

    def _default_head(self, clip_model: str) -> tuple[str, str, str]:
        if not clip_model.startswith("ViT-L-14"):
            raise ValueError(
                f"the v2 aesthetic head needs a ViT-L-14 backbone, got {clip_model!r}; pass head_path="
            )
        return _V2

    def score(self, images: torch.Tensor, context: RewardContext) -> torch.Tensor:
        emb = self.backbone.encode_images(images)  # [N, D], unit norm
        return self.head(emb.to(self.head_device))  # [N]

    @property
    def head_device(self) -> torch.device:
        return next(self.head.parameters()).device


@register("aesthetic-v1")
class AestheticV1Reward(AestheticReward):
    """LAION aesthetic v1: a linear head on the normalised CLIP embedding (ViT-B/32 by default: cheap on CPU)."""

    version = "v1"

    def __init__(self, head_path=None, clip_model: str = "ViT-B-32-quickgelu", **kwargs) -> None:
        super().__init__(head_path=head_path, clip_model=clip_model, **kwargs)
        self.name = "aesthetic-v1"

    def _default_head(self, clip_model: str) -> tuple[str, str, str]:
        family = clip_model.removesuffix("-quickgelu")
        if family not in _V1:
            raise ValueError(
                f"no v1 aesthetic head for {clip_model!r} (known: {sorted(_V1)}); pass head_path="
            )
        return _V1[family]
