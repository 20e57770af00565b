"""LlamaGen's GPT: a Llama decoder over raster-order VQ tokens, class-conditional (``c2i``) or text-conditional
(``t2i``).

The sequence is ``[condition, tok(x_0), ..., tok(x_{L-2})]``; the condition's last slot predicts token 0 and
position t token t. c2i: one class-embedding slot. t2i: ``cls_token_num`` (T, 120) caption slots, the caption
features ``[B, T, Cd]`` projected by a two-layer MLP, **left-padded** (padding first, valid slots last) with a
``caption_mask [B, T]``: masked slots are invisible to every other position (the official recipe: causal, caption
columns times the mask for every query row, the diagonal forced on). Blocks are pre-norm Llama blocks (RMSNorm,
SwiGLU, no biases) with 2-D rotary embeddings: the first half of each head's rotation pairs follows the token's
grid row, the second half its column, pairs interleaved (even, odd). The condition slots' rows of the rotation
table are zeros, as in the official code, so their queries and keys are 0.

Attribute names are the official ones (``layers.{i}.attention.wqkv``, ``cls_embedding.embedding_table``,
``cls_embedding.cap_proj.fc1``, ...) because they become state-dict keys. The t2i null caption (the guidance's
unconditional input) is the buffer ``cls_embedding.uncond_embedding [T, Cd]``: in the state dict, never trained. Guidance follows the official sampler exactly: only when
``cfg > 1``, on logits, ``uncond + (cond - uncond) * cfg``, for the first ``cfg_interval + 2`` tokens when an
interval is set (``-1``: all of them).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.checkpoint import checkpoint

from vargym.deprecation import renamed_kwargs
from vargym.models.attention import KVCache, attention
from vargym.models.generator import (
    RasterSampler,
    autocast,
    check_ids,
    check_labels,
    draw,
    keep_taken,
    top_k_top_p_filter,
)

__all__ = ["MODEL_TYPES", "LlamaGen", "LlamaGenConfig", "TokenSampler", "caption_attention_mask",
           "filter_logits_llamagen", "rope_2d_table"]

MODEL_TYPES = ("c2i", "t2i")


@dataclass(frozen=True)
class LlamaGenConfig:
    """The official GPT ``ModelArgs`` fields (the serving-only ``max_batch_size``/``max_seq_len`` aside)."""

    dim: int = 768
    n_layer: int = 12
    n_head: int = 12
    n_kv_head: int | None = None
    """Key/value heads (grouped-query attention); None = ``n_head`` (every release)."""
    multiple_of: int = 256
    ffn_dim_multiplier: float | None = None
    rope_base: float = 10000.0
    norm_eps: float = 1e-5
    initializer_range: float = 0.02
    token_dropout_p: float = 0.1
    attn_dropout_p: float = 0.0
    resid_dropout_p: float = 0.1
    ffn_dropout_p: float = 0.1
    drop_path_rate: float = 0.0
    num_classes: int = 1000
    class_dropout_prob: float = 0.1
    vocab_size: int = 16384
    block_size: int = 256
    """Image tokens L = grid^2 (256 at 256 px, 576 at 384 px with VQ-16)."""
    model_type: str = "c2i"
    """"c2i" (a class label per image) or "t2i" (caption features per image)."""
    cls_token_num: int = 1
    """Condition slots before the image tokens: 1 for c2i, the caption length T (120) for t2i."""
    caption_dim: int = 2048
    """t2i: width Cd of the caption features (FLAN-T5-XL's 2048); unused by c2i."""

    def __post_init__(self) -> None:
        if self.model_type not in MODEL_TYPES:
            raise ValueError(f"LlamaGenConfig.model_type must be one of {MODEL_TYPES}, got {self.model_type!r}")
        if self.model_type == "c2i" and self.cls_token_num != 1:
            raise ValueError(f"c2i takes one class slot: cls_token_num must be 1, got {self.cls_token_num!r}")
        if int(self.cls_token_num) < 1 or int(self.caption_dim) < 1:
            raise ValueError(f"cls_token_num and caption_dim must be >= 1, got {self.cls_token_num!r}, "
                             f"{self.caption_dim!r}")
        for name in ("dim", "n_layer", "n_head", "num_classes", "vocab_size", "block_size", "multiple_of"):
            if int(getattr(self, name)) < 1:
                raise ValueError(f"LlamaGenConfig.{name} must be >= 1, got {getattr(self, name)!r}")
        if self.dim % self.n_head:
            raise ValueError(f"dim={self.dim} must be divisible by n_head={self.n_head}")
        if self.head_dim % 4:
            raise ValueError(f"head_dim={self.head_dim} must be divisible by 4 (2-D rotary embedding)")
        if self.n_kv_head is not None and (self.n_kv_head < 1 or self.n_head % self.n_kv_head):
            raise ValueError(f"n_kv_head={self.n_kv_head} must divide n_head={self.n_head}")
        if math.isqrt(self.block_size) ** 2 != self.block_size:
            raise ValueError(f"block_size={self.block_size} must be a square number of tokens (grid^2)")
        if self.model_type == "c2i" and self.class_dropout_prob <= 0:
            raise ValueError("class_dropout_prob must be > 0: it gives the class table its null row, which "
                             "guidance needs")

    @property
    def head_dim(self) -> int:
        return self.dim // self.n_head

    @property
    def kv_heads(self) -> int:
        return self.n_kv_head or self.n_head

    @property
    def grid(self) -> int:
        return math.isqrt(self.block_size)

    @property
    def ffn_hidden(self) -> int:
        """``int(2 * 4 * dim / 3)`` (times the multiplier), rounded up to a multiple of ``multiple_of``."""
        hidden = int(2 * 4 * self.dim / 3)
        if self.ffn_dim_multiplier is not None:
            hidden = int(self.ffn_dim_multiplier * hidden)
        return -(-hidden // self.multiple_of) * self.multiple_of


def rope_2d_table(grid: int, head_dim: int, base: float = 10000.0, prefix: int = 1) -> torch.Tensor:
    """(cos, sin) per rotation pair for the ``prefix`` condition slots then every grid cell: float32
    [prefix + g*g, hd/2, 2].

    Frequencies ``f_j = base^(-2j / (hd/2))``, j < hd/4; cell (r, c) rotates by ``[r*f, c*f]``. The condition
    rows (the class token, or the T caption slots) are all zeros, as in the official table.
    """
    half = head_dim // 2
    freqs = 1.0 / (base ** (torch.arange(0, half, 2)[: half // 2].float() / half))  # [hd/4]
    angles = torch.outer(torch.arange(grid), freqs)  # [g, hd/4]
    cells = torch.cat([angles[:, None, :].expand(-1, grid, -1), angles[None, :, :].expand(grid, -1, -1)], dim=-1)
    table = torch.stack([cells.cos(), cells.sin()], dim=-1).flatten(0, 1)  # [g*g, hd/2, 2]
    return torch.cat([torch.zeros(prefix, half, 2), table])


def apply_rope(x: torch.Tensor, table: torch.Tensor) -> torch.Tensor:
    """Rotate interleaved pairs of ``x`` [B, S, H, hd] by ``table`` [S, hd/2, 2], in float32."""
    xs = x.float().reshape(*x.shape[:-1], -1, 2)  # [B, S, H, hd/2, 2]
    t = table.view(1, xs.shape[1], 1, xs.shape[3], 2)
    out = torch.stack([xs[..., 0] * t[..., 0] - xs[..., 1] * t[..., 1],
                       xs[..., 1] * t[..., 0] + xs[..., 0] * t[..., 1]], dim=-1)
    return out.flatten(3).type_as(x)


class RMSNorm(nn.Module):
    def __init__(self, dim: int, eps: float):
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        xf = x.float()
        return (xf * torch.rsqrt(xf.pow(2).mean(-1, keepdim=True) + self.eps)).type_as(x) * self.weight


class FeedForward(nn.Module):
    """SwiGLU: ``w2(silu(w1 x) * w3 x)``."""

    def __init__(self, cfg: LlamaGenConfig):
        super().__init__()
        self.w1 = nn.Linear(cfg.dim, cfg.ffn_hidden, bias=False)
        self.w3 = nn.Linear(cfg.dim, cfg.ffn_hidden, bias=False)
        self.w2 = nn.Linear(cfg.ffn_hidden, cfg.dim, bias=False)
        self.ffn_dropout = nn.Dropout(cfg.ffn_dropout_p)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.ffn_dropout(self.w2(F.silu(self.w1(x)) * self.w3(x)))


class Attention(nn.Module):
    def __init__(self, cfg: LlamaGenConfig):
        super().__init__()
        self.n_head, self.kv_heads, self.head_dim = cfg.n_head, cfg.kv_heads, cfg.head_dim
        self.wqkv = nn.Linear(cfg.dim, (cfg.n_head + 2 * cfg.kv_heads) * cfg.head_dim, bias=False)
        self.wo = nn.Linear(cfg.dim, cfg.dim, bias=False)
        self.attn_dropout_p = cfg.attn_dropout_p
        self.resid_dropout = nn.Dropout(cfg.resid_dropout_p)

    def forward(self, x: torch.Tensor, rope: torch.Tensor, cache: KVCache | None = None,
                mask: torch.Tensor | None = None) -> torch.Tensor:
        """``mask``: bool [B, 1, S, S_keys] (True = attend) replacing the causal rule (t2i caption masks)."""
        B, S, D = x.shape
        kv = self.kv_heads * self.head_dim
        q, k, v = self.wqkv(x).split([D, kv, kv], dim=-1)
        q = apply_rope(q.view(B, S, self.n_head, self.head_dim), rope).transpose(1, 2)  # [B, H, S, hd]
        k = apply_rope(k.view(B, S, self.kv_heads, self.head_dim), rope).transpose(1, 2)
        v = v.view(B, S, self.kv_heads, self.head_dim).transpose(1, 2)
        causal = True
        if cache is not None:
            causal = cache.length == 0  # a prefill is causal; one new token sees every filled slot
            k, v = cache.append(k, v)
        dropout, gqa = (self.attn_dropout_p if self.training else 0.0), self.kv_heads != self.n_head
        if mask is not None:
            out = attention(q, k, v, mask=mask, dropout_p=dropout, enable_gqa=gqa)
        else:
            out = attention(q, k, v, is_causal=causal and S > 1, dropout_p=dropout, enable_gqa=gqa)
        return self.resid_dropout(self.wo(out.transpose(1, 2).reshape(B, S, D)))


class TransformerBlock(nn.Module):
    def __init__(self, cfg: LlamaGenConfig, drop_path: float):
        super().__init__()
        self.attention = Attention(cfg)
        self.feed_forward = FeedForward(cfg)
        self.attention_norm = RMSNorm(cfg.dim, cfg.norm_eps)
        self.ffn_norm = RMSNorm(cfg.dim, cfg.norm_eps)
        self.drop_path = drop_path

    def _drop(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training or self.drop_path == 0:
            return x
        keep = x.new_empty(x.shape[0], *(1,) * (x.ndim - 1)).bernoulli_(1 - self.drop_path)
        return x * keep / (1 - self.drop_path)

    def forward(self, x: torch.Tensor, rope: torch.Tensor, cache: KVCache | None = None,
                mask: torch.Tensor | None = None) -> torch.Tensor:
        h = x + self._drop(self.attention(self.attention_norm(x), rope, cache, mask))
        return h + self._drop(self.feed_forward(self.ffn_norm(h)))


class LabelEmbedder(nn.Module):
    """Class table with a null row ``num_classes``; in train mode labels drop to it with ``dropout_prob``."""

    def __init__(self, num_classes: int, dim: int, dropout_prob: float):
        super().__init__()
        self.embedding_table = nn.Embedding(num_classes + 1, dim)
        self.num_classes, self.dropout_prob = num_classes, dropout_prob

    def forward(self, labels: torch.Tensor) -> torch.Tensor:
        if self.training and self.dropout_prob > 0:
            drop = torch.rand(labels.shape[0], device=labels.device) < self.dropout_prob
            labels = torch.where(drop, self.num_classes, labels)
        return self.embedding_table(labels).unsqueeze(1)  # [B, 1, D]


class CaptionMLP(nn.Module):
    """``fc2(gelu_tanh(fc1(x)))``, no biases: Cd -> D -> D on every caption slot."""

    def __init__(self, caption_dim: int, dim: int):
        super().__init__()
        self.fc1 = nn.Linear(caption_dim, dim, bias=False)
        self.fc2 = nn.Linear(dim, dim, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc2(F.gelu(self.fc1(x), approximate="tanh"))


class CaptionEmbedder(nn.Module):
    """Caption features [B, T, Cd] -> [B, T, D]. The null caption ``uncond_embedding [T, Cd]`` is a buffer
    (the official code never trains it); in train mode whole captions drop to it with ``dropout_prob``."""

    def __init__(self, caption_dim: int, dim: int, token_num: int, dropout_prob: float):
        super().__init__()
        self.register_buffer("uncond_embedding", torch.randn(token_num, caption_dim) / caption_dim**0.5)
        self.cap_proj = CaptionMLP(caption_dim, dim)
        self.dropout_prob = dropout_prob

    def null(self, rows: int) -> torch.Tensor:
        """The null caption for ``rows`` rows: [rows, T, Cd] (the whole table: padded slots included)."""
        return self.uncond_embedding.unsqueeze(0).expand(rows, -1, -1)

    def forward(self, captions: torch.Tensor) -> torch.Tensor:
        if self.training and self.dropout_prob > 0:
            drop = torch.rand(captions.shape[0], device=captions.device) < self.dropout_prob  # [B]
            table = self.uncond_embedding[-captions.shape[1]:]  # a trimmed window keeps the table's last slots
            captions = torch.where(drop[:, None, None], table.to(captions.dtype), captions)
        return self.cap_proj(captions)  # [B, T, D]


def unused_caption_slots(caption_mask: torch.Tensor) -> int:
    """How many leading caption slots no row of the batch uses (left padding: the slots before the longest
    prompt). They are invisible to every other position, so dropping them changes no output."""
    used = caption_mask.bool().any(dim=0)  # [T]
    return int(used.float().argmax()) if bool(used.any()) else caption_mask.shape[1] - 1


def caption_attention_mask(caption_mask: torch.Tensor, length: int) -> torch.Tensor:
    """The official t2i attention mask: bool [B, 1, S, S] for a sequence of ``length`` = S positions whose first
    T are caption slots (``caption_mask`` [B, T], nonzero = valid): causal, caption columns visible only where
    valid (for every query row), the diagonal always on (a masked slot still sees itself)."""
    B, T = caption_mask.shape
    causal = torch.ones(length, length, dtype=torch.bool, device=caption_mask.device).tril()  # [S, S]
    columns = torch.ones(B, length, dtype=torch.bool, device=caption_mask.device)
    columns[:, :T] = caption_mask.bool()
    mask = causal.unsqueeze(0) & columns.unsqueeze(1)  # [B, S, S]
    return (mask | torch.eye(length, dtype=torch.bool, device=caption_mask.device)).unsqueeze(1)


class RLOutput(NamedTuple):
    log_probs: torch.Tensor  # [B, L]
    entropy: torch.Tensor  # [B, L]
    hidden: torch.Tensor  # [B, L, D] conditional branch


filter_logits_llamagen = top_k_top_p_filter
"""The official ``top_k_top_p_filtering`` (`vargym.models.generator.top_k_top_p_filter`)."""


def guide(cond: torch.Tensor, uncond: torch.Tensor, cfg: float) -> torch.Tensor:
    """The official combination, bit for bit: ``uncond + (cond - uncond) * cfg``."""
    return uncond + (cond - uncond) * cfg


def guided_tokens(cfg: float, cfg_interval: int, length: int) -> int:
    """How many leading tokens are guided: 0 without guidance (cfg <= 1), else ``cfg_interval + 2`` (all
    ``length`` when the interval is -1)."""
    if cfg <= 1.0:
        return 0
    return length if cfg_interval < 0 else min(cfg_interval + 2, length)


class LlamaGen(nn.Module):
    """The GPT, c2i or t2i. Every public method takes the condition first: class labels [B] (c2i; the null
    class ``num_classes`` included), or caption features [B, T, Cd] with ``caption_mask`` [B, T] (t2i; left-padded,
    nonzero = valid; None: plain causal attention over every slot, the official ``emb_masks=None``).

    Example:
        >>> gpt = LlamaGen(LlamaGenConfig(dim=64, n_layer=2, n_head=4, num_classes=10, vocab_size=64, block_size=16))
        >>> tokens = gpt.sample(torch.tensor([1, 7]), cfg=4.0, top_k=20)      # [2, 16]
        >>> gpt.log_probs(torch.tensor([1, 7]), tokens, cfg=4.0, top_k=20)    # [2, 16]
        >>> t2i = LlamaGen(LlamaGenConfig(dim=64, n_layer=2, n_head=4, vocab_size=64, block_size=16,
        ...                               model_type="t2i", cls_token_num=120, caption_dim=32))
        >>> t2i.sample(captions, caption_mask=mask, cfg=7.5, top_k=1000)     # captions [B, 120, 32]
    """

    gradient_checkpointing: bool = False
    """Recompute each layer's activations in the backward pass of teacher-forced passes (less memory)."""
    trim_caption_window: bool = True
    """t2i with a caption mask: drop the leading caption slots that no row uses (the batch's longest prompt
    sets the window; exact, because masked slots are invisible). Every pass and the sampler get shorter."""

    def __init__(self, cfg: LlamaGenConfig):
        super().__init__()
        self.cfg = cfg
        self.num_classes, self.vocab_size, self.block_size = cfg.num_classes, cfg.vocab_size, cfg.block_size
        self.text = cfg.model_type == "t2i"
        self.prefix = cfg.cls_token_num
        """Condition slots before the image tokens (1 for c2i, T for t2i)."""
        if self.text:
            self.cls_embedding = CaptionEmbedder(cfg.caption_dim, cfg.dim, cfg.cls_token_num, cfg.class_dropout_prob)
        else:
            self.cls_embedding = LabelEmbedder(cfg.num_classes, cfg.dim, cfg.class_dropout_prob)
        self.tok_embeddings = nn.Embedding(cfg.vocab_size, cfg.dim)
        self.tok_dropout = nn.Dropout(cfg.token_dropout_p)
        rates = [cfg.drop_path_rate * i / max(cfg.n_layer - 1, 1) for i in range(cfg.n_layer)]
        self.layers = nn.ModuleList(TransformerBlock(cfg, r) for r in rates)
        self.norm = RMSNorm(cfg.dim, cfg.norm_eps)
        self.output = nn.Linear(cfg.dim, cfg.vocab_size, bias=False)
        # Not persistent: official state dicts do not carry the table.
        self.register_buffer("rope", rope_2d_table(cfg.grid, cfg.head_dim, cfg.rope_base, cfg.cls_token_num),
                             persistent=False)
        if not self.output.weight.is_meta:
            self.init_weights()

    def reset_rope(self) -> None:
        """Recompute the rotation table in place (after ``to_empty`` from the meta device)."""
        self.rope = rope_2d_table(self.cfg.grid, self.cfg.head_dim, self.cfg.rope_base,
                                  self.cfg.cls_token_num).to(self.rope.device)

    def init_weights(self) -> None:
        """The official init: N(0, initializer_range) for linears and embeddings, ones for norms, output 0."""
        for m in self.modules():
            if isinstance(m, (nn.Linear, nn.Embedding)):
                nn.init.normal_(m.weight, std=self.cfg.initializer_range)
        nn.init.zeros_(self.output.weight)

    # -- checks ----------------------------------------------------------------------------------------------
    def check_labels(self, labels: torch.Tensor | int, allow_null: bool = False) -> torch.Tensor:
        return check_labels(labels, self.num_classes, self.output.weight.device, allow_null)

    def check_condition(self, cond: torch.Tensor, caption_mask: torch.Tensor | None = None
                        ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """c2i: class labels int64 [B] (the null class admitted) and no mask. t2i: caption features float
        [B, T, Cd] and the mask as bool [B, T] (or None). Raises a ValueError naming what is wrong."""
        device = self.output.weight.device
        if not self.text:
            if caption_mask is not None:
                raise ValueError("caption_mask applies to a text-conditional (t2i) GPT; this one is c2i")
            return self.check_labels(cond, allow_null=True), None
        captions = torch.as_tensor(cond, device=device)
        T, Cd = self.prefix, self.cfg.caption_dim
        if captions.ndim != 3 or tuple(captions.shape[1:]) != (T, Cd) or not captions.dtype.is_floating_point:
            raise ValueError(f"captions must be float caption features [B, T={T}, Cd={Cd}] (left-padded), got "
                             f"{captions.dtype} {tuple(captions.shape)}")
        if caption_mask is None:
            return captions, None
        mask = torch.as_tensor(caption_mask, device=device)
        if tuple(mask.shape) != (captions.shape[0], T):
            raise ValueError(f"caption_mask must be [B={captions.shape[0]}, T={T}], got {tuple(mask.shape)}")
        return captions, mask.bool()

    def null_condition(self, rows: int, like: torch.Tensor) -> torch.Tensor:
        """The unconditional input of guidance for ``rows`` rows: the null class, or the null caption table."""
        if self.text:
            return self.cls_embedding.null(rows).to(like.dtype)
        return torch.full((rows,), self.num_classes, dtype=like.dtype, device=like.device)

    def check_tokens(self, tokens: torch.Tensor, batch: int) -> torch.Tensor:
        tokens = torch.as_tensor(tokens, device=self.output.weight.device)
        L, V = self.block_size, self.vocab_size
        if tokens.ndim != 2 or tuple(tokens.shape) != (batch, L) or tokens.dtype.is_floating_point:
            raise ValueError(f"tokens must be an integer tensor [B={batch}, L={L}], got {tokens.dtype} "
                             f"{tuple(tokens.shape)}")
        check_ids(tokens, V, "tokens", "vocab size")
        return tokens.long()

    # -- the network -----------------------------------------------------------------------------------------
    def forward(self, cond: torch.Tensor, tokens: torch.Tensor, return_hidden: bool = False,
                caption_mask: torch.Tensor | None = None):
        """Teacher forcing: the condition (labels [B], ``num_classes`` = null; or captions [B, T, Cd] with
        ``caption_mask`` [B, T] bool) and the L tokens [B, L] -> logits [B, L, V] float32, row t predicting token t
        (the last token is never an input). With ``return_hidden`` also the final normed hidden states [B, L, D]."""
        skip = 0  # leading caption slots that no row uses
        if self.text and caption_mask is not None and self.trim_caption_window:
            skip = unused_caption_slots(caption_mask)
            cond, caption_mask = cond[:, skip:], caption_mask[:, skip:]  # [B, n, Cd], [B, n]
        x = torch.cat([self.cls_embedding(cond), self.tok_embeddings(tokens[:, :-1])], dim=1)  # [B, n + L - 1, D]
        h = self.tok_dropout(x)
        rope = self.rope[skip: skip + h.shape[1]]  # caption rows are zeros: the image rows keep their index
        mask = None if caption_mask is None else caption_attention_mask(caption_mask, h.shape[1])
        for layer in self.layers:
            if self.gradient_checkpointing and torch.is_grad_enabled():  # recompute in backward: less memory
                h = checkpoint(layer, h, rope, None, mask, use_reentrant=False)
            else:
                h = layer(h, rope, None, mask)
        if self.prefix - skip > 1:
            h = h[:, self.prefix - skip - 1:]  # the last condition slot predicts token 0: [B, L, D]
        h = self.norm(h)
        logits = self.output(h).float()
        return (logits, h) if return_hidden else logits

    def step(self, x: torch.Tensor, position: int, caches: list[KVCache], mask: torch.Tensor | None = None,
             skip: int = 0) -> torch.Tensor:
        """One cached step after ``position`` image tokens: the condition slots [R, P - skip, D] (position 0) or
        the last token's embedding [R, 1, D] -> the next token's logits [R, V] float32. ``mask``: bool
        [R, 1, n, keys] over the cache (t2i caption masks; None: causal); ``skip``: leading caption slots left
        out (`unused_caption_slots`)."""
        h = self.tok_dropout(x)
        start = skip if position == 0 else self.prefix + position - 1  # rotary row of the first input
        rope = self.rope[start:start + h.shape[1]]
        for layer, cache in zip(self.layers, caches):
            h = layer(h, rope, cache, mask)
        return self.output(self.norm(h[:, -1])).float()

    def new_caches(self, rows: int, like: torch.Tensor, skip: int = 0) -> list[KVCache]:
        c = self.cfg
        length = self.prefix - skip + c.block_size - 1  # the condition slots and L - 1 image tokens
        return [KVCache(rows, c.kv_heads, length, c.head_dim, like) for _ in self.layers]

    # -- the public API ----------------------------------------------------------------------------------------
    @renamed_kwargs(labels="cond")
    def logits(self, cond: torch.Tensor, tokens: torch.Tensor, caption_mask: torch.Tensor | None = None
               ) -> torch.Tensor:
        """Teacher-forced logits [B, L, V] (row i predicts token i) of the condition (labels, null class
        allowed; or captions [B, T, Cd] with ``caption_mask``)."""
        cond, mask = self.check_condition(cond, caption_mask)
        return self(cond, self.check_tokens(tokens, cond.shape[0]), caption_mask=mask)

    @renamed_kwargs(labels="cond")
    def forward_rl(self, cond: torch.Tensor, tokens: torch.Tensor, temperature: float = 1.0, cfg: float = 1.0,
                   cfg_interval: int = -1, top_k: int = 0, top_p: float = 1.0, network: nn.Module | None = None,
                   caption_mask: torch.Tensor | None = None) -> RLOutput:
        """Log-probs and entropies [B, L] of ``tokens`` under the sampling distribution, in one pass through
        ``forward`` (conditional and null rows batched when guided; t2i null rows see the prompt's own caption
        mask, as in the official sampler); ``network``: the module whose forward runs (a DDP wrapper of this
        GPT; default: the GPT itself)."""
        net = network if network is not None else self
        cond, mask = self.check_condition(cond, caption_mask)  # the null class: the unconditional model
        B = cond.shape[0]
        tokens = self.check_tokens(tokens, B)
        n_guided = guided_tokens(cfg, cfg_interval, self.block_size)
        if n_guided:
            both = None if mask is None else torch.cat([mask, mask])
            logits, hidden = net(torch.cat([cond, self.null_condition(B, cond)]), tokens.repeat(2, 1),
                                 return_hidden=True, caption_mask=both)
            cond_logits, uncond = logits[:B], logits[B:]
            logits = torch.cat([guide(cond_logits[:, :n_guided], uncond[:, :n_guided], cfg),
                                cond_logits[:, n_guided:]], dim=1)
            hidden = hidden[:B]
        else:
            logits, hidden = net(cond, tokens, return_hidden=True, caption_mask=mask)
        logits = logits / max(temperature, 1e-5)
        logp = keep_taken(filter_logits_llamagen(logits, top_k, top_p), logits, tokens).log_softmax(dim=-1)
        entropy = -(logp.exp() * logp.nan_to_num(neginf=0.0)).sum(-1)
        return RLOutput(logp.gather(-1, tokens.unsqueeze(-1)).squeeze(-1), entropy, hidden)

    @renamed_kwargs(labels="cond")
    def log_probs(self, cond: torch.Tensor, tokens: torch.Tensor, temperature: float = 1.0, cfg: float = 1.0,
                  cfg_interval: int = -1, top_k: int = 0, top_p: float = 1.0,
                  caption_mask: torch.Tensor | None = None) -> torch.Tensor:
        """[B, L] log-probs of ``tokens`` under the sampling distribution (what `sample` draws from)."""
        return self.forward_rl(cond, tokens, temperature, cfg, cfg_interval, top_k, top_p,
                               caption_mask=caption_mask).log_probs

    @renamed_kwargs(labels="cond")
    def make_sampler(self, cond: torch.Tensor, cfg: float = 1.0, cfg_interval: int = -1, top_k: int = 0,
                     top_p: float = 1.0, temperature: float = 1.0, generator: torch.Generator | None = None,
                     precision: str = "float32", tokens_per_step: int = 1, draw: str = "multinomial",
                     caption_mask: torch.Tensor | None = None) -> TokenSampler:
        return TokenSampler(self, cond, cfg=cfg, cfg_interval=cfg_interval, top_k=top_k, top_p=top_p,
                            temperature=temperature, generator=generator, precision=precision,
                            tokens_per_step=tokens_per_step, draw=draw, caption_mask=caption_mask)

    @torch.no_grad()
    @renamed_kwargs(labels="cond")
    def sample(self, cond: torch.Tensor, cfg: float = 1.0, cfg_interval: int = -1, top_k: int = 0,
               top_p: float = 1.0, temperature: float = 1.0, generator: torch.Generator | None = None,
               return_log_probs: bool = False, caption_mask: torch.Tensor | None = None):
        """Tokens int64 [B, L] in raster order (and their log-probs [B, L]). With no ``generator`` the draws
        use the global RNG, one ``multinomial`` call per token as in the official sampler."""
        sampler = self.make_sampler(cond, cfg, cfg_interval, top_k, top_p, temperature, generator,
                                    caption_mask=caption_mask)
        tokens, log_probs = sampler.run()
        return (tokens, log_probs) if return_log_probs else tokens


class TokenSampler(RasterSampler):
    """Raster sampling with a KV cache; ``step()`` emits ``tokens_per_step`` tokens (the last step fewer).

    Guided rows run as ``[cond; null]`` only while guidance lasts: after ``cfg_interval`` the null half is
    dropped from the batch and its caches (the official sampler keeps computing it and throws it away).
    """

    @renamed_kwargs(labels="cond")
    def __init__(self, gpt: LlamaGen, cond: torch.Tensor, cfg: float = 1.0, cfg_interval: int = -1, top_k: int = 0,
                 top_p: float = 1.0, temperature: float = 1.0, generator: torch.Generator | None = None,
                 precision: str = "float32", tokens_per_step: int = 1, draw: str = "multinomial",
                 caption_mask: torch.Tensor | None = None):
        if int(cfg_interval) != cfg_interval or cfg_interval < -1:
            raise ValueError(f"cfg_interval must be an int >= -1 (-1 = guide every token), got {cfg_interval!r}")
        cond, mask = gpt.check_condition(cond, caption_mask)  # the null class: the unconditional model
        super().__init__(cond.shape[0], gpt.block_size, gpt.vocab_size, cond.device, top_k=top_k, top_p=top_p,
                         temperature=temperature, generator=generator, precision=precision,
                         tokens_per_step=tokens_per_step, draw=draw)
        self.gpt, self.cfg = gpt, cfg
        self.n_guided = guided_tokens(cfg, cfg_interval, self.L)
        rows = cond
        if self.n_guided:  # [cond; null]; the null rows see the prompt's own caption mask
            rows = torch.cat([rows, gpt.null_condition(self.B, cond)])
            mask = None if mask is None else torch.cat([mask, mask])
        self.skip = 0
        """Leading caption slots no row uses, left out of the window (`LlamaGen.trim_caption_window`)."""
        if mask is not None and gpt.trim_caption_window:
            self.skip = unused_caption_slots(mask)
            rows, mask = rows[:, self.skip:], mask[:, self.skip:]  # null rows keep the table's last slots
        self.row_masks = mask
        """The caption masks of the rows, bool [R, n] (None: causal attention over every slot)."""
        self.key_mask = None if mask is None else torch.cat(
            [mask, mask.new_ones(mask.shape[0], self.L)], dim=1)  # [R, n + L]: every key the cache will hold
        with torch.no_grad(), autocast(precision, self.device):
            self.next_input = gpt.cls_embedding(rows)  # [R, P - skip, D]
            self.caches = gpt.new_caches(rows.shape[0], self.next_input, self.skip)

    def _attention_mask(self) -> torch.Tensor | None:
        """The caption mask of this step over the cache: [R, 1, P, P] for the prefill, [R, 1, 1, keys] after."""
        if self.row_masks is None:
            return None
        if self.position == 0:
            return caption_attention_mask(self.row_masks, self.row_masks.shape[1])
        keys = self.row_masks.shape[1] + self.position  # the caption slots and the tokens drawn so far
        return self.key_mask[:, None, None, :keys]

    def next_logits(self) -> torch.Tensor:
        """The filtered logits [B, V] of the next token (guided while guidance lasts)."""
        logits = self.gpt.step(self.next_input, self.position, self.caches, self._attention_mask(), self.skip)  # [R, V]
        if self.position < self.n_guided:
            logits = guide(logits[: self.B], logits[self.B:], self.cfg)
        elif logits.shape[0] > self.B:
            logits = logits[: self.B]
        return filter_logits_llamagen(logits / max(self.temperature, 1e-5), self.top_k, self.top_p)

    def token(self, forced: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """Draw (or force) one token: int64 [B] and its log-prob [B]."""
        logits = self.next_logits()
        if forced is None:
            token = draw(logits.softmax(dim=-1), self.generator, method=self.draw).squeeze(1)
        else:
            token = forced
        log_prob = logits.log_softmax(dim=-1).gather(-1, token.unsqueeze(-1)).squeeze(-1)
        self.position += 1
        if not self.done:
            if self.position == self.n_guided and self.caches[0].k.shape[0] > self.B:
                for cache in self.caches:  # guidance is over: the null rows are dead weight
                    cache.k, cache.v = cache.k[: self.B], cache.v[: self.B]
                if self.row_masks is not None:
                    self.row_masks, self.key_mask = self.row_masks[: self.B], self.key_mask[: self.B]
            rows = self.caches[0].k.shape[0]
            x = self.gpt.tok_embeddings(token).unsqueeze(1)  # [B, 1, D]
            self.next_input = x.repeat(rows // self.B, 1, 1)
        return token, log_prob
