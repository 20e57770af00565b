"""Reward-hacking monitors: a held-out "gold" metric and sample diversity beside the proxy reward.

At every evaluation the trainer scores the fixed eval samples with the training reward (the proxy), a gold
metric it does not train on, and pixel diversity within groups (samples of one label) and across them.
`HackingMonitor` raises a flag when, over the last ``window`` evaluations, the proxy rose while the gold
metric or the within-group diversity fell by more than ``threshold`` (relative): the first failure mode
users of every peer project report (a policy that maximises the proxy and forgets the task).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch

__all__ = ["HackingMonitor", "build_gold", "diversity_metrics"]


def diversity_metrics(images: torch.Tensor, labels: torch.Tensor, pixel_size: int = 32,
                      features: Callable[[torch.Tensor], torch.Tensor] | None = None) -> dict[str, float]:
    """Mean RMS distance between samples of one condition (``diversity_within``; ``labels`` are the condition
    ids ``[E]``) and between samples of different conditions as well (``diversity_across``): in the feature
    space of ``features`` (images -> ``[E, D]``, as FID compares images) when given, else between images
    downsampled to ``pixel_size``. The pixel figures are always reported too (``diversity_within_pixels``):
    pixels move whenever the reward moves colours or brightness, which may be the reward's intent, while a
    classifier's features move only with what the images show."""
    from vargym.data.diversity import downsample_pixels, pairwise_diversity

    pixels = downsample_pixels(images.float(), pixel_size).cpu()  # [E, D]
    labels = labels.cpu()
    out = {"diversity_within_pixels": pairwise_diversity(pixels, labels)["mean_distance"],
           "diversity_across_pixels": pairwise_diversity(pixels, torch.zeros_like(labels))["mean_distance"]}
    if features is None:
        points = pixels
    else:
        with torch.no_grad():
            points = features(images).float().cpu()  # [E, D]
    out["diversity_within"] = pairwise_diversity(points, labels)["mean_distance"]
    out["diversity_across"] = pairwise_diversity(points, torch.zeros_like(labels))["mean_distance"]
    out["diversity_within_se"] = standard_error(torch.tensor(
        [pairwise_diversity(points[labels == c], labels[labels == c])["mean_distance"] for c in labels.unique()]))
    return out


def standard_error(values: torch.Tensor) -> float:
    """The standard error of the mean of ``values`` [n] (NaN entries left out; NaN below two values)."""
    values = values[~values.isnan()].double()
    return float(values.std() / values.numel() ** 0.5) if values.numel() >= 2 else float("nan")


DIVERSITY_SPACES = ("auto", "pixels", "classifier")


def build_feature_space(space: str, num_classes: int, device: torch.device, classifier_dir: Any = None
                        ) -> Callable[[torch.Tensor], torch.Tensor] | None:
    """The features the monitor's diversity is measured in: ``"classifier"`` (a tiny classifier's penultimate
    features: the shipped one of the 10 procedural classes, or ``classifier_dir``), ``"pixels"`` (None), or
    ``"auto"`` (a classifier where one fits the model, else pixels)."""
    from pathlib import Path

    from vargym.evaluation.scorers import resolve_suite
    from vargym.models.files import TINY_DIR

    if space not in DIVERSITY_SPACES:
        raise ValueError(f"diversity_space must be one of {DIVERSITY_SPACES}, got {space!r}")
    if space == "pixels":
        return None
    folder = Path(classifier_dir) if classifier_dir is not None else None
    if folder is None and resolve_suite("auto", num_classes) == "tiny" and (TINY_DIR / "classifier.json").is_file():
        folder = TINY_DIR
    if folder is None:
        if space == "classifier":
            raise ValueError("diversity_space 'classifier' needs a classifier that knows the model's images (the "
                             "procedural models' or the text world's); use 'pixels'")
        return None
    from vargym.data.classifier import load_classifier

    classifier = load_classifier(folder, device=device)
    return lambda images: classifier.features(images.to(device))


