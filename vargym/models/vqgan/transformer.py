"""taming-transformers' minGPT as its class-conditional ImageNet model (cIN) uses it.

The sequence is ``[tok(label), tok(x_0), ..., tok(x_{L-2})]``: the class token is the label's own row of the
token table (``Labelator``: no offset, no separate class table, so rows 0..999 serve as class and as code
embeddings), and position t predicts image token t. Positions are a learned table ``pos_emb [1, L, C]``
(the class at 0). Blocks are pre-LayerNorm (eps 1e-5) with separate ``key``/``query``/``value`` Linears, a
causal mask, and an exact-GELU MLP, every Linear with a bias; the ``head`` has none and is not tied.

Sampling follows ``sample_with_past``: a KV cache, logits divided by the temperature, top-k (ties kept) then
top-p as transformers' ``top_k_top_p_filtering``, a draw from the softmax, and **no classifier-free guidance**
(the model has no unconditional branch). One difference, on purpose: the official sampler ignores ``top_p``
unless a ``top_k`` is given; here ``top_p`` always filters, as it does for every other family.

Attribute names are the official ones (``blocks.{i}.attn.query``, ``mlp.0``, ``ln_f``, ...) because they become
state-dict keys. The official causal-mask buffers (``blocks.{i}.attn.mask``) are not kept: the loaders drop them.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import NamedTuple

import torch
from torch import nn
from torch.utils.checkpoint import checkpoint

from vargym.models.attention import KVCache, attention
from vargym.models.generator import (
    RasterSampler,
    check_ids,
    check_labels,
    draw,
    keep_taken,
    top_k_top_p_filter,
)

__all__ = ["MinGPT", "MinGPTConfig", "MinGPTSampler"]


@dataclass(frozen=True)
class MinGPTConfig:
    """The official ``GPT`` arguments and the ``Labelator``'s class count."""

    vocab_size: int = 16384
    block_size: int = 256
    """Image tokens L = grid^2 (the GPT's input is the class and L - 1 tokens)."""
    n_layer: int = 48
    n_head: int = 24
    n_embd: int = 1536
    embd_pdrop: float = 0.0
    resid_pdrop: float = 0.0
    attn_pdrop: float = 0.0
    n_unmasked: int = 0
    """Leading positions that see each other without the causal rule (0 in every class-conditional model)."""
    num_classes: int = 1000
    """Class labels lie in [0, num_classes); they are token ids of the image vocabulary."""

    def __post_init__(self) -> None:
        for name in ("vocab_size", "block_size", "n_layer", "n_head", "n_embd", "num_classes"):
            if int(getattr(self, name)) < 1:
                raise ValueError(f"MinGPTConfig.{name} must be >= 1, got {getattr(self, name)!r}")
        if self.n_embd % self.n_head:
            raise ValueError(f"n_embd={self.n_embd} must be divisible by n_head={self.n_head}")
        if self.num_classes > self.vocab_size:
            raise ValueError(f"num_classes={self.num_classes} must be <= vocab_size={self.vocab_size}: a class is the "
                             f"token id of its label")
        if self.n_unmasked != 0:
            raise ValueError(f"n_unmasked={self.n_unmasked}: only the causal class-conditional model (0) is supported")
        if math.isqrt(self.block_size) ** 2 != self.block_size:
            raise ValueError(f"block_size={self.block_size} must be a square number of tokens (grid^2)")

    @property
    def head_dim(self) -> int:
        return self.n_embd // self.n_head

    @property
    def grid(self) -> int:
        return math.isqrt(self.block_size)


