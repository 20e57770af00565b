"""Attribute classifiers of the captioned procedural images: text fidelity, measured exactly.

One `TinyClassifier` body with one head per attribute (its logits are the heads side by side: shape 10,
colour 8, background 8, size 2). Text fidelity is GenEval's all-or-nothing rule: an image counts only when
every attribute its prompt names is recognised; per-attribute accuracies are reported beside it. Two
classifiers trained from different seeds play different roles: one is the ``attr`` reward, the other the
gold metric, so that a policy that fools the first is caught by the second.

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

from vargym.data.captioned import ATTRIBUTE_VALUES, ATTRIBUTES, draw_attributes, render_attributes
from vargym.data.classifier import ClassifierConfig, TinyClassifier

__all__ = ["HEADS", "attribute_fidelity", "attribute_log_probs", "recognised", "train_attribute_classifier"]

HEADS: dict[str, slice] = {}
_start = 0
for _name in ATTRIBUTES:
    HEADS[_name] = slice(_start, _start + len(ATTRIBUTE_VALUES[_name]))
    _start += len(ATTRIBUTE_VALUES[_name])
NUM_LOGITS = _start


def attribute_log_probs(classifier: nn.Module, images: torch.Tensor) -> dict[str, torch.Tensor]:
    """Per attribute, log-probabilities ``[N, values]`` of images ``[N, 3, H, W]`` in [0, 1]."""
    logits = classifier(images)  # [N, 28]
    return {name: logits[:, head].log_softmax(-1) for name, head in HEADS.items()}


def recognised(log_probs: dict[str, torch.Tensor], attributes: torch.Tensor) -> torch.Tensor:
    """bool ``[N, 4]``: each attribute read as ``attributes`` ``[N, 4]`` says (always True where -1: not named)."""
    attributes = attributes.to(next(iter(log_probs.values())).device)
    right = torch.stack([log_probs[name].argmax(-1) == attributes[:, i] for i, name in enumerate(ATTRIBUTES)], 1)
    return right | (attributes < 0)


@torch.no_grad()
def attribute_fidelity(classifier: nn.Module, images: torch.Tensor, attributes: torch.Tensor) -> dict[str, float]:
    """``all``: the share of images whose every named attribute (``attributes`` ``[N, 4]``, -1 = not named) is
    recognised; then each attribute's accuracy over the images that name it."""
    named = attributes >= 0  # [N, 4]
    right = recognised(attribute_log_probs(classifier, images), attributes).cpu()  # [N, 4]
    out = {"all": float(right.all(dim=1).float().mean())}
    for i, name in enumerate(ATTRIBUTES):
        if named[:, i].any():
            out[name] = float(right[named[:, i], i].float().mean())
    return out


def train_attribute_classifier(steps: int = 600, batch_size: int = 128, seed: int = 1, lr: float = 3e-3,
                               augment: Callable[[torch.Tensor], torch.Tensor] | None = None,
                               progress: Callable[[int, int, dict], None] | None = None,
                               input_size: int = 32, augment_pool: int = 4096,
                               ) -> tuple[TinyClassifier, dict[str, float]]:
    """Train an attribute classifier on fresh captioned images (every composition, seen and held-out: the
    classifier judges both). ``augment`` maps a batch to another view of it (e.g. a tokenizer's
    reconstruction, so that the classifier knows decoded images); half of every batch is drawn from
    ``augment_pool`` images (at most as many as the steps read) augmented once at the start, since a tokenizer
    round trip costs far more than a classifier step. Returns the model (eval mode) and its accuracies on 1024
    fresh images."""
    start = time.perf_counter()
    generator = torch.Generator().manual_seed(seed)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = TinyClassifier(ClassifierConfig(num_classes=NUM_LOGITS, input_size=input_size))
    pool_size = min(augment_pool, steps * (batch_size // 2))  # never more than the training reads
    pool = None if augment is None or pool_size < 1 else _augmented_pool(augment, pool_size, generator)
    optimizer = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=1e-4)
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=lr, total_steps=steps, pct_start=0.1)
    model.train()
    for step in range(steps):
        attributes = draw_attributes(batch_size, generator, "all")
        images = render_attributes(attributes, generator)
        if pool is not None:
            half = torch.randint(len(pool[0]), (batch_size // 2,), generator=generator)
            attributes[: len(half)], images[: len(half)] = pool[0][half], pool[1][half]
        log_probs = attribute_log_probs(model, images)
        loss = sum(F.nll_loss(log_probs[name], attributes[:, i], ignore_index=-1)
                   for i, name in enumerate(ATTRIBUTES))
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        schedule.step()
        if progress is not None:
            progress(step + 1, steps, {"loss": float(loss.detach())})
    model.eval()
    test = torch.Generator().manual_seed(seed + 10_007)
    attributes = draw_attributes(1024, test, "all")
    figures = attribute_fidelity(model, render_attributes(attributes, test), attributes)
    figures["wall_s"] = time.perf_counter() - start
    return model, figures


@torch.no_grad()
def _augmented_pool(augment: Callable[[torch.Tensor], torch.Tensor], size: int, generator: torch.Generator,
                    chunk: int = 128) -> tuple[torch.Tensor, torch.Tensor]:
    """``size`` attribute rows ``[size, 4]`` and their augmented renders ``[size, 3, 64, 64]``."""
    attributes = draw_attributes(size, generator, "all")
    images = torch.cat([augment(render_attributes(attributes[i:i + chunk], generator)).clamp(0, 1)
                        for i in range(0, size, chunk)])
    return attributes, images
