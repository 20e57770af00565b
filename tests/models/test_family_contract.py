"""The `Generator` contract, checked on every registered family (the fake text family included), so that a
new family is covered by registering it."""

from __future__ import annotations

import pytest
import torch

import tests.fake_text  # noqa: F401 -- registers the fake text family
from vargym.models import Generator, SamplingConfig, load_generator
from vargym.models.registry import families


def _name(family) -> str:
    """The family's cheapest model: a shipped one, else its first preset at random init."""
    return next(iter(family.shipped), None) or f"random:{family.presets[0]}"


FAMILY_NAMES = [f.name for f in families()]


@pytest.fixture(params=FAMILY_NAMES)
def generator(request) -> Generator:
    family = next(f for f in families() if f.name == request.param)
    torch.manual_seed(0)
    gen = load_generator(_name(family))
    assert gen.family == family.name
    return gen


def test_every_family_is_swept():
    assert {"var", "llamagen", "fake-text"} <= set(FAMILY_NAMES)


def test_conditions_round_trip(generator):
    source = generator.condition_source()
    condition = source.draw(3, torch.Generator().manual_seed(0), generator.device).repeat_interleave(2)  # [6]
    assert len(condition) == 6 and condition.ids.shape == (6,)
    assert torch.equal(condition.ids.view(3, 2)[:, 0], condition.ids.view(3, 2)[:, 1])
    batch = condition.to_batch()
    assert {f.key for f in source.fields} == set(batch)
    assert torch.equal(source.from_batch(batch).ids, condition.ids)
    observation = {f.observation_key: batch[f.key] for f in source.fields}
    assert torch.equal(source.from_observation(observation).ids, condition.ids)
    assert ((0 <= condition.ids) & (condition.ids < source.num_conditions)).all()
    assert len(condition.captions()) == 6 and source.reward_fields(condition)
    assert torch.equal(source.coerce(condition, 6).ids, condition.ids)
    with pytest.raises((ValueError, TypeError)):
        source.coerce(condition, 5)


def test_sampled_log_probs_equal_the_teacher_forced_pass(generator):
    sampling = SamplingConfig(temperature=0.8, top_k=5)
    condition = generator.condition_source().first(2, generator.device)
    tokens, log_probs = generator.sample(condition, sampling, torch.Generator().manual_seed(1), return_log_probs=True)
    assert tokens.shape == (2, generator.layout.num_tokens) and tokens.dtype == torch.int64
    assert sum(t.shape[1] for t in generator.layout.split(tokens)) == generator.layout.num_tokens
    out = generator.forward_rl(condition, tokens, sampling)
    torch.testing.assert_close(out.log_probs, log_probs, atol=1e-4, rtol=0)
    assert out.hidden.shape[-1] == generator.hidden_size
    images = generator.decode(tokens)
    assert images.shape[:2] == (2, 3) and 0 <= float(images.min()) and float(images.max()) <= 1


def test_frozen_copy_and_save_load(generator, tmp_path):
    frozen = generator.frozen_copy()
    assert not any(p.requires_grad for p in frozen.policy.parameters())
    assert frozen.decoder is generator.decoder
    generator.save(tmp_path / "m", extra={"note": 1})
    loaded = load_generator(tmp_path / "m")
    assert type(loaded) is type(generator)
    for (k, a), (_, b) in zip(generator.policy.state_dict().items(), loaded.policy.state_dict().items(), strict=True):
        assert torch.equal(a, b), k


def test_lora_targets_come_from_the_registry(generator):
    from vargym.models.lora import LoRAConfig
    from vargym.models.registry import get_family

    names = generator.apply_lora(LoRAConfig(rank=2))
    targets = get_family(generator.family).lora_targets
    assert names and all(name.rsplit(".", 1)[-1] in targets for name in names)
    assert generator.lora.targets == targets


def test_cpu_decoding_in_passes_draws_what_one_pass_draws(generator, monkeypatch):
    import vargym.models.generator as generator_module

    tokens = generator.sample(generator.condition_source().first(3, generator.device), SamplingConfig(),
                              torch.Generator().manual_seed(2))
    whole = generator.decode(tokens)  # 3 images < CPU_DECODE_PIXELS: one pass
    largest: list[int] = []
    convs = [m for m in generator.decoder.modules() if isinstance(m, torch.nn.Conv2d)]
    hooks = [m.register_forward_hook(lambda m, args, out: largest.append(args[0].shape[0])) for m in convs]
    monkeypatch.setattr(generator_module, "CPU_DECODE_PIXELS", whole.shape[-1] * whole.shape[-2])  # one per pass
    try:
        passes = generator.decode(tokens)
    finally:
        for hook in hooks:
            hook.remove()
    torch.testing.assert_close(passes, whole, atol=1e-4, rtol=0)
    if convs:  # a conv decoder (every real family) saw one image at a time
        assert max(largest) == 1