class CausalSelfAttention(nn.Module):
    def __init__(self, cfg: MinGPTConfig):
        super().__init__()
        C = cfg.n_embd
        self.key, self.query, self.value, self.proj = (nn.Linear(C, C) for _ in range(4))
        self.n_head, self.attn_pdrop = cfg.n_head, cfg.attn_pdrop
        self.resid_drop = nn.Dropout(cfg.resid_pdrop)

    def forward(self, x: torch.Tensor, cache: KVCache | None = None) -> torch.Tensor:
        B, T, C = x.shape
        q, k, v = (f(x).view(B, T, self.n_head, C // self.n_head).transpose(1, 2)
                   for f in (self.query, self.key, self.value))  # [B, H, T, hd]
        causal = True
        if cache is not None:
            causal = cache.length == 0  # one new token sees every cached one
            k, v = cache.append(k, v)
        dropout = self.attn_pdrop if self.training else 0.0
        y = attention(q, k, v, is_causal=causal and T > 1, dropout_p=dropout)
        return self.resid_drop(self.proj(y.transpose(1, 2).reshape(B, T, C)))


class Block(nn.Module):
    def __init__(self, cfg: MinGPTConfig):
        super().__init__()
        C = cfg.n_embd
        self.ln1, self.ln2 = nn.LayerNorm(C), nn.LayerNorm(C)
        self.attn = CausalSelfAttention(cfg)
        self.mlp = nn.Sequential(nn.Linear(C, 4 * C), nn.GELU(), nn.Linear(4 * C, C), nn.Dropout(cfg.resid_pdrop))

    def forward(self, x: torch.Tensor, cache: KVCache | None = None) -> torch.Tensor:
        x = x + self.attn(self.ln1(x), cache)
        return x + self.mlp(self.ln2(x))


class RLOutput(NamedTuple):
    log_probs: torch.Tensor  # [B, L]
    entropy: torch.Tensor  # [B, L]
    hidden: torch.Tensor  # [B, L, C]


class MinGPT(nn.Module):
    """The class-conditional GPT. Every public method takes class labels [B] first (no null class: the
    model has no unconditional branch).

    Example:
        >>> gpt = MinGPT(MinGPTConfig(vocab_size=64, block_size=16, n_layer=2, n_head=4, n_embd=64, num_classes=10))
        >>> tokens = gpt.sample(torch.tensor([1, 7]), top_k=20)          # [2, 16]
        >>> gpt.log_probs(torch.tensor([1, 7]), tokens, top_k=20)        # [2, 16]
    """

    gradient_checkpointing: bool = False
    """Recompute each block's activations in the backward pass of teacher-forced passes (less memory)."""

    def __init__(self, cfg: MinGPTConfig):
        super().__init__()
        self.cfg = cfg
        self.num_classes, self.vocab_size, self.block_size = cfg.num_classes, cfg.vocab_size, cfg.block_size
        self.tok_emb = nn.Embedding(cfg.vocab_size, cfg.n_embd)
        self.pos_emb = nn.Parameter(torch.zeros(1, cfg.block_size, cfg.n_embd))
        self.drop = nn.Dropout(cfg.embd_pdrop)
        self.blocks = nn.ModuleList(Block(cfg) for _ in range(cfg.n_layer))
        self.ln_f = nn.LayerNorm(cfg.n_embd)
        self.head = nn.Linear(cfg.n_embd, cfg.vocab_size, bias=False)
        if not self.head.weight.is_meta:
            self.init_weights()

    def init_weights(self) -> None:
        """The official init: N(0, 0.02) for Linears and the token table, zero biases, identity LayerNorms,
        zero positions."""
        for m in self.modules():
            if isinstance(m, (nn.Linear, nn.Embedding)):
                nn.init.normal_(m.weight, std=0.02)
                if getattr(m, "bias", None) is not None:
                    nn.init.zeros_(m.bias)
            elif isinstance(m, nn.LayerNorm):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)
        nn.init.zeros_(self.pos_emb)

    # -- checks ----------------------------------------------------------------------------------------------
    def check_labels(self, labels: torch.Tensor | int) -> torch.Tensor:
        return check_labels(labels, self.num_classes, self.head.weight.device)

    def check_tokens(self, tokens: torch.Tensor, batch: int) -> torch.Tensor:
        tokens = torch.as_tensor(tokens, device=self.head.weight.device)
        L = self.block_size
        if tokens.ndim != 2 or tuple(tokens.shape) != (batch, L) or tokens.dtype.is_floating_point:
            raise ValueError(f"tokens must be an integer tensor [B={batch}, L={L}], got {tokens.dtype} "
                             f"{tuple(tokens.shape)}")
        check_ids(tokens, self.vocab_size, "tokens", "vocab size")
        return tokens.long()

    # -- the network -----------------------------------------------------------------------------------------
    def forward(self, labels: torch.Tensor, tokens: torch.Tensor, return_hidden: bool = False):
        """Teacher forcing: labels [B] and the L tokens [B, L] -> logits [B, L, V] float32, row t predicting
        token t (the last token is never an input); with ``return_hidden`` also the final normed states."""
        idx = torch.cat([labels[:, None], tokens[:, :-1]], dim=1)  # [B, L]
        h = self.drop(self.tok_emb(idx) + self.pos_emb[:, : idx.shape[1]])
        for block in self.blocks:
            if self.gradient_checkpointing and torch.is_grad_enabled():
                h = checkpoint(block, h, None, use_reentrant=False)
            else:
                h = block(h)
        h = self.ln_f(h)
        logits = self.head(h).float()
        return (logits, h) if return_hidden else logits

    def step(self, ids: torch.Tensor, position: int, caches: list[KVCache]) -> torch.Tensor:
        """One cached step: the id [R] at ``position`` (the label at 0, token p - 1 at p) -> the next token's
        logits [R, V] float32."""
        h = self.drop(self.tok_emb(ids)[:, None] + self.pos_emb[:, position: position + 1])  # [R, 1, C]
        for block, cache in zip(self.blocks, caches):
            h = block(h, cache)
        return self.head(self.ln_f(h[:, -1])).float()

    def new_caches(self, rows: int, like: torch.Tensor) -> list[KVCache]:
        c = self.cfg
        return [KVCache(rows, c.n_head, c.block_size, c.head_dim, like) for _ in self.blocks]

    # -- the public API ----------------------------------------------------------------------------------------
    def logits(self, labels: torch.Tensor, tokens: torch.Tensor) -> torch.Tensor:
        """Teacher-forced logits [B, L, V] (row i predicts token i)."""
        labels = self.check_labels(labels)
        return self(labels, self.check_tokens(tokens, labels.shape[0]))

    def forward_rl(self, labels: torch.Tensor, tokens: torch.Tensor, temperature: float = 1.0, top_k: int = 0,
                   top_p: float = 1.0, network: nn.Module | None = None) -> RLOutput:
        """Log-probs and entropies [B, L] of ``tokens`` under the sampling distribution, in one pass through
        ``forward``; ``network``: the module whose forward runs (a DDP wrapper of this GPT; default: itself)."""
        net = network if network is not None else self
        labels = self.check_labels(labels)
        tokens = self.check_tokens(tokens, labels.shape[0])
        logits, hidden = net(labels, tokens, return_hidden=True)
        logits = logits / max(temperature, 1e-5)
        logp = keep_taken(top_k_top_p_filter(logits, top_k, top_p), logits, tokens).log_softmax(dim=-1)
        entropy = -(logp.exp() * logp.nan_to_num(neginf=0.0)).sum(-1)
        return RLOutput(logp.gather(-1, tokens.unsqueeze(-1)).squeeze(-1), entropy, hidden)

    def log_probs(self, labels: torch.Tensor, tokens: torch.Tensor, temperature: float = 1.0, top_k: int = 0,
                  top_p: float = 1.0) -> torch.Tensor:
        """[B, L] log-probs of ``tokens`` under the sampling distribution (what `sample` draws from)."""
        return self.forward_rl(labels, tokens, temperature, top_k, top_p).log_probs

    @torch.no_grad()
    def sample(self, labels: torch.Tensor, top_k: int = 0, top_p: float = 1.0, temperature: float = 1.0,
               generator: torch.Generator | None = None, return_log_probs: bool = False, greedy: bool = False):
        """Tokens int64 [B, L] in raster order (and their log-probs). With no ``generator`` the draws use the
        global RNG, one ``multinomial`` call per token as ``sample_with_past``; ``greedy``: the argmax
        (``sample_logits=False``)."""
        tokens, log_probs = MinGPTSampler(self, labels, top_k=top_k, top_p=top_p, temperature=temperature,
                                          generator=generator, greedy=greedy).run()
        return (tokens, log_probs) if return_log_probs else tokens


