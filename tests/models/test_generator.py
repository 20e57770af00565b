"""The generator interface: layout, sampling config, conditions, and the VAR family behind it."""

import pytest
import torch

from vargym.models import (
    ClassCondition,
    ClassConditionSource,
    Generator,
    SamplingConfig,
    TokenLayout,
    VARGenerator,
    as_generator,
    build_preset,
    condition_from_batch,
    load_generator,
)


@pytest.fixture(scope="module")
def tiny():
    torch.manual_seed(0)
    vqvae, var = build_preset("tiny")
    return vqvae.eval(), var.eval()


def test_token_layout():
    layout = TokenLayout((1, 4, 9))
    assert (layout.num_steps, layout.num_tokens, layout.max_step_tokens) == (3, 14, 9)
    assert layout.begin_ends == ((0, 1), (1, 5), (5, 14))
    assert layout.step_index().tolist() == [0] + [1] * 4 + [2] * 9
    parts = layout.split(torch.arange(28).view(2, 14))
    assert [p.shape[1] for p in parts] == [1, 4, 9] and parts[2][1, 0].item() == 19
    with pytest.raises(ValueError, match="tokens_per_step must be a non-empty sequence of ints >= 1"):
        TokenLayout((1, 0))
    with pytest.raises(ValueError, match=r"tokens must be \[N, T=14\]"):
        layout.split(torch.zeros(2, 13))


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"temperature": 0}, "sampling temperature must be > 0"),
        ({"temperature": float("nan")}, "sampling temperature must be > 0"),
        ({"cfg": -1}, r"sampling cfg must be >= 0 \(0 = unguided\), got -1"),
        ({"top_k": -2}, "sampling top_k must be an int >= 0"),
        ({"top_k": 1.5}, "sampling top_k must be an int >= 0"),
        ({"top_p": 1.5}, r"sampling top_p must be in \[0, 1\]"),
        ({"draw": "gumbel"}, r"sampling draw must be one of \('multinomial', 'inverse-cdf'\), got 'gumbel'"),
    ],
)
def test_sampling_config_rejects_bad_values_by_name(kwargs, message):
    with pytest.raises(ValueError, match=message):
        SamplingConfig(**kwargs)


def test_class_condition_round_trip():
    cond = ClassCondition(torch.tensor([3, 1, 2], dtype=torch.int32))
    assert cond.labels.dtype == torch.int64 and len(cond) == 3
    assert cond.index(slice(1, 3)).labels.tolist() == [1, 2]
    with pytest.warns(DeprecationWarning, match="condition_from_batch is deprecated"):
        assert condition_from_batch(cond.to_batch()).labels.tolist() == [3, 1, 2]
    with pytest.raises(ValueError, match="labels must be a 1-D integer tensor"):
        ClassCondition(torch.tensor([0.5]))
    with pytest.raises(KeyError, match="holds no condition"), pytest.warns(DeprecationWarning):
        condition_from_batch({"tokens": torch.zeros(1)})
    source = ClassConditionSource(10)  # the replacement
    assert source.from_batch(cond.to_batch()).labels.tolist() == [3, 1, 2]


def test_var_generator_matches_the_var_api(tiny):
    vqvae, var = tiny
    gen = as_generator(tiny)
    assert isinstance(gen, Generator) and gen.family == "var"
    assert gen.layout.tokens_per_step == tuple(pn * pn for pn in var.patch_nums)
    assert (gen.num_classes, gen.vocab_size, gen.hidden_size) == (10, 512, var.C)
    labels = torch.tensor([0, 5, 9])
    sampling = SamplingConfig(temperature=0.8, cfg=1.5, top_k=40)
    tokens, log_probs = gen.sample(ClassCondition(labels), sampling, torch.Generator().manual_seed(3), True)
    expected, expected_lp = var.sample(labels, temperature=0.8, cfg=1.5, top_k=40,
                                       generator=torch.Generator().manual_seed(3), return_log_probs=True)
    assert torch.equal(tokens, torch.cat(expected, 1)) and torch.equal(log_probs, expected_lp)
    out = gen.forward_rl(ClassCondition(labels), tokens, sampling)
    torch.testing.assert_close(out.log_probs, log_probs, atol=1e-4, rtol=0)  # on-policy through the interface
    assert out.hidden.shape == (3, gen.layout.num_tokens, var.C)
    torch.testing.assert_close(gen.decode(tokens), vqvae.tokens_to_img(expected))
    with pytest.raises(ValueError, match=r"tokens must lie in \[0, 512\)"):
        gen.decode(torch.full_like(tokens, 512))


def test_rl_pass_goes_through_forward_so_hooks_see_it(tiny):
    gen = as_generator(tiny)
    calls = []
    handle = gen.policy.register_forward_hook(lambda *_: calls.append(1))
    try:
        tokens = gen.sample(ClassCondition(torch.tensor([1])), SamplingConfig())
        gen.forward_rl(ClassCondition(torch.tensor([1])), tokens, SamplingConfig(cfg=1.0))
    finally:
        handle.remove()
    assert calls == [1]


def test_adapter_on_mat_qkv_is_not_bypassed(tiny):
    """A wrapper around an attention projection (as LoRA adds) must change the output."""
    import copy

    vqvae, var = tiny
    var = copy.deepcopy(var, memo={id(vqvae): vqvae})
    gen = VARGenerator(vqvae, var)
    cond, tokens = ClassCondition(torch.tensor([2])), torch.zeros(1, gen.layout.num_tokens, dtype=torch.long)
    before = gen.log_probs(cond, tokens, SamplingConfig())

    class Shifted(torch.nn.Module):
        def __init__(self, base):
            super().__init__()
            self.base = base
            self.weight = base.weight  # what a bypass would read

        def forward(self, x):
            return self.base(x) + 5.0

    var.blocks[0].attn.mat_qkv = Shifted(var.blocks[0].attn.mat_qkv)
    assert not torch.equal(gen.log_probs(cond, tokens, SamplingConfig()), before)  # gamma ~1e-5 at init: small


