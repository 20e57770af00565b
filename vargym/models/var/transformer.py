"""The VAR transformer: next-scale prediction with AdaLN self-attention blocks (Tian et al., 2024).

Reads top to bottom: config, attention (with an explicit KV cache), FFN, AdaLN block, head, then ``VAR``.
Attribute names are the official ones (``blocks.{i}.attn.mat_qkv``, ``head_nm.ada_lin.1``, ...) because they
become state-dict keys. Suffixes follow the official code: ``x_BLC`` is [B, L, C], ``logits_BLV`` [B, L, V].

The training path here differs from the official ``VAR.forward`` in two deliberate ways, both needed for RL:
class-label dropout is an explicit argument (the official forward always applies it, even in eval mode),
and drop-path is applied only when the module is in train mode *and* ``drop_path`` is requested.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.checkpoint import checkpoint

from vargym.models.attention import attention
from vargym.models.generator import RLForward, check_labels
from vargym.models.var.sampling import KVCache, ScaleSampler, filter_logits, guidance_weights

if TYPE_CHECKING:
    from vargym.models.var.vqvae import VQVAE

_MAX_SCALE_MUL = torch.log(torch.tensor(100.0)).item()  # float32 ln(100), as the official clamp


@dataclass(frozen=True)
class VARConfig:
    """Constructor arguments of the official ``VAR`` (same names; the VQ-VAE comes separately)."""

    num_classes: int = 1000
    """Number of classes; class id ``num_classes`` is the null class used by CFG."""
    depth: int = 16
    """Number of transformer blocks."""
    embed_dim: int = 1024
    """Width C."""
    num_heads: int = 16
    """Attention heads (head dim = embed_dim / num_heads)."""
    mlp_ratio: float = 4.0
    """FFN hidden width / C."""
    drop_rate: float = 0.0
    """Dropout after attention projection and FFN."""
    attn_drop_rate: float = 0.0
    """Dropout on attention weights."""
    drop_path_rate: float = 0.0
    """Largest stochastic-depth rate (linear over the blocks)."""
    norm_eps: float = 1e-6
    """LayerNorm epsilon."""
    shared_aln: bool = False
    """One shared AdaLN projection with per-block offsets (VAR-d36)."""
    cond_drop_rate: float = 0.1
    """Class-label dropout rate used when pretraining for CFG (never in the RL log-prob path)."""
    attn_l2_norm: bool = True
    """L2-normalise q and k with a learned per-head scale (the released models)."""
    patch_nums: tuple[int, ...] = (1, 2, 3, 4, 5, 6, 8, 10, 13, 16)
    """Side pn_k of each scale's token map."""
    Cvae: int = 32
    """Latent channels of the paired VQ-VAE (official: read from ``vae_local``)."""
    vocab_size: int = 4096
    """Codebook size V of the paired VQ-VAE (official: read from ``vae_local``)."""

    def __post_init__(self):
        object.__setattr__(self, "patch_nums", tuple(int(p) for p in self.patch_nums))
        if self.embed_dim % self.num_heads:
            raise ValueError(f"embed_dim ({self.embed_dim}) must be divisible by num_heads ({self.num_heads})")
        if self.num_classes < 1 or self.depth < 1:
            raise ValueError(f"num_classes and depth must be >= 1, got {self.num_classes}, {self.depth}")
        if not 0.0 <= self.cond_drop_rate < 1.0:
            raise ValueError(f"cond_drop_rate must be in [0, 1), got {self.cond_drop_rate}")

    @property
    def L(self) -> int:
        """Tokens of all scales."""
        return sum(pn * pn for pn in self.patch_nums)

    @property
    def num_scales(self) -> int:
        return len(self.patch_nums)

    @property
    def begin_ends(self) -> list[tuple[int, int]]:
        """Token range [begin, end) of each scale in the concatenated sequence."""
        out, cur = [], 0
        for pn in self.patch_nums:
            out.append((cur, cur + pn * pn))
            cur += pn * pn
        return out