class MinGPTSampler(RasterSampler):
    """Raster sampling with a KV cache; ``step()`` emits ``tokens_per_step`` tokens (the last step fewer)."""

    def __init__(self, gpt: MinGPT, labels: torch.Tensor, top_k: int = 0, top_p: float = 1.0,
                 temperature: float = 1.0, generator: torch.Generator | None = None, precision: str = "float32",
                 tokens_per_step: int = 1, draw: str = "multinomial", greedy: bool = False):
        labels = gpt.check_labels(labels)
        super().__init__(labels.shape[0], gpt.block_size, gpt.vocab_size, labels.device, top_k=top_k, top_p=top_p,
                         temperature=temperature, generator=generator, precision=precision,
                         tokens_per_step=tokens_per_step, draw=draw)
        self.gpt, self.labels, self.greedy = gpt, labels, greedy
        self.next_ids = labels
        self.caches = gpt.new_caches(self.B, gpt.head.weight)

    def next_logits(self) -> torch.Tensor:
        """The filtered, tempered logits [B, V] of the next token."""
        logits = self.gpt.step(self.next_ids, self.position, self.caches)
        return top_k_top_p_filter(logits / max(self.temperature, 1e-5), self.top_k, self.top_p)

    def token(self, forced: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """Draw (or force) one token: int64 [B] and its log-prob [B]."""
        logits = self.next_logits()
        if forced is not None:
            token = forced
        elif self.greedy:
            token = logits.argmax(dim=-1)
        else:
            token = draw(logits.softmax(dim=-1), self.generator, method=self.draw).squeeze(1)
        log_prob = logits.log_softmax(dim=-1).gather(-1, token.unsqueeze(-1)).squeeze(-1)
        self.position += 1
        self.next_ids = token
        return token, log_prob
