"""The swap test of the embedded text-to-image world: change one word of a prompt, keep the seed, and check
that only that attribute of the image changes.

For each captioned prompt (`vargym.data.captioned` metadata), the named ``attribute`` (a colour, the background
or the size) is replaced by another value of its palette in the text and the metadata; both prompts are sampled
with the same seed, and the gold classifier reads both images. ``follows`` is the share of swapped images whose
attribute is recognised as the new value; ``others_kept`` the share whose other named attributes read the same
as in the original image.

Example:
    >>> swap_test(generator, gold_classifier, load_prompts("procedural-held-out"), "color")
"""

from __future__ import annotations

import re
from typing import Any

import torch

from vargym.models import Generator, SamplingConfig

__all__ = ["SWAPPABLE", "swap_prompt", "swap_test"]

SWAPPABLE = ("color", "background", "size")
"""Attributes named by one word in every template (a shape has synonyms of several words)."""


def swap_prompt(prompt: str, metadata: dict[str, Any], attribute: str, value: str) -> tuple[str, dict[str, Any]]:
    """``prompt`` with the word of ``attribute`` replaced by ``value`` (sizes through their synonyms), and the
    metadata to match. Raises when the prompt does not name the attribute."""
    from vargym.data.captioned import _SIZE_WORDS

    if attribute not in SWAPPABLE:
        raise ValueError(f"attribute must be one of {SWAPPABLE}, got {attribute!r}")
    old = metadata.get(attribute)
    if old is None:
        raise ValueError(f"the prompt {prompt!r} names no {attribute}")
    words = _SIZE_WORDS[old] if attribute == "size" else (old,)
    new_word = _SIZE_WORDS[value][0] if attribute == "size" else value
    pattern = re.compile(r"\b(" + "|".join(map(re.escape, words)) + r")\b")
    swapped, count = pattern.subn(new_word, prompt, count=1)
    if count != 1:
        raise ValueError(f"the prompt {prompt!r} does not contain its {attribute} {old!r}")
    return swapped, {**metadata, attribute: value}


@torch.no_grad()
def swap_test(generator: Generator, gold: torch.nn.Module, prompts: Any, attribute: str = "color",
              sampling: SamplingConfig | None = None, seed: int = 0, max_prompts: int = 64) -> dict[str, float]:
    """The swap test on the first ``max_prompts`` prompts of ``prompts`` (a PromptSet of captioned prompts) that
    name ``attribute``; each is swapped to the next value of its palette."""
    from vargym.data.attributes import attribute_log_probs
    from vargym.data.captioned import ATTRIBUTE_VALUES, ATTRIBUTES, attributes_from_metadata

    sampling = (sampling or SamplingConfig()).resolve(generator.device)
    values = ATTRIBUTE_VALUES[attribute]
    pairs = [(p, m) for p, m in zip(prompts.prompts, prompts.metadata) if m.get(attribute) is not None][:max_prompts]
    if not pairs:
        raise ValueError(f"no prompt names a {attribute}")
    originals = [p for p, _ in pairs]
    swapped = [swap_prompt(p, m, attribute, values[(values.index(m[attribute]) + 1) % len(values)]) for p, m in pairs]
    meta_after = [m for _, m in swapped]
    images = []
    for texts in (originals, [p for p, _ in swapped]):
        condition = generator.condition_source().coerce(texts, device=generator.device)
        rng = torch.Generator(device=generator.device).manual_seed(seed)  # the same draws for both prompt sets
        images.append(generator.decode(generator.sample(condition, sampling, rng), sampling.decode_precision))
    before, after = (attribute_log_probs(gold, x) for x in images)
    target = attributes_from_metadata(meta_after)[:, ATTRIBUTES.index(attribute)].to(images[0].device)
    follows = (after[attribute].argmax(-1) == target).float().mean()
    kept = torch.ones(len(pairs), dtype=torch.bool, device=images[0].device)
    named = attributes_from_metadata([m for _, m in pairs]).to(images[0].device) >= 0
    for i, name in enumerate(ATTRIBUTES):
        if name != attribute:
            same = before[name].argmax(-1) == after[name].argmax(-1)
            kept &= same | ~named[:, i]
    return {"follows": float(follows), "others_kept": float(kept.float().mean()), "prompts": float(len(pairs))}