class SelfAttention(nn.Module):
    def __init__(self, embed_dim: int, num_heads: int, attn_drop: float, proj_drop: float, attn_l2_norm: bool):
        super().__init__()
        self.num_heads, self.head_dim = num_heads, embed_dim // num_heads
        self.attn_l2_norm = attn_l2_norm
        if attn_l2_norm:
            self.scale = 1.0
            self.scale_mul_1H11 = nn.Parameter(torch.full((1, num_heads, 1, 1), 4.0).log())
        else:
            self.scale = 0.25 / math.sqrt(self.head_dim)
        self.mat_qkv = nn.Linear(embed_dim, 3 * embed_dim, bias=False)
        self.q_bias = nn.Parameter(torch.zeros(embed_dim))
        self.v_bias = nn.Parameter(torch.zeros(embed_dim))
        self.register_buffer("zero_k_bias", torch.zeros(embed_dim))  # keys get no bias
        self.proj = nn.Linear(embed_dim, embed_dim)
        self.proj_drop = nn.Dropout(proj_drop) if proj_drop > 0 else nn.Identity()
        self.attn_drop = attn_drop

    def forward(self, x: torch.Tensor, attn_bias: torch.Tensor | None, cache: KVCache | None = None) -> torch.Tensor:
        B, L, C = x.shape
        bias = torch.cat((self.q_bias, self.zero_k_bias, self.v_bias))
        qkv = (self.mat_qkv(x) + bias).view(B, L, 3, self.num_heads, self.head_dim)  # through forward: adapters apply
        q, k, v = qkv.permute(2, 0, 3, 1, 4).unbind(0)  # each [B, H, L, c]
        if self.attn_l2_norm:
            scale_mul = self.scale_mul_1H11.clamp_max(_MAX_SCALE_MUL).exp()
            q = F.normalize(q, dim=-1).mul(scale_mul)
            k = F.normalize(k, dim=-1)
        if cache is not None:
            k, v = cache.extend(k, v)
        out = attention(
            q, k, v, mask=attn_bias, dropout_p=self.attn_drop if self.training else 0.0, scale=self.scale
        )  # [B, H, L, c]
        return self.proj_drop(self.proj(out.transpose(1, 2).reshape(B, L, C)))


class FFN(nn.Module):
    def __init__(self, embed_dim: int, hidden: int, drop: float):
        super().__init__()
        self.fc1 = nn.Linear(embed_dim, hidden)
        self.act = nn.GELU(approximate="tanh")
        self.fc2 = nn.Linear(hidden, embed_dim)
        self.drop = nn.Dropout(drop) if drop > 0 else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.drop(self.fc2(self.act(self.fc1(x))))


def _drop_path(x: torch.Tensor, p: float) -> torch.Tensor:
    keep = 1 - p
    mask = x.new_empty(x.shape[0], *([1] * (x.ndim - 1))).bernoulli_(keep)
    return x * mask / keep


class AdaLNSelfAttn(nn.Module):
    """Pre-norm block whose LayerNorm scale/shift and residual gates come from the class embedding."""

    def __init__(self, cfg: VARConfig, drop_path: float):
        super().__init__()
        C = cfg.embed_dim
        self.C, self.drop_path_p, self.shared_aln = C, drop_path, cfg.shared_aln
        self.attn = SelfAttention(C, cfg.num_heads, cfg.attn_drop_rate, cfg.drop_rate, cfg.attn_l2_norm)
        self.ffn = FFN(C, round(C * cfg.mlp_ratio), cfg.drop_rate)
        self.ln_wo_grad = nn.LayerNorm(C, eps=cfg.norm_eps, elementwise_affine=False)
        if cfg.shared_aln:
            self.ada_gss = nn.Parameter(torch.randn(1, 1, 6, C) / C**0.5)
        else:
            self.ada_lin = nn.Sequential(nn.SiLU(), nn.Linear(C, 6 * C))

    def forward(self, x: torch.Tensor, cond: torch.Tensor, attn_bias: torch.Tensor | None,
                cache: KVCache | None = None, drop_path: bool = False) -> torch.Tensor:
        if self.shared_aln:
            ada = (self.ada_gss + cond).unbind(2)  # cond: [B, 1, 6, C] from the shared projection
        else:
            ada = self.ada_lin(cond).view(-1, 1, 6, self.C).unbind(2)
        gamma1, gamma2, scale1, scale2, shift1, shift2 = ada  # each [B, 1, C]
        a = self.attn(self.ln_wo_grad(x).mul(scale1 + 1).add(shift1), attn_bias, cache).mul(gamma1)
        if drop_path and self.training and self.drop_path_p > 0:
            a = _drop_path(a, self.drop_path_p)
        x = x + a
        f = self.ffn(self.ln_wo_grad(x).mul(scale2 + 1).add(shift2)).mul(gamma2)
        if drop_path and self.training and self.drop_path_p > 0:
            f = _drop_path(f, self.drop_path_p)
        return x + f


