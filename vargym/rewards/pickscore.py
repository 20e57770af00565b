"""``"pickscore"``: PickScore v1 (Kirstain et al. 2023), a CLIP ViT-H-14 fine-tuned on Pick-a-Pic preferences.

Score = ``exp(logit_scale) * cos(image, prompt)`` as its authors compute it (about 18..23; Flow-GRPO divides
by 26). The model is a Hugging Face ``CLIPModel`` (``yuvalkirstain/PickScore_v1``), so this reward needs
``transformers`` (``pip install 'vargym[pickscore]'``). Prompts are tokenised with open_clip's CLIP BPE
tokenizer (the same vocabulary and 77-token context as the model's processor, and offline); images get
CLIP's 224 px preprocessing in torch, as the processor of ``laion/CLIP-ViT-H-14-laion2B-s32B-b79K`` does.
"""

from __future__ import annotations

import os
from pathlib import Path

import torch
import torch.nn.functional as F

from vargym.errors import CheckpointError, WeightsNotAvailableError, import_extra
from vargym.rewards.base import Reward, RewardContext
from vargym.rewards.clip_models import OPENAI_MEAN, OPENAI_STD, clip_preprocess, hub_file
from vargym.rewards.registry import register

__all__ = ["PICKSCORE_REPO", "PickScoreReward"]

PICKSCORE_REPO = "yuvalkirstain/PickScore_v1"


def _embedding(output) -> torch.Tensor:
    """transformers 4 returns the projected features, 5 a model output holding them as ``pooler_output``."""
    return output if isinstance(output, torch.Tensor) else output.pooler_output


@register("pickscore")
class PickScoreReward(Reward):
    """PickScore of each image for its prompt (``context.prompt``, else ``prompt`` with ``{label}`` filled).

    Args:
        prompt: default prompt, ``"a photo of a {label}"``.
        weights_path: a local folder saved by ``CLIPModel.save_pretrained`` (``config.json`` + weights);
            None = the hub repo through the user's HF cache.
        device, dtype: where/how to load the model (ViT-H-14: ~1 B parameters).
        model: a ready ``transformers.CLIPModel`` to use instead of loading one.
    """

    def __init__(
        self,
        prompt: str = "a photo of a {label}",
        weights_path: str | os.PathLike | None = None,
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
        model=None,
    ) -> None:
        super().__init__(name="pickscore")
        transformers = import_extra("transformers", "pickscore", "the pickscore reward")
        import open_clip

        if not isinstance(prompt, str) or not prompt:
            raise ValueError(f"prompt must be a non-empty string, got {prompt!r}")
        self.prompt = prompt
        if model is None:
            model = self._load(transformers, weights_path)
        self.model = model.to(device or "cpu", dtype or torch.float32).eval().requires_grad_(False)
        self.tokenizer = open_clip.get_tokenizer("ViT-H-14")
        self.image_size = int(model.config.vision_config.image_size)
        self.register_buffer("mean", torch.tensor(OPENAI_MEAN).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(OPENAI_STD).view(1, 3, 1, 1), persistent=False)
        self._text_cache: dict[str, torch.Tensor] = {}

    @staticmethod
    def _load(transformers, weights_path: str | os.PathLike | None):
        if weights_path is None:
            option = "pass weights_path=FOLDER (a CLIPModel saved with save_pretrained; CLI: --reward-arg weights_path=FOLDER)"
            config = hub_file(PICKSCORE_REPO, ("config.json",), "PickScore's config", option)
            hub_file(PICKSCORE_REPO, ("model.safetensors", "pytorch_model.bin"), "PickScore weights", option)
            weights_path = Path(config).parent
        folder = Path(weights_path)
        if not (folder / "config.json").is_file():
            raise WeightsNotAvailableError(f"PickScore folder {folder} has no config.json (weights_path={weights_path!r})")
        try:
            return transformers.CLIPModel.from_pretrained(folder, local_files_only=True)
        except (OSError, ValueError, RuntimeError) as e:
            raise CheckpointError(f"cannot load a CLIPModel from {folder}: {e}") from e

    def _texts(self, prompts: list[str]) -> torch.Tensor:
        missing = [p for p in dict.fromkeys(prompts) if p not in self._text_cache]
        if missing:
            tokens = self.tokenizer(missing).to(self.mean.device)  # [P, 77]
            emb = F.normalize(_embedding(self.model.get_text_features(input_ids=tokens)).float(), dim=-1)
            self._text_cache.update(zip(missing, emb, strict=True))
        return torch.stack([self._text_cache[p] for p in prompts])  # [P, D]

    def _apply(self, fn, recurse=True):  # moving the weights invalidates cached prompt embeddings
        self._text_cache = {}
        return super()._apply(fn, recurse)

    def score(self, images: torch.Tensor, context: RewardContext) -> torch.Tensor:
        pixels = clip_preprocess(images, self.image_size, self.mean, self.std).to(self.model.dtype)
        image_emb = F.normalize(_embedding(self.model.get_image_features(pixel_values=pixels)).float(), dim=-1)
        text_emb = self._texts(context.prompts(self.prompt))  # [1 or N, D]
        return self.model.logit_scale.exp().float() * (image_emb * text_emb).sum(-1)  # [N]

    def extra_repr(self) -> str:
        return f"{super().extra_repr()}, prompt={self.prompt!r}"
