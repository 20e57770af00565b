"""Attribute classifiers of the captioned procedural images: text fidelity, measured exactly.

One `TinyClassifier` body with one head per attribute (its logits are the heads side by side: shape 10,
colour 8, background 8, size 2; for two-object scenes, ``objects=2``: shape 10, colour 8, shape2 10, colour2 8,
relation 2, background 8); the width of a classifier's output says which kind of image it reads. Text
fidelity is GenEval's all-or-nothing rule: an image counts only when every attribute its prompt names is
recognised; per-attribute accuracies are reported beside it. Two classifiers trained from different seeds play
different roles: one is the ``attr`` reward, the other the gold metric, so that a policy that fools the first
is caught by the second.

Example:
    >>> model, figures = train_attribute_classifier(steps=300, seed=1)
    >>> attribute_fidelity(model, images, attributes)["all"]
"""

from __future__ import annotations

import time
from collections.abc import Callable

import torch
from torch import nn
from torch.nn import functional as F

from vargym.data.captioned import ATTRIBUTE_VALUES, ATTRIBUTES, SCENE_ATTRIBUTES, draw, render
from vargym.data.classifier import ClassifierConfig, TinyClassifier

__all__ = ["HEADS", "NUM_LOGITS", "SCENE_HEADS", "SCENE_NUM_LOGITS", "attribute_fidelity", "attribute_log_probs",
           "recognised", "train_attribute_classifier"]


def _heads(names: tuple[str, ...]) -> dict[str, slice]:
    heads, start = {}, 0
    for name in names:
        heads[name] = slice(start, start + len(ATTRIBUTE_VALUES[name]))
        start += len(ATTRIBUTE_VALUES[name])
    return heads


HEADS = _heads(ATTRIBUTES)
"""The logits of a one-object classifier, per attribute."""
NUM_LOGITS = HEADS["size"].stop
SCENE_HEADS = _heads(SCENE_ATTRIBUTES)
"""The logits of a two-object classifier, per attribute."""
SCENE_NUM_LOGITS = SCENE_HEADS["background"].stop
_HEADS_BY_WIDTH = {NUM_LOGITS: HEADS, SCENE_NUM_LOGITS: SCENE_HEADS}


def attribute_log_probs(classifier: nn.Module, images: torch.Tensor) -> dict[str, torch.Tensor]:
    """Per attribute, log-probabilities ``[N, values]`` of images ``[N, 3, H, W]`` in [0, 1] (the attributes of
    the classifier's kind: `ATTRIBUTES` or `SCENE_ATTRIBUTES`, in that order)."""
    logits = classifier(images)  # [N, 28] (one object) or [N, 46] (two)
    heads = _HEADS_BY_WIDTH.get(logits.shape[1])
    if heads is None:
        raise ValueError(f"an attribute classifier has {NUM_LOGITS} logits (one object) or {SCENE_NUM_LOGITS} (two "
                         f"objects); this one has {logits.shape[1]}")
    return {name: logits[:, head].log_softmax(-1) for name, head in heads.items()}


def recognised(log_probs: dict[str, torch.Tensor], attributes: torch.Tensor) -> torch.Tensor:
    """bool ``[N, A]``: each attribute read as ``attributes`` ``[N, A]`` says (always True where -1: not named)."""
    if attributes.shape[1] != len(log_probs):
        kinds = {len(ATTRIBUTES): "one-object captions", len(SCENE_ATTRIBUTES): "two-object scenes"}
        raise ValueError(f"the attribute classifier reads {kinds[len(log_probs)]} but the prompts' metadata describes "
                         f"{kinds.get(attributes.shape[1], f'{attributes.shape[1]} attributes')}: use the classifier "
                         f"trained on the prompts' kind (classifier=DIR)")
    attributes = attributes.to(next(iter(log_probs.values())).device)
    right = torch.stack([values.argmax(-1) == attributes[:, i] for i, values in enumerate(log_probs.values())], 1)
    return right | (attributes < 0)


@torch.no_grad()
def attribute_fidelity(classifier: nn.Module, images: torch.Tensor, attributes: torch.Tensor) -> dict[str, float]:
    """``all``: the share of images whose every named attribute (``attributes`` ``[N, A]``, -1 = not named) is
    recognised; then each attribute's accuracy over the images that name it."""
    named = attributes >= 0  # [N, A]
    log_probs = attribute_log_probs(classifier, images)
    right = recognised(log_probs, attributes).cpu()  # [N, A]
    out = {"all": float(right.all(dim=1).float().mean())}
    for i, name in enumerate(log_probs):
        if named[:, i].any():
            out[name] = float(right[named[:, i], i].float().mean())
    return out


def train_attribute_classifier(steps: int = 600, batch_size: int = 128, seed: int = 1, lr: float = 3e-3,
                               augment: Callable[[torch.Tensor], torch.Tensor] | None = None,
                               progress: Callable[[int, int, dict], None] | None = None,
                               input_size: int = 32, augment_pool: int = 4096, objects: int = 1,
                               ) -> tuple[TinyClassifier, dict[str, float]]:
    """Train an attribute classifier on fresh captioned images of ``objects`` objects (every composition, seen
    and held-out: the classifier judges both). ``augment`` maps a batch to another view of it (e.g. a tokenizer's
    reconstruction, so that the classifier knows decoded images); half of every batch is drawn from
    ``augment_pool`` images (at most as many as the steps read) augmented once at the start, since a tokenizer
    round trip costs far more than a classifier step. Returns the model (eval mode) and its accuracies on 1024
    fresh images."""
    start = time.perf_counter()
    generator = torch.Generator().manual_seed(seed)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        width = NUM_LOGITS if objects == 1 else SCENE_NUM_LOGITS
        model = TinyClassifier(ClassifierConfig(num_classes=width, input_size=input_size))
    pool_size = min(augment_pool, steps * (batch_size // 2))  # never more than the training reads
    pool = None if augment is None or pool_size < 1 else _augmented_pool(augment, pool_size, generator, objects)
    optimizer = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=1e-4)
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=lr, total_steps=steps, pct_start=0.1)
    model.train()
    for step in range(steps):
        attributes = draw(batch_size, generator, "all", objects)
        images = render(attributes, generator)
        if pool is not None:
            half = torch.randint(len(pool[0]), (batch_size // 2,), generator=generator)
            attributes[: len(half)], images[: len(half)] = pool[0][half], pool[1][half]
        log_probs = attribute_log_probs(model, images)
        loss = sum(F.nll_loss(values, attributes[:, i], ignore_index=-1) for i, values in enumerate(log_probs.values()))
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        schedule.step()
        if progress is not None:
            progress(step + 1, steps, {"loss": float(loss.detach())})
    model.eval()
    test = torch.Generator().manual_seed(seed + 10_007)
    attributes = draw(1024, test, "all", objects)
    figures = attribute_fidelity(model, render(attributes, test), attributes)
    figures["wall_s"] = time.perf_counter() - start
    return model, figures


@torch.no_grad()
def _augmented_pool(augment: Callable[[torch.Tensor], torch.Tensor], size: int, generator: torch.Generator,
                    objects: int = 1, chunk: int = 128) -> tuple[torch.Tensor, torch.Tensor]:
    """``size`` attribute rows ``[size, A]`` and their augmented renders ``[size, 3, 64, 64]``."""
    attributes = draw(size, generator, "all", objects)
    images = torch.cat([augment(render(attributes[i:i + chunk], generator)).clamp(0, 1)
                        for i in range(0, size, chunk)])
    return attributes, images
