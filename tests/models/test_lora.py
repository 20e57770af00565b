"""LoRA: a no-op at start, adapters-only state, the base policy without a copy, merge to official keys."""

import copy

import pytest
import torch

from vargym.models import ClassCondition, SamplingConfig, as_generator, build_preset, load_generator
from vargym.models.lora import (
    LoRAConfig,
    LoRALinear,
    apply_lora,
    base_state_dict,
    lora_disabled,
    lora_state_dict,
    merge_lora,
)
from vargym.models.registry import get_family


@pytest.fixture
def generator():
    torch.manual_seed(0)
    return as_generator(build_preset("tiny"))


def _perturb(module):
    with torch.no_grad():
        for m in module.modules():
            if isinstance(m, LoRALinear):
                m.lora_B.normal_(std=0.05)


def test_adapters_start_as_a_no_op_and_only_they_train(generator):
    cond, sampling = ClassCondition(torch.tensor([1, 2])), SamplingConfig(cfg=1.0)
    tokens = generator.sample(cond, sampling, torch.Generator().manual_seed(0))
    before = generator.log_probs(cond, tokens, sampling)
    names = generator.apply_lora(LoRAConfig(rank=4))
    assert len(names) == 4 * len(generator.policy.blocks)  # mat_qkv, proj, fc1, fc2 of every block
    assert torch.equal(generator.log_probs(cond, tokens, sampling), before)  # B = 0: bit-identical
    trainable = {id(p) for p in generator.trainable_parameters()}
    assert trainable == {id(p) for k, p in generator.policy.named_parameters() if "lora_" in k}
    assert set(base_state_dict(generator.policy)) == set(build_preset("tiny")[1].state_dict())  # official keys


def test_disabled_adapters_are_the_base_policy_and_merge_keeps_the_function(generator):
    cond, sampling = ClassCondition(torch.tensor([3])), SamplingConfig()
    tokens = generator.sample(cond, sampling, torch.Generator().manual_seed(1))
    base = generator.log_probs(cond, tokens, sampling)
    generator.apply_lora(LoRAConfig(rank=4, alpha=8))
    _perturb(generator.policy)
    tuned = generator.log_probs(cond, tokens, sampling)
    assert not torch.equal(tuned, base)  # small at init: the blocks' AdaLN gates start near 1e-5
    with generator.base_policy():
        torch.testing.assert_close(generator.log_probs(cond, tokens, sampling), base, rtol=0, atol=0)
    merged = merge_lora(copy.deepcopy(generator.policy))
    assert not any(isinstance(m, LoRALinear) for m in merged.modules())
    assert set(merged.state_dict()) == set(base_state_dict(generator.policy))
    again = as_generator((generator.vqvae, merged.attach(generator.vqvae)))
    torch.testing.assert_close(again.log_probs(cond, tokens, sampling), tuned, atol=1e-4, rtol=0)


def test_adapter_only_save_and_export(generator, tmp_path):
    cond, sampling = ClassCondition(torch.tensor([0, 9])), SamplingConfig()
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(5)
        gen = load_generator("random:tiny")
    gen.apply_lora(LoRAConfig(rank=2))
    _perturb(gen.policy)
    tokens = gen.sample(cond, sampling, torch.Generator().manual_seed(2))
    gen.save(tmp_path / "ckpt", extra={"base_model": "random:tiny", "base_seed": 5})
    assert sorted(p.name for p in (tmp_path / "ckpt").iterdir()) == ["lora.safetensors", "model.json"]
    back = load_generator(tmp_path / "ckpt")
    assert back.lora == gen.lora
    torch.testing.assert_close(back.log_probs(cond, tokens, sampling), gen.log_probs(cond, tokens, sampling),
                               rtol=0, atol=0)
    gen.export(tmp_path / "merged")
    assert (tmp_path / "merged" / "var.safetensors").is_file()
    plain = load_generator(tmp_path / "merged")
    assert plain.lora is None
    torch.testing.assert_close(plain.log_probs(cond, tokens, sampling), gen.log_probs(cond, tokens, sampling),
                               atol=1e-4, rtol=0)
    with pytest.raises(ValueError, match="needs extra="):
        gen.save(tmp_path / "bad")


def test_lora_config_and_apply_errors(generator):
    with pytest.raises(ValueError, match="LoRA rank must be an int >= 1"):
        LoRAConfig(rank=0)
    with pytest.raises(ValueError, match="match no nn.Linear"):
        apply_lora(generator.policy, LoRAConfig(targets=("nothing",)))
    with pytest.raises(ValueError, match="targets is None"):
        apply_lora(generator.policy, LoRAConfig(rank=2))
    apply_lora(generator.policy, LoRAConfig(rank=2, targets=get_family("var").lora_targets))
    with pytest.raises(ValueError, match="already has LoRA"):
        apply_lora(generator.policy, LoRAConfig(rank=2, targets=("proj",)))
    assert len(lora_state_dict(generator.policy)) == 2 * 4 * len(generator.policy.blocks)
    with lora_disabled(generator.policy):
        assert not any(m.enabled for m in generator.policy.modules() if isinstance(m, LoRALinear))
    assert all(m.enabled for m in generator.policy.modules() if isinstance(m, LoRALinear))
