"""GenEval-style reward: GenEval's scoring rules (Ghosh et al. 2023) over an object detector's output.

GenEval asks, per prompt, for objects (``include``: class, count, optionally a colour and a position relative to
an earlier object) and against others (``exclude``: fewer than ``count`` of a class); an image is correct only
when every clause holds. The prompts' metadata is shipped (`vargym.data.load_prompts("geneval")`). The rules
here follow the reference ``evaluation/evaluate_images.py``: detections above a confidence threshold (0.3; 0.9
for counting prompts), at most 16 per class, most confident first; colour and position are judged on the first
``count`` objects of a class; a position holds when the centre offset, less 0.1 of the two boxes' sizes, points
that way (``relative_position``). Golden values from the reference's own ``evaluate`` are in the tests.

The detector is a callable ``detector(images [N, 3, H, W] in [0, 1]) -> list of N lists of detections``, each a
dict ``{"class": str, "box": [x0, y0, x1, y1] (pixels), "score": float, "color": str (optional)}``: the colour
of an object is the detector's to say (the reference classifies each crop with CLIP among its ten colours). Pass
``detector="pkg.module:attr"`` (a callable or a factory), serve the whole reward with ``vargym serve-reward
geneval --reward-arg detector=pkg.module:attr`` on the machine that has the detector (the reference's
Mask2Former, as Flow-GRPO does), and train against it with ``--reward remote:http://HOST:PORT`` (the prompts'
metadata travels with the images). The embedded text-to-image world has an exact detector,
`procedural_detector` (its attribute classifier), and `procedural_metadata` turns its captions' attributes into
GenEval clauses, so that it reports GenEval's categories too.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import torch

from vargym.rewards.base import Reward, RewardContext
from vargym.rewards.registry import register

__all__ = ["GenEvalReward", "geneval_correct", "group_detections", "procedural_detector", "procedural_metadata",
           "relative_position"]

Detection = dict[str, Any]
THRESHOLD, COUNTING_THRESHOLD, MAX_OBJECTS, POSITION_THRESHOLD = 0.3, 0.9, 16, 0.1


def relative_position(box_a: Sequence[float], box_b: Sequence[float], threshold: float = POSITION_THRESHOLD) -> set[str]:
    """Where box A lies relative to box B: a subset of {"left of", "right of", "above", "below"}. The centre
    offset is shrunk by ``threshold`` times the sum of the boxes' sizes per axis; what remains, as a unit vector,
    must exceed 0.5 along an axis."""
    a, b = torch.tensor(box_a[:4], dtype=torch.float64), torch.tensor(box_b[:4], dtype=torch.float64)
    offset = (a[:2] + a[2:]) / 2 - (b[:2] + b[2:]) / 2
    size_a, size_b = (a[2:] - a[:2]).abs(), (b[2:] - b[:2]).abs()
    revised = (offset.abs() - threshold * (size_a + size_b)).clamp_min(0) * offset.sign()
    if bool((revised.abs() < 1e-3).all()):
        return set()
    dx, dy = (revised / offset.norm()).tolist()
    return {name for name, holds in (("left of", dx < -0.5), ("right of", dx > 0.5), ("above", dy < -0.5),
                                     ("below", dy > 0.5)) if holds}


def group_detections(detections: Sequence[Detection], tag: str, threshold: float = THRESHOLD,
                     counting_threshold: float = COUNTING_THRESHOLD, max_objects: int = MAX_OBJECTS) -> dict[str, list]:
    """One image's detections by class, most confident first, above the tag's threshold, at most
    ``max_objects`` per class."""
    floor = counting_threshold if tag == "counting" else threshold
    by_class: dict[str, list[Detection]] = {}
    for det in sorted(detections, key=lambda d: -float(d["score"])):
        if float(det["score"]) > floor and len(by_class.setdefault(det["class"], [])) < max_objects:
            by_class[det["class"]].append(det)
    return {k: v for k, v in by_class.items() if v}


def geneval_correct(metadata: dict[str, Any], objects: dict[str, list[Detection]],
                    position_threshold: float = POSITION_THRESHOLD) -> tuple[bool, list[str]]:
    """GenEval's verdict on one image: every ``include`` clause holds (count, colour, position relative to an
    earlier clause's objects) and no ``exclude`` clause is met. Returns ``(correct, reasons it is not)``."""
    correct, reasons, matched_groups = True, [], []
    for clause in metadata.get("include", []):
        name, count = clause["class"], int(clause["count"])
        found = objects.get(name, [])[:count]
        matched = len(found) >= count
        if not matched:
            reasons.append(f"expected {name}>={count}, found {len(found)}")
        else:
            if "color" in clause:
                colors = [det.get("color") for det in found]
                if colors.count(clause["color"]) < count:
                    matched = False
                    reasons.append(f"expected {clause['color']} {name}>={count}, found "
                                   f"{colors.count(clause['color'])} {clause['color']}")
            if "position" in clause and matched:
                relation, target = clause["position"]
                targets = matched_groups[target]
                if targets is None:
                    matched = False
                    reasons.append(f"no target for {name} to be {relation}")
                elif not all(relation in relative_position(det["box"], other["box"], position_threshold)
                             for det in found for other in targets):
                    matched = False
                    reasons.append(f"expected {name} {relation} target")
        correct = correct and matched
        matched_groups.append(found if matched else None)
    for clause in metadata.get("exclude", []):
        if len(objects.get(clause["class"], [])) >= int(clause["count"]):
            correct = False
            reasons.append(f"expected {clause['class']}<{clause['count']}, found {len(objects[clause['class']])}")
    return correct, reasons


