"""VAR behaviour beyond the golden file: on-policy log-probs, presets, meta init, bad input."""

import pytest
import torch

from vargym.models import VAR, VARConfig, build_preset, filter_logits
from vargym.models.var.presets import official_var_config
from vargym.models.var.quantizer import phi_index


@pytest.fixture(scope="module")
def tiny():
    torch.manual_seed(0)
    vqvae, var = build_preset("tiny")
    with torch.no_grad():  # the official init makes gammas ~1e-5: perturb so every path matters
        for p in var.parameters():
            p.add_(torch.randn_like(p) * 0.05)
    return vqvae, var.eval()


@pytest.mark.parametrize("cfg", [0.0, 1.5])
@pytest.mark.parametrize("temperature", [1.0, 0.7])
def test_sampler_log_probs_equal_teacher_forced(tiny, cfg, temperature):
    """On-policy ratio test: the log-probs recorded while sampling are those of one teacher-forced pass."""
    _, var = tiny
    labels = torch.tensor([0, 3, 9, 3])
    gen = torch.Generator().manual_seed(1)
    tokens, sampled = var.sample(labels, cfg=cfg, temperature=temperature, generator=gen, return_log_probs=True)
    forced = var.log_probs(labels, tokens, temperature=temperature, cfg=cfg)
    assert sampled.shape == forced.shape == (4, var.L)
    assert (sampled - forced).abs().max().item() <= 1e-4
    assert (sampled.exp() - 1).abs().max() > 1e-3  # a real distribution, not all-certain tokens


def test_sampler_log_probs_with_top_k_top_p(tiny):
    _, var = tiny
    labels = torch.tensor([1, 2])
    tokens, sampled = var.sample(labels, cfg=1.0, top_k=50, top_p=0.9, generator=torch.Generator().manual_seed(2),
                                 return_log_probs=True)
    forced = var.log_probs(labels, tokens, cfg=1.0, top_k=50, top_p=0.9)
    assert (sampled - forced).abs().max().item() <= 1e-4


def test_forward_rl_entropy_and_hidden(tiny):
    _, var = tiny
    labels = torch.tensor([0, 1])
    tokens = var.sample(labels, cfg=0.0, generator=torch.Generator().manual_seed(3))
    out = var.forward_rl(labels, tokens)
    logp_all = var.logits(labels, tokens).log_softmax(-1)
    expected_entropy = -(logp_all.exp() * logp_all).sum(-1)
    torch.testing.assert_close(out.entropy, expected_entropy, atol=1e-5, rtol=1e-5)
    assert out.hidden.shape == (2, var.L, var.C)
    out.log_probs.sum().backward()  # differentiable
    assert var.head.weight.grad is not None and var.head.weight.grad.abs().sum() > 0
    var.zero_grad(set_to_none=True)


def test_no_label_dropout_or_drop_path_in_rl_path(tiny):
    _, var = tiny
    labels = torch.tensor([4, 5])
    tokens = var.sample(labels, generator=torch.Generator().manual_seed(4))
    var.train()
    try:
        a, b = var.log_probs(labels, tokens), var.log_probs(labels, tokens)
    finally:
        var.eval()
    torch.testing.assert_close(a, b)


def test_cfg_zero_runs_single_branch(tiny):
    _, var = tiny
    s0 = var.make_sampler(torch.tensor([0, 1]), cfg=0.0)
    s1 = var.make_sampler(torch.tensor([0, 1]), cfg=1.0)
    assert s0.cond_BD.shape[0] == 2 and s1.cond_BD.shape[0] == 4


def test_forced_tokens_reproduce_sampling(tiny):
    _, var = tiny
    labels = torch.tensor([2, 7])
    tokens, logp = var.sample(labels, cfg=1.0, generator=torch.Generator().manual_seed(5), return_log_probs=True)
    sampler = var.make_sampler(labels, cfg=1.0)
    forced = [sampler.step(t) for t in tokens]
    torch.testing.assert_close(torch.cat([lp for _, lp in forced], 1), logp, atol=1e-5, rtol=1e-5)


def test_seeded_sampling_reproducible(tiny):
    _, var = tiny
    labels = torch.tensor([0, 1, 2])
    a = var.sample(labels, top_k=20, generator=torch.Generator().manual_seed(7))
    b = var.sample(labels, top_k=20, generator=torch.Generator().manual_seed(7))
    c = var.sample(labels, top_k=20, generator=torch.Generator().manual_seed(8))
    assert all(torch.equal(x, y) for x, y in zip(a, b))
    assert not all(torch.equal(x, y) for x, y in zip(a, c))


