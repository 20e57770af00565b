"""No-reference image quality rewards: ``"brisque"`` (classical, through piq) and ``"clip-iqa"`` (CLIP antonyms).

Both are oriented "higher is better" in ``total``; the raw metric is kept as a component.

- BRISQUE (Mittal et al. 2012): natural-scene statistics of the luma at two scales, scored by the
  official RBF support-vector regressor; lower raw values mean better quality (about 0..100).
  Features come from piq (Apache-2.0), the SVR weights from piq's release file
  ``brisque_svm_weights.pt`` (read with ``weights_only=True``). ``pip install 'vargym[iqa]'``.
  Featureless images (a flat colour) have no BRISQUE features: they score NaN, which the reward's
  default ``nan_policy="min"`` turns into the batch's worst score.
- CLIP-IQA (Wang et al. 2023): the softmax probability of "Good photo." against "Bad photo." under a
  CLIP model (OpenAI RN50 by default), in [0, 1]. We run it on our shared open_clip backbones with
  CLIP's standard 224 px preprocessing; piq's ``CLIPIQA`` instead feeds images at their own size
  without the positional embedding, so absolute values differ slightly from piq's.

The learned quality model of AR-GRPO, MANIQA, is `vargym.rewards.maniqa`.
"""

from __future__ import annotations

import os

import torch

from vargym.errors import import_extra
from vargym.rewards.base import Reward, RewardContext
from vargym.rewards.clip_models import ClipBackbone, load_clip
from vargym.rewards.registry import register

__all__ = ["BRISQUE_WEIGHTS_URL", "BRISQUEReward", "ClipIQAReward"]

BRISQUE_WEIGHTS_URL = "https://github.com/photosynthesis-team/piq/releases/download/v0.4.0/brisque_svm_weights.pt"
_SVR_GAMMA, _SVR_RHO = 0.05, -153.591  # the official MATLAB model's kernel width and offset


@register("brisque")
class BRISQUEReward(Reward):
    """Negative BRISQUE (``total = -brisque``); component ``brisque`` is the raw score (lower is better).

    Args:
        weights_path: piq's ``brisque_svm_weights.pt`` (``(sv_coef [K], sv [K, 36])``); None = torch hub's
            cache, downloaded there when absent and possible.
        nan_policy: for featureless (flat) images; ``"min"`` gives them the batch's worst score.
    """

    def __init__(self, weights_path: str | os.PathLike | None = None, nan_policy: str = "min") -> None:
        super().__init__(name="brisque", nan_policy=nan_policy)
        import_extra("piq", "iqa", "the brisque reward")
        if weights_path is None:
            from vargym.netcheck import torch_hub_file

            weights_path = torch_hub_file(BRISQUE_WEIGHTS_URL, option="--reward-arg brisque.weights_path=PATH",
                                          check_hash=False)
        sv_coef, sv = torch.load(weights_path, map_location="cpu", weights_only=True)
        if sv.dim() != 2 or sv.shape[1] != 36 or sv_coef.shape != (sv.shape[0],):
            raise ValueError(f"{weights_path} is not a BRISQUE SVR (expected sv_coef [K] and sv [K, 36], got "
                             f"{tuple(sv_coef.shape)} and {tuple(sv.shape)})")
        self.register_buffer("sv_coef", sv_coef.float())  # [K]
        self.register_buffer("support_vectors", sv.float())  # [K, 36]

    def features(self, images: torch.Tensor) -> torch.Tensor:
        """The 36 scaled BRISQUE features of images ``[N, 3, H, W]`` in [0, 1] (raises on a flat image)."""
        from piq.brisque import _natural_scene_statistics, _scale_features
        from piq.functional import imresize, rgb2yiq

        luma = torch.round(rgb2yiq(images.float() * 255)[:, :1])  # [N, 1, H, W], MATLAB's uint8 rgb2gray
        scales = []
        for _ in range(2):
            scales.append(_natural_scene_statistics(luma))  # [N, 18]
            luma = imresize(luma, sizes=(luma.shape[2] // 2, luma.shape[3] // 2))
        return _scale_features(torch.cat(scales, dim=-1))  # [N, 36]

    def score(self, images: torch.Tensor, context: RewardContext) -> dict[str, torch.Tensor]:
        try:
            features = self.features(images)
        except AssertionError:  # a featureless image in the batch: score one by one, NaN for those
            features = torch.stack([self._features_or_nan(image[None]) for image in images])
        distance = (features[:, None, :] - self.support_vectors[None]).square().sum(-1)  # [N, K]
        brisque = torch.exp(-_SVR_GAMMA * distance) @ self.sv_coef - _SVR_RHO  # [N]
        return {"total": -brisque, "brisque": brisque}

    def _features_or_nan(self, image: torch.Tensor) -> torch.Tensor:
        try:
            return self.features(image)[0]
        except AssertionError:
            return image.new_full((36,), float("nan"))


@register("clip-iqa")
class ClipIQAReward(Reward):
    """CLIP-IQA: ``softmax(scale * cos(image, [good, bad]))[good]`` in [0, 1]; higher is better.

    Args:
        prompts: the antonym pair, positive first.
        clip_model, pretrained, weights_path, device, dtype: the backbone (see `load_clip`); OpenAI RN50
            by default, as CLIP-IQA.
        backbone: a ready `ClipBackbone` to use instead of loading one.
    """

    def __init__(
        self,
        prompts: tuple[str, str] = ("Good photo.", "Bad photo."),
        clip_model: str = "RN50-quickgelu",
        pretrained: str = "openai",
        weights_path: str | os.PathLike | None = None,
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
        backbone: ClipBackbone | None = None,
    ) -> None:
        super().__init__(name="clip-iqa")
        if len(prompts) != 2 or not all(isinstance(p, str) and p for p in prompts):
            raise ValueError(f"prompts must be two non-empty strings (positive, negative), got {prompts!r}")
        self.prompts = tuple(prompts)
        if backbone is None:
            backbone = load_clip(clip_model, pretrained, weights_path, device=device, dtype=dtype)
        self.backbone = backbone

    def score(self, images: torch.Tensor, context: RewardContext) -> torch.Tensor:
        image_emb = self.backbone.encode_images(images)  # [N, D], unit norm
        anchors = self.backbone.encode_texts(list(self.prompts))  # [2, D], unit norm
        logit_scale = self.backbone.model.logit_scale.exp().float()
        return (logit_scale * image_emb @ anchors.T).softmax(dim=-1)[:, 0]  # [N]

    def extra_repr(self) -> str:
        return f"{super().extra_repr()}, prompts={self.prompts!r}"