def build_gold(spec: str | None, num_classes: int, device: torch.device,
               recommended: str | tuple[str, dict] | None = None) -> tuple[str, Callable] | None:
    """The gold metric: ``"class_fidelity"`` (the shipped tiny classifier's top-1 for 10-class models),
    a reward spec (its mean), ``"none"``, or ``None``/``"auto"``: the model's ``recommended`` one (its
    `Generator.gold_metric`), else class fidelity where it applies, else none.

    Returns:
        ``(name, fn(images, context) -> per-image scores [E])`` or None (the metric is their mean; their spread
        gives its standard error); ``context`` is the images' `RewardContext`.
    """
    from vargym.evaluation.scorers import resolve_suite
    from vargym.models.files import TINY_DIR

    tiny = resolve_suite("auto", num_classes) == "tiny"  # the models the shipped classifier knows
    kwargs: dict = {}
    if spec in (None, "auto") and recommended:
        spec, kwargs = recommended if isinstance(recommended, tuple) else (recommended, {})
    if spec in (None, "auto"):
        spec = "class_fidelity" if tiny and (TINY_DIR / "classifier.json").is_file() else "none"
    if spec == "none":
        return None
    if spec == "class_fidelity":
        from vargym.data.classifier import load_classifier

        if not tiny:
            raise ValueError(f"gold 'class_fidelity' uses the tiny classifier of the 10 procedural classes; this "
                             f"model has {num_classes} classes: pass a reward spec as the gold metric instead")
        classifier = load_classifier(TINY_DIR, device=device)

        def correct(images: torch.Tensor, context: Any) -> torch.Tensor:
            with torch.no_grad():
                pred = classifier(images.to(device)).argmax(-1).cpu()
            return (pred == context.labels.cpu()).float()  # [E]

        return "class_fidelity", correct
    import vargym.rewards
    from vargym.rewards import resize_for

    reward = vargym.rewards.make(spec, device=device, **kwargs)
    return spec, lambda images, context: reward(resize_for(images, reward.input_size), context).total.float().cpu()


@dataclass
class HackingMonitor:
    """Flags a rising proxy reward with a falling gold metric or within-group diversity (in the feature space
    `diversity_metrics` measured it in).

    A fall counts when it is larger than ``threshold`` of the old value **and**, where the evaluations report
    their standard errors (``gold_se``, ``diversity_within_se``), larger than ``noise_z`` standard errors of the
    difference: a gold metric measured on 32 images moves by 10% between two evaluations of an unchanged model.

    Args:
        window: evaluations to look back (the flag compares the newest with the one ``window`` earlier).
        threshold: relative fall that counts (0.1 = the gold metric or diversity lost 10% of its value).
        noise_z: how many standard errors of the difference the fall must also exceed (0: the threshold alone).
    """

    window: int = 3
    threshold: float = 0.1
    noise_z: float = 1.5
    history: list[dict[str, float]] = field(default_factory=list)

    def update(self, metrics: dict[str, Any]) -> dict[str, float]:
        """Add one evaluation (``eval_reward_mean`` and, when measured, ``gold`` and ``diversity_within`` with
        their ``*_se``); returns ``{"hacking_flag": 0 or 1}`` plus the relative changes over the window (and,
        with standard errors, each fall in standard errors: ``*_drop_z``)."""
        keys = ("eval_reward_mean", "gold", "gold_se", "diversity_within", "diversity_within_se")
        self.history.append({k: float(metrics[k]) for k in keys if k in metrics and metrics[k] is not None})
        if len(self.history) <= self.window:
            return {"hacking_flag": 0.0}
        old, new = self.history[-1 - self.window], self.history[-1]
        out = {"hacking_flag": 0.0}
        rising = new["eval_reward_mean"] > old["eval_reward_mean"]
        for key in ("gold", "diversity_within"):
            if key in old and key in new and old[key] == old[key] and new[key] == new[key]:  # NaN-safe
                change = (new[key] - old[key]) / max(abs(old[key]), 1e-8)
                out[f"{key}_change"] = change
                beyond_noise = True
                se = math.hypot(old.get(f"{key}_se", math.nan), new.get(f"{key}_se", math.nan))
                if se == se and self.noise_z > 0:  # both standard errors known
                    out[f"{key}_drop_z"] = (old[key] - new[key]) / max(se, 1e-12)
                    beyond_noise = out[f"{key}_drop_z"] > self.noise_z
                if rising and change < -self.threshold and beyond_noise:
                    out["hacking_flag"] = 1.0
        return out

    def state_dict(self) -> dict[str, Any]:
        return {"window": self.window, "threshold": self.threshold, "noise_z": self.noise_z,
                "history": list(self.history)}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.history = [dict(h) for h in state.get("history", [])]