def test_filter_logits_keeps_ties_and_top():
    logits = torch.tensor([[1.0, 3.0, 3.0, 0.5, 2.0]])
    out = filter_logits(logits, top_k=2)
    assert torch.isinf(out).tolist() == [[True, False, False, True, True]]  # tie at the threshold survives
    out = filter_logits(torch.tensor([[10.0, 0.0, 0.0]]), top_p=0.5)
    assert torch.isfinite(out).sum() == 1  # the largest always survives


@pytest.mark.parametrize("depth,width,heads,params", [(16, 1024, 16, 310_283_520), (20, 1280, 20, 600_917_136),
                                                      (24, 1536, 24, 1_033_399_360), (30, 1920, 30, 2_010_020_356)])
def test_presets_follow_official_rule(depth, width, heads, params):
    cfg = official_var_config(depth)
    assert (cfg.embed_dim, cfg.num_heads) == (width, heads)
    assert cfg.drop_path_rate == pytest.approx(0.1 * depth / 24)
    with torch.device("meta"):
        vqvae, var = build_preset(f"var-d{depth}")
    assert sum(p.numel() for p in var.parameters()) == params
    assert sum(p.numel() for p in vqvae.parameters()) == 108_948_355


def test_phi_table_ties_resolve_upward():
    assert [phi_index(k, 10, 4) for k in range(10)] == [0, 0, 1, 1, 1, 2, 2, 3, 3, 3]
    assert [phi_index(k, 7, 4) for k in range(7)] == [0, 0, 1, 2, 2, 3, 3]


def test_bad_input(tiny):
    vqvae, var = tiny
    with pytest.raises(ValueError, match="unknown preset 'var-d17'"):
        build_preset("var-d17")
    with pytest.raises(ValueError, match=r"labels must lie in \[0, 11\)"):  # 10 is the null class
        var.sample(torch.tensor([11]))
    with pytest.raises(ValueError, match=r"labels must lie in \[0, 11\) \(num_classes=10\), got min -1"):
        var.log_probs(torch.tensor([-1]), [torch.zeros(1, pn * pn, dtype=torch.long) for pn in var.patch_nums])
    bad = [torch.zeros(2, pn * pn, dtype=torch.long) for pn in var.patch_nums]
    bad[2] = torch.zeros(2, 5, dtype=torch.long)
    with pytest.raises(ValueError, match=r"tokens\[2\] must be an integer tensor of shape \(2, 9\)"):
        var.log_probs(torch.tensor([0, 1]), bad)
    over = [torch.zeros(2, pn * pn, dtype=torch.long) for pn in var.patch_nums]
    over[0][0, 0] = var.V
    with pytest.raises(ValueError, match=r"outside \[0, 512\)"):
        vqvae.tokens_to_img(over)
    with pytest.raises(ValueError, match="images must be 64x64"):
        vqvae.img_to_tokens(torch.rand(1, 3, 32, 32))
    with pytest.raises(ValueError, match="temperature must be > 0"):
        var.sample(torch.tensor([0]), temperature=0)
    with pytest.raises(ValueError, match="no VQ-VAE attached"):
        _ = VAR(VARConfig(num_classes=10, depth=1, embed_dim=64, num_heads=4, patch_nums=(1, 2))).vqvae
    sampler = var.make_sampler(torch.tensor([0]))
    while not sampler.done:
        sampler.step()
    with pytest.raises(RuntimeError, match="all 6 scales are sampled"):
        sampler.step()


def test_labels_none_or_int_like_the_official_sampler(tiny):
    _, var = tiny
    tokens = var.sample(3, batch_size=2, generator=torch.Generator().manual_seed(0))
    assert tokens[0].shape == (2, 1)
    unconditional = var.sample(-1, batch_size=2, generator=torch.Generator().manual_seed(0))
    same = var.sample(torch.tensor([10, 10]), generator=torch.Generator().manual_seed(0))
    assert all(torch.equal(a, b) for a, b in zip(unconditional, same))
    with pytest.raises(ValueError, match="batch_size must be a positive int when labels is None"):
        var.sample(None)
    with pytest.raises(ValueError, match=r"labels must lie in \[0, 11\)"):
        var.sample(11, batch_size=1)
