"""``"pickscore"``: PickScore v1 (Kirstain et al. 2023), a CLIP ViT-H-14 fine-tuned on Pick-a-Pic preferences.

Score = ``exp(logit_scale) * cos(image, prompt)`` as its authors compute it (about 18..23; Flow-GRPO divides
by 26). The model is a Hugging Face ``CLIPModel`` (``yuvalkirstain/PickScore_v1``), so this reward needs
``transformers`` (``pip install 'vargym[pickscore]'``). It runs on the same `ClipBackbone` as the open_clip
rewards (CLIP's 224 px preprocessing in torch, embedding caches), through a thin adapter. Prompts are
tokenised as PickScore's processor does (transformers' fast CLIP tokenizer: NFC, white space squeezed, lower
case, and no ftfy or HTML unescaping, which open_clip's tokenizer adds), on open_clip's copy of the same BPE
vocabulary, so offline: `ProcessorTokenizer`.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from types import SimpleNamespace

import torch
from torch import nn

from vargym.errors import CheckpointError, WeightsNotAvailableError, import_extra
from vargym.netcheck import hub_file
from vargym.rewards.base import RewardContext
from vargym.rewards.clip_models import ClipBackbone
from vargym.rewards.clip_score import ClipScoreReward
from vargym.rewards.registry import register

__all__ = ["PICKSCORE_REPO", "PickScoreReward", "ProcessorTokenizer"]

PICKSCORE_REPO = "yuvalkirstain/PickScore_v1"


class ProcessorTokenizer:
    """PickScore's processor tokenisation on open_clip's CLIP BPE: ``texts`` -> int64 ``[P, 77]``.

    The text is NFC-normalised, white-space runs become one space and it is lower-cased (the normaliser of
    transformers' ``CLIPTokenizerFast``); open_clip's own tokenizer also runs ftfy and unescapes HTML, which
    turns curly quotes, ``&amp;`` or full-width letters into other tokens. Then the CLIP split pattern and byte-
    level BPE, BOS/EOS, truncation to 75 tokens plus EOS as the processor truncates, zero padding (the text
    tower reads the EOS position; causal attention hides what follows it).
    """

    def __init__(self, base) -> None:
        self.base = base  # an open_clip SimpleTokenizer: the vocabulary, split pattern and BPE merges
        self.context_length = int(base.context_length)

    def token_ids(self, text: str) -> list[int]:
        """The BPE ids of ``text``, without BOS/EOS."""
        import unicodedata

        import regex

        text = re.sub(r"\s+", " ", unicodedata.normalize("NFC", text)).lower()
        ids = []
        for piece in regex.findall(self.base.pat, text):
            piece = "".join(self.base.byte_encoder[b] for b in piece.encode("utf-8"))
            ids.extend(self.base.encoder[t] for t in self.base.bpe(piece).split(" "))
        return ids

    def __call__(self, texts: str | list[str]) -> torch.Tensor:
        texts = [texts] if isinstance(texts, str) else list(texts)
        out = torch.zeros(len(texts), self.context_length, dtype=torch.long)
        for row, text in enumerate(texts):
            ids = [self.base.sot_token_id, *self.token_ids(text)[: self.context_length - 2], self.base.eot_token_id]
            out[row, : len(ids)] = torch.tensor(ids)
        return out


class _HFClip(nn.Module):
    """A transformers ``CLIPModel`` with open_clip's interface (``encode_image``/``encode_text``, ``visual``)."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.clip = model
        self.logit_scale = model.logit_scale
        self.visual = SimpleNamespace(image_size=int(model.config.vision_config.image_size))

    @staticmethod
    def _embedding(output) -> torch.Tensor:
        """transformers 4 returns the projected features, 5 a model output holding them as ``pooler_output``."""
        return output if isinstance(output, torch.Tensor) else output.pooler_output

    def encode_image(self, pixels: torch.Tensor) -> torch.Tensor:
        return self._embedding(self.clip.get_image_features(pixel_values=pixels))

    def encode_text(self, tokens: torch.Tensor) -> torch.Tensor:
        return self._embedding(self.clip.get_text_features(input_ids=tokens))


@register("pickscore")
class PickScoreReward(ClipScoreReward):
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
        model: nn.Module | None = None,
    ) -> None:
        transformers = import_extra("transformers", "pickscore", "the pickscore reward")
        import open_clip

        if model is None:
            model = self._load(transformers, weights_path)
        backbone = ClipBackbone(_HFClip(model), "pickscore", ProcessorTokenizer(open_clip.get_tokenizer("ViT-H-14")))
        backbone = backbone.to(device or "cpu", dtype or torch.float32)
        super().__init__(prompt=prompt, backbone=backbone)
        self.name = "pickscore"

    @staticmethod
    def _load(transformers, weights_path: str | os.PathLike | None) -> nn.Module:
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

    def score(self, images: torch.Tensor, context: RewardContext) -> torch.Tensor:
        return self.backbone.model.logit_scale.exp().float() * super().score(images, context)  # [N]