def _resolve(detector: Any) -> Callable:
    if callable(detector):
        return detector
    if isinstance(detector, str) and ":" in detector:
        module, _, attr = detector.partition(":")
        target = getattr(importlib.import_module(module), attr)
        return target() if isinstance(target, type) else target
    raise ValueError(f"detector must be a callable or 'pkg.module:attr' (a detector callable or its factory), "
                     f"got {detector!r}")


@register("geneval")
class GenEvalReward(Reward):
    """1 when GenEval's rules hold for the image under ``detector``, else 0; reads each prompt's GenEval metadata
    (``tag``, ``include``, ``exclude``) from the reward context.

    Args:
        detector: a callable (see the module docstring) or ``"pkg.module:attr"``.
        threshold, counting_threshold, max_objects, position_threshold: the reference's settings.
    """

    def __init__(self, detector: Any = None, threshold: float = THRESHOLD,
                 counting_threshold: float = COUNTING_THRESHOLD, max_objects: int = MAX_OBJECTS,
                 position_threshold: float = POSITION_THRESHOLD) -> None:
        super().__init__(name="geneval")
        if detector is None:
            raise ValueError("the geneval reward needs detector= (a callable or 'pkg.module:attr'; serve a real "
                             "detector with `vargym serve-reward geneval --reward-arg detector=...` and train with "
                             "--reward remote:URL)")
        self.detector = _resolve(detector)
        self.settings = (threshold, counting_threshold, max_objects)
        self.position_threshold = position_threshold

    @torch.no_grad()
    def score(self, images: torch.Tensor, context: RewardContext) -> dict[str, torch.Tensor]:
        metadata = context.metadata
        if metadata is None or len(metadata) != images.shape[0] or not all("include" in m for m in metadata):
            raise ValueError("the geneval reward reads each image's GenEval metadata (tag, include, exclude): use it "
                             "with a text model on GenEval prompts (--prompts geneval)")
        detections = self.detector(images)
        if len(detections) != images.shape[0]:
            raise ValueError(f"the detector returned {len(detections)} detection lists for {images.shape[0]} images")
        correct = [geneval_correct(meta, group_detections(dets, meta.get("tag", ""), *self.settings),
                                   self.position_threshold)[0] for meta, dets in zip(metadata, detections)]
        return {"total": torch.tensor(correct, dtype=torch.float32, device=images.device)}


# ---------------------------------------------------------------------------------- the procedural world
def procedural_metadata(metadata: dict[str, Any]) -> dict[str, Any]:
    """A captioned image's attributes (`vargym.data.captioned`) as GenEval clauses: one object of the shape, in
    its colour (GenEval's ``colors`` tag)."""
    return {"tag": "colors", "include": [{"class": metadata["shape"], "count": 1, "color": metadata["color"]}]}


def procedural_detector(classifier: str | Path | None = None, device: torch.device | str | None = None) -> Callable:
    """The embedded world's exact detector: the attribute classifier names the image's one object, its colour,
    and its box is the whole image (default: the shipped ``tiny-t2i`` gold classifier)."""
    from vargym.data.attributes import attribute_log_probs
    from vargym.data.captioned import ATTRIBUTE_VALUES
    from vargym.rewards.attributes import _load

    model = _load(classifier, "attr_gold", device)

    @torch.no_grad()
    def detect(images: torch.Tensor) -> list[list[Detection]]:
        log_probs = attribute_log_probs(model, images.to(next(model.parameters()).device))
        shapes, colors = log_probs["shape"].argmax(-1).tolist(), log_probs["color"].argmax(-1).tolist()
        H, W = images.shape[-2:]  # every image holds exactly one object: its detection is certain
        return [[{"class": ATTRIBUTE_VALUES["shape"][s], "color": ATTRIBUTE_VALUES["color"][c], "score": 1.0,
                  "box": [0.0, 0.0, float(W), float(H)]}] for s, c in zip(shapes, colors)]

    return detect
