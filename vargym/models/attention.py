"""Scaled dot-product attention for every family (PyTorch's SDPA, with one CPU exception) and the preallocated
KV cache of the raster (next-token) samplers.

Training in bfloat16 (or float16) on CPU, the fused SDPA kernel's backward pass is about 2x slower than
an explicit ``softmax(Q K^T * scale + mask) V`` whose logits and softmax stay in float32 (measured on the
tiny VAR's shapes, 32 x 6 heads x 130 tokens x 32 channels: 31.7 vs 15.5 ms forward + backward, with the
same error against float32 as the fused kernel). Forward-only passes (the reference and old-policy log-probs)
keep the fused kernel, which is the faster one there; so do float32 and CUDA. One exception the other way: a
single query against a KV cache (each step of a raster sampler) takes the explicit path on CPU in every
precision, where the fused kernel's per-call cost dominates (README "Precision, LoRA and speed").
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

__all__ = ["KVCache", "attention"]


def attention(
    q: torch.Tensor,
    k: torch.Tensor,
    v: torch.Tensor,
    mask: torch.Tensor | None = None,
    is_causal: bool = False,
    scale: float | None = None,
    dropout_p: float = 0.0,
    enable_gqa: bool = False,
) -> torch.Tensor:
    """``F.scaled_dot_product_attention`` with the same arguments: q ``[B, H, L, c]``, k/v ``[B, Hkv, S, c]``.

    ``mask`` is additive (float) or boolean (True = attend), broadcastable to ``[B, H, L, S]``; ``is_causal``
    is SDPA's top-left aligned causal mask.
    """
    dtype = torch.get_autocast_dtype("cpu") if torch.is_autocast_enabled("cpu") else q.dtype  # SDPA's compute dtype
    low_precision = dtype in (torch.bfloat16, torch.float16) and q.device.type == "cpu"
    training = torch.is_grad_enabled() and (q.requires_grad or k.requires_grad or v.requires_grad)
    one_query = q.shape[-2] == 1 and q.device.type == "cpu"
    if dropout_p > 0 or not (low_precision and training or one_query):
        return F.scaled_dot_product_attention(q, k, v, attn_mask=mask, is_causal=is_causal, scale=scale,
                                              dropout_p=dropout_p, enable_gqa=enable_gqa)
    if enable_gqa and k.shape[1] != q.shape[1]:
        repeat = q.shape[1] // k.shape[1]
        k, v = k.repeat_interleave(repeat, dim=1), v.repeat_interleave(repeat, dim=1)
    scale = q.shape[-1] ** -0.5 if scale is None else scale
    L, S = q.shape[-2], k.shape[-2]
    with torch.autocast("cpu", enabled=False):
        q, k, v = q.to(dtype), k.to(dtype), v.to(dtype)  # the inputs SDPA would see under autocast
        # scaling q [.., L, c] rather than the logits [.., L, S] saves a pass over the largest tensor, both ways
        logits = torch.matmul(q.float() * scale, k.float().transpose(-1, -2))  # [B, H, L, S] float32
        if is_causal:
            keep = torch.ones(L, S, dtype=torch.bool, device=q.device).tril()
            logits = logits.masked_fill(~keep, float("-inf"))
        if mask is not None:
            logits = logits.masked_fill(~mask, float("-inf")) if mask.dtype == torch.bool else logits + mask.float()
        return torch.matmul(logits.softmax(dim=-1).to(v.dtype), v)  # [B, H, L, c]


class KVCache:
    """Preallocated keys/values of one layer, [R, H_kv, S, hd]; attention reads only the filled slots."""

    def __init__(self, rows: int, heads: int, length: int, head_dim: int, like: torch.Tensor):
        self.k = like.new_empty(rows, heads, length, head_dim)  # only filled slots are ever read
        self.v = like.new_empty(rows, heads, length, head_dim)
        self.length = 0

    def append(self, k: torch.Tensor, v: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        rows, n = k.shape[0], k.shape[2]
        self.k[:rows, :, self.length:self.length + n] = k
        self.v[:rows, :, self.length:self.length + n] = v
        self.length += n
        return self.k[:rows, :, :self.length], self.v[:rows, :, :self.length]
