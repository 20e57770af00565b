"""Verifiable prompt rewards of the embedded text-to-image world: attribute classifiers read against each
prompt's metadata (`vargym.data.captioned`).

- ``"attr"``: for each image, the reward classifier's probability that every attribute its prompt names (shape,
  colour, background, size; for two-object scenes both shapes and colours, the relation and the background) is
  right: the product of their probabilities (GenEval's all-or-nothing rule, made dense), a verifiable reward; ``rule="mean"`` scores their mean instead. Components: each attribute's
  probability and ``all_correct`` (every named attribute the classifier's top choice).
- ``"text-fidelity"``: GenEval's all-or-nothing rule with the *other* classifier (``attr_gold``): 1 when every
  named attribute is recognised, else 0. The gold metric of ``tiny-t2i`` runs, so that a policy that fools the
  reward classifier is caught.

Both read the classifiers shipped with ``tiny-t2i`` (``vargym/assets/tiny-t2i/attr_reward`` and ``attr_gold``) or
``classifier=DIR`` (a `vargym.data.classifier.save_classifier` directory, e.g. a pretraining run's; a
two-object model's prompts need its two-object classifiers).
"""

from __future__ import annotations

from pathlib import Path

import torch

from vargym.errors import WeightsNotAvailableError
from vargym.rewards.base import Reward, RewardContext
from vargym.rewards.registry import register

__all__ = ["AttributeReward", "TextFidelityReward"]

_SHIPPED = Path(__file__).resolve().parents[1] / "assets" / "tiny-t2i"


def _load(classifier: str | Path | None, default: str, device: torch.device | str | None):
    from vargym.data.classifier import load_classifier

    folder = Path(classifier) if classifier is not None else _SHIPPED / default
    if not (folder / "classifier.json").is_file():
        raise WeightsNotAvailableError(
            f"no attribute classifier at {folder}: the shipped tiny-t2i model is missing, or classifier= names a "
            f"folder without one (pass classifier=DIR, a `vargym pretrain --preset tiny-t2i` output's {default}/)")
    return load_classifier(folder, device=device or "cpu").eval().requires_grad_(False)


def _read(classifier: torch.nn.Module, images: torch.Tensor, context: RewardContext, name: str
          ) -> tuple[dict[str, torch.Tensor], torch.Tensor, torch.Tensor]:
    """The classifier's log-probabilities per attribute, the prompted attributes ``[N, A]`` (-1: not named;
    A = 4 for one object, 6 for two-object scenes; the classifier must be of the prompts' kind) and which of
    them it recognises, bool ``[N, A]``."""
    from vargym.data.attributes import attribute_log_probs, recognised
    from vargym.data.captioned import attributes_from_metadata

    if context.metadata is None or len(context.metadata) != images.shape[0] or not any(context.metadata):
        raise ValueError(f"the {name} reward reads each image's prompt metadata (shape, color, background, size): "
                         f"use it with a text model on the procedural captions (tiny-t2i, --prompts procedural)")
    log_probs, attributes = attribute_log_probs(classifier, images), attributes_from_metadata(context.metadata)
    right = recognised(log_probs, attributes)  # raises when the classifier is of the other kind
    return log_probs, attributes.to(images.device), right


@register("attr")
class AttributeReward(Reward):
    """Probability of each image's prompted attributes under the reward classifier, in [0, 1].

    Args:
        classifier: a classifier directory (default: the shipped ``tiny-t2i/attr_reward``).
        device: where it runs.
        rule: "joint" (the product of the named attributes' probabilities: a prompt counts as followed only
            when every attribute is, so a missed shape costs as much as the rest together) or "mean" (their
            mean, where colours and backgrounds the model already draws right dilute a missed shape).
    """

    RULES = ("joint", "mean")

    def __init__(self, classifier: str | Path | None = None, device: torch.device | str | None = None,
                 rule: str = "joint") -> None:
        super().__init__(name="attr")
        if rule not in self.RULES:
            raise ValueError(f"attr reward: rule must be one of {self.RULES}, got {rule!r}")
        self.rule = rule
        self.classifier = _load(classifier, "attr_reward", device)

    @torch.no_grad()
    def score(self, images: torch.Tensor, context: RewardContext) -> dict[str, torch.Tensor]:
        log_probs, attributes, right = _read(self.classifier, images, context, "attr")  # attributes [N, A]
        named = attributes >= 0
        probs = torch.stack([values.gather(1, attributes[:, i].clamp_min(0).unsqueeze(1)).squeeze(1).exp()
                             for i, values in enumerate(log_probs.values())], dim=1) * named  # [N, A]
        if self.rule == "joint":
            total = torch.where(named, probs, torch.ones_like(probs)).prod(dim=1)
        else:
            total = probs.sum(dim=1) / named.sum(dim=1).clamp_min(1)
        components = {name: probs[:, i] for i, name in enumerate(log_probs)}
        components["all_correct"] = right.all(dim=1).float()
        return {"total": total, **components}


@register("text-fidelity")
class TextFidelityReward(Reward):
    """1 when the gold classifier recognises every attribute the image's prompt names, else 0 (GenEval's rule).

    Args:
        classifier: a classifier directory (default: the shipped ``tiny-t2i/attr_gold``).
        device: where it runs.
    """

    def __init__(self, classifier: str | Path | None = None, device: torch.device | str | None = None) -> None:
        super().__init__(name="text-fidelity")
        self.classifier = _load(classifier, "attr_gold", device)

    @torch.no_grad()
    def score(self, images: torch.Tensor, context: RewardContext) -> torch.Tensor:
        _, _, right = _read(self.classifier, images, context, "text-fidelity")
        return right.all(dim=1).float()  # [N]