class AdaLNBeforeHead(nn.Module):
    def __init__(self, C: int, norm_eps: float):
        super().__init__()
        self.C = C
        self.ln_wo_grad = nn.LayerNorm(C, eps=norm_eps, elementwise_affine=False)
        self.ada_lin = nn.Sequential(nn.SiLU(), nn.Linear(C, 2 * C))

    def forward(self, x_BLC: torch.Tensor, cond_BD: torch.Tensor) -> torch.Tensor:
        scale, shift = self.ada_lin(cond_BD).view(-1, 1, 2, self.C).unbind(2)
        return self.ln_wo_grad(x_BLC).mul(scale + 1).add(shift)


class SharedAdaLin(nn.Linear):
    def forward(self, cond_BD: torch.Tensor) -> torch.Tensor:
        return super().forward(cond_BD).view(-1, 1, 6, self.out_features // 6)


class VAR(nn.Module):
    """Class-conditional next-scale prediction transformer.

    Holds a reference to its frozen VQ-VAE (not a submodule, so state dicts stay the official ones), needed
    to turn tokens into the next scale's input.

    Example:
        >>> vqvae, var = build_preset("tiny")
        >>> tokens = var.sample(torch.tensor([0, 1]), top_k=10)  # one [2, pn_k^2] map per scale
        >>> var.log_probs(torch.tensor([0, 1]), tokens).shape   # [2, L]
    """

    gradient_checkpointing: bool = False
    """Recompute each block's activations in the backward pass of teacher-forced passes (less memory, about
    a third more compute)."""

    def __init__(self, cfg: VARConfig, vqvae: VQVAE | None = None):
        super().__init__()
        self.cfg = cfg
        self.num_classes, self.C = cfg.num_classes, cfg.embed_dim
        self.patch_nums, self.L = cfg.patch_nums, cfg.L
        self.first_l = cfg.patch_nums[0] ** 2
        self.begin_ends = cfg.begin_ends
        self._vqvae: tuple[VQVAE, ...] = ()  # a tuple, so the VQ-VAE is not a submodule (official layout)
        init_std = math.sqrt(1 / self.C / 3)
        self.pos_start = nn.Parameter(torch.empty(1, self.first_l, self.C))
        self.pos_1LC = nn.Parameter(torch.empty(1, self.L, self.C))
        nn.init.trunc_normal_(self.pos_start, std=init_std)
        nn.init.trunc_normal_(self.pos_1LC, std=init_std)
        levels = torch.cat([torch.full((pn * pn,), i) for i, pn in enumerate(self.patch_nums)])  # [L]
        self.register_buffer("lvl_1L", levels.view(1, self.L).contiguous())
        mask = torch.where(levels.view(-1, 1) >= levels.view(1, -1), 0.0, -torch.inf)  # block-causal
        self.register_buffer("attn_bias_for_masking", mask.view(1, 1, self.L, self.L).contiguous())
        C, self.Cvae, self.V = self.C, cfg.Cvae, cfg.vocab_size
        self.word_embed = nn.Linear(self.Cvae, self.C)
        self.class_emb = nn.Embedding(cfg.num_classes + 1, C)
        self.lvl_embed = nn.Embedding(len(self.patch_nums), C)
        nn.init.trunc_normal_(self.class_emb.weight, std=init_std)
        nn.init.trunc_normal_(self.lvl_embed.weight, std=init_std)
        self.shared_ada_lin = nn.Sequential(nn.SiLU(), SharedAdaLin(C, 6 * C)) if cfg.shared_aln else nn.Identity()
        dpr = [cfg.drop_path_rate * i / max(cfg.depth - 1, 1) for i in range(cfg.depth)]  # python: meta-safe
        self.blocks = nn.ModuleList([AdaLNSelfAttn(cfg, dpr[i]) for i in range(cfg.depth)])
        self.head_nm = AdaLNBeforeHead(C, cfg.norm_eps)
        self.head = nn.Linear(C, self.V)
        self.init_weights()
        if vqvae is not None:
            self.attach(vqvae)

    def attach(self, vqvae: VQVAE) -> VAR:
        """Link the VQ-VAE whose codebook and Phi build the next-scale inputs (held by reference)."""
        if (vqvae.Cvae, vqvae.vocab_size) != (self.Cvae, self.V) or tuple(vqvae.v_patch_nums) != self.patch_nums:
            raise ValueError(
                f"VQ-VAE (Cvae={vqvae.Cvae}, V={vqvae.vocab_size}, patch_nums={vqvae.v_patch_nums}) does not match "
                f"the VAR (Cvae={self.Cvae}, V={self.V}, patch_nums={self.patch_nums})"
            )
        self._vqvae = (vqvae,)
        return self

    @property
    def vqvae(self) -> VQVAE:
        if not self._vqvae:
            raise ValueError("this VAR has no VQ-VAE attached: build it with VAR(cfg, vqvae) or call var.attach(vqvae)")
        return self._vqvae[0]

    @torch.no_grad()
    def init_weights(self, init_adaln: float = 0.5, init_adaln_gamma: float = 1e-5, init_head: float = 0.02) -> None:
        """The official initialisation (only matters when training from scratch)."""
        std = math.sqrt(1 / self.C / 3)
        for m in self.modules():
            if isinstance(m, nn.Linear):
                nn.init.trunc_normal_(m.weight, std=std)
                if m.bias is not None:
                    m.bias.zero_()
        self.head.weight.mul_(init_head)
        self.head.bias.zero_()
        self.head_nm.ada_lin[-1].weight.mul_(init_adaln)
        self.head_nm.ada_lin[-1].bias.zero_()
        depth = len(self.blocks)
        for block in self.blocks:
            block.attn.proj.weight.div_(math.sqrt(2 * depth))
            block.ffn.fc2.weight.div_(math.sqrt(2 * depth))
            if hasattr(block, "ada_lin"):
                w = block.ada_lin[-1].weight
                w[2 * self.C:].mul_(init_adaln)
                w[: 2 * self.C].mul_(init_adaln_gamma)
                block.ada_lin[-1].bias.zero_()

    # ----------------------------------------------------------------------------------------------- inputs
    def check_labels(self, labels: torch.Tensor, allow_null: bool = False) -> torch.Tensor:
        return check_labels(labels, self.num_classes, self.pos_1LC.device, allow_null)

    def resolve_labels(self, labels: torch.Tensor | int | None, batch_size: int | None = None,
                       generator: torch.Generator | None = None) -> torch.Tensor:
        """Labels as the official sampler takes them: a tensor as is, an int for the whole batch, None drawn."""
        if labels is not None and not isinstance(labels, int):
            return labels
        if batch_size is None or batch_size < 1:
            raise ValueError(f"batch_size must be a positive int when labels is {labels!r}, got {batch_size}")
        device = self.pos_1LC.device
        if isinstance(labels, int):  # a negative int means the null class (unconditional samples), as officially
            return torch.full((batch_size,), self.num_classes if labels < 0 else labels, dtype=torch.long, device=device)
        uniform = torch.full((1, self.num_classes), 1.0 / self.num_classes, device=device)
        return torch.multinomial(uniform, num_samples=batch_size, replacement=True, generator=generator).reshape(batch_size)

    def _as_token_list(self, tokens: torch.Tensor | list[torch.Tensor], batch: int) -> list[torch.Tensor]:
        if isinstance(tokens, torch.Tensor):
            if tokens.ndim != 2 or tokens.shape[1] != self.L:
                raise ValueError(f"tokens as one tensor must be [B, L={self.L}], got {tuple(tokens.shape)}")
            tokens = [tokens[:, b:e] for b, e in self.begin_ends]
        tokens = list(tokens)
        self.vqvae.check_tokens(tokens)
        if tokens[0].shape[0] != batch:
            raise ValueError(f"tokens hold batch {tokens[0].shape[0]} but labels hold {batch}")
        return tokens

    def lvl_pos(self) -> torch.Tensor:
        """Level + absolute position embedding [1, L, C]."""
        return self.lvl_embed(self.lvl_1L) + self.pos_1LC

    def start_tokens(self, cond_BD: torch.Tensor) -> torch.Tensor:
        """Start-of-sequence input [B, first_l, C]: class embedding + ``pos_start`` (level/pos added later)."""
        B = cond_BD.shape[0]
        return cond_BD.unsqueeze(1).expand(B, self.first_l, -1) + self.pos_start.expand(B, -1, -1)

    def get_logits(self, h_BLC: torch.Tensor, cond_BD: torch.Tensor) -> torch.Tensor:
        return self.head(self.head_nm(h_BLC.float(), cond_BD).float()).float()

    # ------------------------------------------------------------------------------------- teacher forcing
    def hidden_states(self, labels: torch.Tensor, x_BLCv_wo_first_l: torch.Tensor, drop_path: bool = False
                      ) -> tuple[torch.Tensor, torch.Tensor]:
        """One block-causal pass. Returns the last hidden states [B, L, C] and the class embedding [B, C]."""
        cond_BD = self.class_emb(labels)
        lvl_pos = self.lvl_pos()  # [1, L, C]
        x_BLC = torch.cat((self.start_tokens(cond_BD), self.word_embed(x_BLCv_wo_first_l.float())), dim=1)
        x_BLC = x_BLC + lvl_pos  # [B, L, C]
        cond = self.shared_ada_lin(cond_BD)
        for block in self.blocks:
            if self.gradient_checkpointing and torch.is_grad_enabled():  # recompute in backward: less memory
                x_BLC = checkpoint(block, x_BLC, cond, self.attn_bias_for_masking, drop_path=drop_path,
                                   use_reentrant=False)
            else:
                x_BLC = block(x_BLC, cond, self.attn_bias_for_masking, drop_path=drop_path)
        return x_BLC, cond_BD

    def forward(self, labels: torch.Tensor, x_BLCv_wo_first_l: torch.Tensor, return_hidden: bool = False,
                drop_path: bool = False) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
        """Official-style teacher-forced forward: next-scale inputs [B, L-1, Cv] -> logits [B, L, V].

        No label dropout (use ``teacher_forcing_loss`` for pretraining). Row i predicts token i. Every
        teacher-forced pass (RL and pretraining) goes through here, so module hooks, DDP and FSDP see it.
        ``return_hidden`` also returns the last hidden states [B, L, C].
        """
        h, cond_BD = self.hidden_states(labels, x_BLCv_wo_first_l, drop_path=drop_path)
        logits = self.get_logits(h, cond_BD)
        return (logits, h) if return_hidden else logits

    def cached_step(self, x_BlC: torch.Tensor, cond: torch.Tensor, cond_BD: torch.Tensor,
                    caches: list[KVCache]) -> torch.Tensor:
        """One scale of KV-cached inference: that scale's inputs [B, l, C] -> logits [B, l, V]."""
        for block, cache in zip(self.blocks, caches):
            x_BlC = block(x_BlC, cond, None, cache)
        return self.get_logits(x_BlC, cond_BD)

    def logits(self, labels: torch.Tensor, tokens: torch.Tensor | list[torch.Tensor]) -> torch.Tensor:
        """Teacher-forced logits [B, L, V]; row i predicts token i of the concatenated scales.

        Args:
            labels: [B] int64 class labels in [0, num_classes] (num_classes = the null class).
            tokens: one [B, pn_k^2] map per scale, or the concatenation [B, L].
        """
        labels = self.check_labels(labels, allow_null=True)
        tokens = self._as_token_list(tokens, labels.shape[0])
        return self(labels, self.vqvae.quantize.next_scale_inputs(tokens))

    def forward_rl(self, labels: torch.Tensor, tokens: torch.Tensor | list[torch.Tensor], temperature: float = 1.0,
                   cfg: float = 0.0, top_k: int = 0, top_p: float = 0.0, network: nn.Module | None = None
                   ) -> RLForward:
        """Log-probs, entropies and hidden states of given tokens under the sampling policy, in one pass.

        The distribution is the one ``sample`` draws from with the same arguments: CFG mixing
        ``(1 + t) * cond - t * uncond`` with ``t = cfg * k / (K - 1)`` at scale k, then ``/ temperature``,
        then top-k / top-p filtering. No label dropout and no drop-path, so it is the sampled policy exactly.
        With cfg != 0 the null-class branch runs in the same batch (2B rows). ``network``: the module whose
        forward runs the transformer (a DDP wrapper of this VAR; default: the VAR itself).
        """
        from vargym.models.generator import keep_taken

        labels = self.check_labels(labels, allow_null=True)  # the sampler accepts the null class too
        B = labels.shape[0]
        token_list = self._as_token_list(tokens, B)
        x = self.vqvae.quantize.next_scale_inputs(token_list)
        target = torch.cat(token_list, dim=1)  # [B, L]
        net = network if network is not None else self  # `or` would call a wrapper's __len__
        if cfg != 0:
            both = torch.cat((labels, torch.full_like(labels, self.num_classes)))
            logits, h = net(both, x.repeat(2, 1, 1), return_hidden=True)  # [2B, L, V]
            t = guidance_weights(self.cfg.patch_nums, cfg, device=logits.device)[self.lvl_1L[0]].view(1, -1, 1)
            logits = (1 + t) * logits[:B] - t * logits[B:]
            h = h[:B]
        else:
            logits, h = net(labels, x, return_hidden=True)
        logits = logits / temperature
        logits = keep_taken(filter_logits(logits, top_k, top_p), logits, target)
        logp = logits.log_softmax(dim=-1)  # [B, L, V]
        p = logp.exp()
        entropy = -(p * torch.where(p > 0, logp, torch.zeros_like(logp))).sum(-1)
        return RLForward(logp.gather(-1, target.unsqueeze(-1)).squeeze(-1), entropy, h)

    def log_probs(self, labels: torch.Tensor, tokens: torch.Tensor | list[torch.Tensor], temperature: float = 1.0,
                  cfg: float = 0.0, top_k: int = 0, top_p: float = 0.0) -> torch.Tensor:
        """Per-token log-probs [B, L] of ``tokens`` under the sampling distribution (see ``forward_rl``)."""
        return self.forward_rl(labels, tokens, temperature, cfg, top_k, top_p).log_probs

    def teacher_forcing_loss(self, labels: torch.Tensor, tokens: list[torch.Tensor], cond_drop_rate: float | None = None
                             ) -> torch.Tensor:
        """Pretraining loss: mean next-scale cross-entropy, with class-label dropout (for CFG) and drop-path."""
        rate = self.cfg.cond_drop_rate if cond_drop_rate is None else cond_drop_rate
        labels = self.check_labels(labels)
        labels = torch.where(torch.rand(labels.shape[0], device=labels.device) < rate, self.num_classes, labels)
        logits = self(labels, self.vqvae.quantize.next_scale_inputs(tokens), drop_path=True)
        return F.cross_entropy(logits.reshape(-1, self.V), torch.cat(tokens, dim=1).reshape(-1))

    # ------------------------------------------------------------------------------------------ sampling
    def make_sampler(self, labels: torch.Tensor, cfg: float = 0.0, top_k: int = 0, top_p: float = 0.0,
                     temperature: float = 1.0, more_smooth: bool = False,
                     generator: torch.Generator | None = None, precision: str = "float32",
                     draw: str = "multinomial") -> ScaleSampler:
        """A step-wise sampler that owns the KV cache: ``tokens_k, log_probs_k = sampler.step()`` per scale.
        ``precision="bfloat16"`` runs the transformer under autocast; ``draw`` as in `SamplingConfig`."""

        return ScaleSampler(self, labels, cfg=cfg, top_k=top_k, top_p=top_p, temperature=temperature,
                            more_smooth=more_smooth, generator=generator, precision=precision, draw=draw)

    @torch.no_grad()
    def sample(self, labels: torch.Tensor | int | None, cfg: float = 1.0, top_k: int = 0, top_p: float = 0.0,
               temperature: float = 1.0, more_smooth: bool = False, generator: torch.Generator | None = None,
               return_log_probs: bool = False, batch_size: int | None = None, draw: str = "multinomial"):
        """Sample token maps for ``labels`` [B] with a KV cache, scale by scale.

        ``cfg`` follows the official schedule: guided logits ``(1 + t) * cond - t * uncond`` with
        ``t = cfg * k / (K - 1)`` at scale k (so cfg=1 still guides the later scales). ``cfg=0`` is unguided
        and runs B rows instead of 2B. Returns one [B, pn_k^2] int64 map per scale, and with
        ``return_log_probs`` also the [B, L] log-probs of the distribution each token was drawn from.
        As in the official sampler, ``labels=None`` draws ``batch_size`` labels uniformly from ``generator``
        (its first use), an int fills the batch with that class, and a negative int (or label ``num_classes``)
        samples unconditionally.
        """
        labels = self.resolve_labels(labels, batch_size, generator)
        sampler = self.make_sampler(labels, cfg=cfg, top_k=top_k, top_p=top_p, temperature=temperature,
                                    more_smooth=more_smooth, generator=generator, draw=draw)
        tokens, logps = [], []
        while not sampler.done:
            t, lp = sampler.step()
            tokens.append(t)
            logps.append(lp)
        return (tokens, torch.cat(logps, dim=1)) if return_log_probs else tokens
