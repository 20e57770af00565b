"""No-reference image quality rewards: ``"brisque"`` (classical, through piq) and ``"clip-iqa"`` (CLIP antonyms).

Both are oriented "higher is better" in ``total``; the raw metric is kept as a component.

- BRISQUE (Mittal et al. 2012): natural-scene statistics of the luma at two scales, scored by the
  official RBF support-vector regressor; lower raw values mean better quality (about 0..100).
  Features come from piq (Apache-2.0), the SVR weights from piq's release file
  ``brisque_svm_weights.pt`` (read with ``weights_only=True``). ``pip install 'vargym[iqa]'``.
  Featureless images (a flat colour) have no BRISQUE features: they score NaN, which the reward's
  default ``nan_policy="min"`` turns into the batch's worst score.
- CLIP-IQA (Wang et al. 2023): the softmax probability of "Good photo." against "Bad photo." under a
  CLIP model (OpenAI RN50 by default), in [0, 1]. By default (``protocol="piq"``) as the reference
  (``piq.CLIPIQA``, and the paper's code): the image at its own size, normalised with CLIP's mean and std,
  through the ResNet, and the attention pool **without** its positional embedding (which only fits 224 px);
  tested equal to piq's own ``CLIPIQA`` on the same weights. ``protocol="resize"`` is CLIP's usual 224 px
  resize-and-crop with the positional embedding (the scores differ from the reference by 0.1-0.3).

The learned quality model of AR-GRPO, MANIQA, is `vargym.rewards.maniqa`.
"""

from __future__ import annotations

import os

import torch

from vargym.errors import import_extra
from vargym.rewards.base import Reward, RewardContext
from vargym.rewards.clip_models import ClipBackbone, load_clip
from vargym.rewards.registry import register

__all__ = ["BRISQUE_WEIGHTS_URL", "BRISQUEReward", "CLIP_IQA_PROTOCOLS", "ClipIQAReward"]

CLIP_IQA_PROTOCOLS = ("piq", "resize")
"""How CLIP-IQA sees an image: as the reference (own size, no positional embedding) or CLIP's 224 px crop."""

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
        protocol: "piq" (the reference: images at their own size, no positional embedding; needs a ResNet
            CLIP and images of at least 32 px) or "resize" (224 px crop with the positional embedding).
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
        protocol: str = "piq",
    ) -> None:
        super().__init__(name="clip-iqa")
        if len(prompts) != 2 or not all(isinstance(p, str) and p for p in prompts):
            raise ValueError(f"prompts must be two non-empty strings (positive, negative), got {prompts!r}")
        if protocol not in CLIP_IQA_PROTOCOLS:
            raise ValueError(f"protocol must be one of {CLIP_IQA_PROTOCOLS}, got {protocol!r}")
        self.prompts, self.protocol = tuple(prompts), protocol
        if backbone is None:
            backbone = load_clip(clip_model, pretrained, weights_path, device=device, dtype=dtype)
        self.backbone = backbone
        visual = getattr(backbone.model, "visual", None)
        if protocol == "piq" and not (hasattr(visual, "attnpool") and hasattr(visual, "stem")):
            raise ValueError(f"protocol 'piq' runs CLIP-IQA's ResNet without positional embeddings; "
                             f"{backbone.model_name} is not a ResNet CLIP: use protocol='resize' or an RN model")
        self.input_size = None if protocol == "piq" else backbone.image_size

    def _piq_image_features(self, images: torch.Tensor) -> torch.Tensor:
        """Unit-norm image embeddings ``[N, D]`` as piq's CLIPIQA computes them (own size, no positions)."""
        visual, backbone = self.backbone.model.visual, self.backbone
        if min(images.shape[-2:]) < 32:
            raise ValueError(f"clip-iqa (protocol 'piq') needs images of at least 32 px (the ResNet downsamples "
                             f"32x), got {tuple(images.shape[-2:])}")
        x = ((images.float().to(backbone.mean.device) - backbone.mean) / backbone.std).to(visual.conv1.weight.dtype)
        x = visual.layer4(visual.layer3(visual.layer2(visual.layer1(visual.stem(x)))))  # [N, C, h, w]
        pool = visual.attnpool
        x = x.flatten(2).permute(2, 0, 1)  # (hw)NC
        x = torch.cat([x.mean(dim=0, keepdim=True), x], dim=0)  # (hw+1)NC: no positional embedding
        x, _ = torch.nn.functional.multi_head_attention_forward(
            query=x, key=x, value=x, embed_dim_to_check=x.shape[-1], num_heads=pool.num_heads,
            q_proj_weight=pool.q_proj.weight, k_proj_weight=pool.k_proj.weight, v_proj_weight=pool.v_proj.weight,
            in_proj_weight=None, in_proj_bias=torch.cat([pool.q_proj.bias, pool.k_proj.bias, pool.v_proj.bias]),
            bias_k=None, bias_v=None, add_zero_attn=False, dropout_p=0.0, out_proj_weight=pool.c_proj.weight,
            out_proj_bias=pool.c_proj.bias, use_separate_proj_weight=True, training=False, need_weights=False)
        return torch.nn.functional.normalize(x[0].float(), dim=-1)  # [N, D]

    def score(self, images: torch.Tensor, context: RewardContext) -> torch.Tensor:
        if self.protocol == "piq":
            image_emb = self._piq_image_features(images)  # [N, D], unit norm
        else:
            image_emb = self.backbone.encode_images(images)  # [N, D], unit norm
        anchors = self.backbone.encode_texts(list(self.prompts))  # [2, D], unit norm
        logit_scale = self.backbone.model.logit_scale.exp().float()
        return (logit_scale * image_emb @ anchors.T).softmax(dim=-1)[:, 0]  # [N]

    def extra_repr(self) -> str:
        return f"{super().extra_repr()}, prompts={self.prompts!r}, protocol={self.protocol!r}"
