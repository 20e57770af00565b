"""The attention helper: the explicit bf16 training path matches SDPA, and is taken only where it is faster."""

import pytest
import torch
import torch.nn.functional as F

from vargym.models import attention as attention_module
from vargym.models.attention import attention


def _inputs(B=3, H=4, L=10, S=10, c=16, Hkv=None, seed=0):
    g = torch.Generator().manual_seed(seed)
    q = torch.randn(B, H, L, c, generator=g, requires_grad=True)
    k = torch.randn(B, Hkv or H, S, c, generator=g, requires_grad=True)
    v = torch.randn(B, Hkv or H, S, c, generator=g, requires_grad=True)
    return q, k, v


def _reference(q, k, v, **kwargs):
    """float64 SDPA on the bf16-rounded inputs: what both bf16 paths approximate."""
    q, k, v = (x.detach().bfloat16().double().requires_grad_() for x in (q, k, v))
    out = F.scaled_dot_product_attention(q, k, v, **kwargs)
    out.sum().backward()
    return out, (q.grad, k.grad, v.grad)


@pytest.mark.parametrize("case", ["additive", "boolean", "causal-rectangular", "gqa"])
def test_explicit_bf16_path_matches_sdpa(case, monkeypatch):
    calls = []
    real_sdpa = F.scaled_dot_product_attention
    monkeypatch.setattr(attention_module.F, "scaled_dot_product_attention",
                        lambda *a, **k: calls.append(1) or real_sdpa(*a, **k))
    L, S, Hkv = (4, 10, None) if case == "causal-rectangular" else (10, 10, 2 if case == "gqa" else None)
    q, k, v = _inputs(L=L, S=S, Hkv=Hkv)
    blocks = torch.arange(S) // 3
    allowed = blocks[-L:, None] >= blocks[None, :]  # block-causal, as VAR's
    kwargs = {"additive": {"mask": torch.where(allowed, 0.0, float("-inf"))}, "boolean": {"mask": allowed},
              "causal-rectangular": {"is_causal": True}, "gqa": {"is_causal": True, "enable_gqa": True}}[case]
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out = attention(q, k, v, scale=0.3, **kwargs)
    out.float().sum().backward()
    assert not calls, "bf16 training on CPU should take the explicit path"

    ref_kwargs = {"attn_mask" if key == "mask" else key: value for key, value in kwargs.items()}
    ref, grads = _reference(q, k, v, scale=0.3, **ref_kwargs)
    assert (out.double() - ref).abs().max() < 0.03
    for ours, theirs in zip((q.grad, k.grad, v.grad), grads):
        assert (ours.double() - theirs).abs().max() < 0.05 * theirs.abs().max() + 0.03


def test_other_cases_keep_sdpa(monkeypatch):
    calls = []
    real_sdpa = F.scaled_dot_product_attention
    monkeypatch.setattr(attention_module.F, "scaled_dot_product_attention",
                        lambda *a, **k: calls.append(1) or real_sdpa(*a, **k))
    q, k, v = _inputs()
    attention(q, k, v, is_causal=True)  # float32 training
    with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16):
        attention(q, k, v, is_causal=True)  # bf16 without gradients (sampling, reference passes)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        attention(q, k, v, is_causal=True, dropout_p=0.1)  # dropout: SDPA's own
    assert len(calls) == 3


@pytest.mark.parametrize("precision", ["float32", "bfloat16"])
@pytest.mark.parametrize("case", ["plain", "boolean", "additive", "gqa"])
def test_one_query_against_a_cache_takes_the_explicit_path_and_matches_sdpa(precision, case, monkeypatch):
    calls = []
    real_sdpa = F.scaled_dot_product_attention
    monkeypatch.setattr(attention_module.F, "scaled_dot_product_attention",
                        lambda *a, **k: calls.append(1) or real_sdpa(*a, **k))
    q, k, v = (x.detach() for x in _inputs(L=1, S=12, Hkv=2 if case == "gqa" else None))
    keep = torch.ones(3, 1, 1, 12, dtype=torch.bool)
    keep[0, ..., :5] = False  # a left-padded row, as a caption's
    kwargs = {"plain": {}, "boolean": {"mask": keep}, "additive": {"mask": torch.where(keep, 0.0, float("-inf"))},
              "gqa": {"enable_gqa": True}}[case]
    context = torch.autocast("cpu", dtype=torch.bfloat16) if precision == "bfloat16" else torch.no_grad()
    with torch.no_grad(), context:
        out = attention(q, k, v, **kwargs)
    assert not calls, "a single query on CPU should take the explicit path"
    assert out.shape == (3, 4, 1, 16) and out.dtype == (torch.bfloat16 if precision == "bfloat16" else torch.float32)
    cast = (lambda x: x.bfloat16().double()) if precision == "bfloat16" else (lambda x: x.double())
    ref_kwargs = {"attn_mask" if key == "mask" else key: value for key, value in kwargs.items()}
    ref = F.scaled_dot_product_attention(cast(q), cast(k), cast(v), **ref_kwargs)
    assert (out.double() - ref).abs().max() < (0.03 if precision == "bfloat16" else 1e-5)