def test_as_generator_forms_and_errors(tiny):
    vqvae, var = tiny
    assert as_generator(var).policy is var
    decode_only = as_generator(vqvae, num_classes=4)
    assert decode_only.num_classes == 4
    with pytest.raises(ValueError, match="decode-only"):
        _ = decode_only.policy
    with pytest.raises(TypeError, match="model must be a Generator"):
        as_generator(42)
    assert load_generator("random:tiny").describe()["num_steps"] == 6
    frozen = as_generator(tiny).frozen_copy()
    assert frozen.decoder is vqvae and frozen.policy is not var
    assert not any(p.requires_grad for p in frozen.policy.parameters())


def test_inverse_cdf_draws_the_distribution_and_never_a_zero_probability_token():
    from vargym.models.generator import draw

    probs = torch.tensor([0.1, 0.0, 0.6, 0.3, 0.0])  # trailing and inner zeros
    n = 200_000
    tokens = draw(probs.expand(n, -1), torch.Generator().manual_seed(0), method="inverse-cdf")
    assert tokens.shape == (n, 1) and tokens.dtype == torch.int64
    freq = torch.bincount(tokens.view(-1), minlength=5).double() / n
    assert freq[1] == 0 and freq[4] == 0
    assert (freq - probs.double()).abs().max() < 0.01  # 5 sigma of a frequency near 0.5 is 0.0056
    # a uniform number that rounds up to the total would land past the last token: never taken
    ones = torch.ones(4, 1)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(torch, "rand", lambda *shape, **kw: ones)
        assert draw(probs.expand(4, -1), None, method="inverse-cdf").view(-1).tolist() == [3] * 4
    with pytest.raises(ValueError, match="probability rows must be finite"):
        draw(torch.tensor([[float("nan"), 1.0]]), None, method="inverse-cdf")
    with pytest.raises(ValueError, match="draw method must be one of"):
        draw(probs.expand(2, -1), None, method="gumbel")


def test_inverse_cdf_with_group_generators_depends_only_on_the_group():
    from vargym.models.generator import draw

    probs = torch.rand(6, 50).softmax(-1)
    together = draw(probs, [torch.Generator().manual_seed(s) for s in (1, 2, 3)], method="inverse-cdf")
    alone = draw(probs[2:4], [torch.Generator().manual_seed(2)], method="inverse-cdf")
    assert torch.equal(together[2:4], alone)


@pytest.mark.parametrize("draw", ["multinomial", "inverse-cdf"])
def test_both_draws_record_the_log_probs_of_the_tokens_they_drew(tiny, draw):
    vqvae, var = tiny
    generator = VARGenerator(vqvae, var)
    sampling = SamplingConfig(temperature=0.9, top_k=40, draw=draw)
    condition = ClassCondition(torch.tensor([0, 1, 2, 3]))
    tokens, log_probs = generator.sample(condition, sampling, torch.Generator().manual_seed(0), return_log_probs=True)
    forced = generator.forward_rl(condition, tokens, sampling).log_probs
    assert torch.isfinite(log_probs).all() and (log_probs - forced).abs().max() < 1e-4


@pytest.mark.parametrize("name", ["random:tiny", "random:tiny-llamagen"])
def test_the_null_class_is_accepted_by_logits_log_probs_and_the_sampler(name):
    """One rule for both families: label num_classes (the unconditional model) works everywhere."""
    from vargym.models import ClassCondition, SamplingConfig, load_generator

    gen = load_generator(name)
    null = ClassCondition(torch.tensor([gen.num_classes, 0]))
    sampling = SamplingConfig(cfg=1.5)
    tokens, log_probs = gen.sample(null, sampling, torch.Generator().manual_seed(0), return_log_probs=True)
    torch.testing.assert_close(gen.log_probs(null, tokens, sampling), log_probs, atol=1e-4, rtol=0)
    network = gen.policy
    if hasattr(network, "logits"):
        assert network.logits(null.labels, tokens).shape[0] == 2
    with pytest.raises(ValueError, match=r"labels must lie in \[0, "):
        gen.sample(ClassCondition(torch.tensor([gen.num_classes + 1])), sampling)


def test_decode_in_passes_splits_cpu_batches_by_output_pixels(monkeypatch):
    import vargym.models.generator as generator_module
    from vargym.models.generator import decode_in_passes

    monkeypatch.setattr(generator_module, "CPU_DECODE_PIXELS", 3 * 64)
    seen: list[int] = []

    def decode(rows: torch.Tensor) -> torch.Tensor:
        seen.append(len(rows))
        return rows.float()[:, None, None, :].expand(-1, 3, 1, -1)

    tokens = torch.arange(7 * 4).view(7, 4)
    out = decode_in_passes(decode, tokens, pixels_per_image=64)  # 3 images per pass
    assert seen == [3, 3, 1] and torch.equal(out[:, 0, 0], tokens.float())
    seen.clear()
    decode_in_passes(decode, tokens, pixels_per_image=10 ** 6)  # larger than the budget: one image per pass
    assert seen == [1] * 7
    seen.clear()
    decode_in_passes(decode, tokens.to("meta"), pixels_per_image=64)  # not CPU: the whole batch at once
    assert seen == [7]
