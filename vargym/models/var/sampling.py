"""Scale-by-scale sampling with a KV cache, and the logit filtering shared with the log-prob pass.

``ScaleSampler`` reproduces the official ``autoregressive_infer_cfg`` step for step (same RNG calls in the
same order, so a seeded ``torch.Generator`` gives the official tokens, unless ``draw="inverse-cdf"``), with three additions: it records
the log-prob of every drawn token under the distribution it was drawn from, it accepts a temperature,
and with ``cfg == 0`` it does not run the null-class half of the batch.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch

from vargym.models.generator import DRAWS, autocast, draw

if TYPE_CHECKING:
    from vargym.models.var.transformer import VAR


def guidance_weights(patch_nums: tuple[int, ...], cfg: float, device: torch.device | None = None) -> torch.Tensor:
    """Per-scale guidance t_k = cfg * k / (K - 1) (zero at the first scale, ``cfg`` at the last): [K]."""
    K = len(patch_nums)
    ratios = torch.arange(K, dtype=torch.float64) / max(K - 1, 1)
    return (cfg * ratios).to(device=device, dtype=torch.float32)


def filter_logits(logits: torch.Tensor, top_k: int = 0, top_p: float = 0.0) -> torch.Tensor:
    """Top-k then top-p (nucleus) filtering over the last dim; removed entries become -inf.

    Matches the official ``sample_with_top_k_top_p_`` (ties at the k-th value survive; the largest logit
    always survives top-p) but returns a new tensor instead of writing in place.
    """
    if top_k < 0 or not 0.0 <= top_p <= 1.0:
        raise ValueError(f"top_k must be >= 0 and top_p in [0, 1], got top_k={top_k}, top_p={top_p}")
    V = logits.shape[-1]
    if 0 < top_k < V:
        kth = logits.topk(top_k, dim=-1, largest=True, sorted=False)[0].amin(dim=-1, keepdim=True)
        logits = logits.masked_fill(logits < kth, -torch.inf)
    if top_p > 0:
        sorted_logits, sorted_idx = logits.sort(dim=-1, descending=False)
        remove_sorted = sorted_logits.softmax(dim=-1).cumsum(dim=-1) <= (1 - top_p)
        remove_sorted[..., -1:] = False
        logits = logits.masked_fill(remove_sorted.scatter(-1, sorted_idx, remove_sorted), -torch.inf)
    return logits


class KVCache:
    """Keys and values of the scales seen so far, for one attention layer: [B, H, l_so_far, c]."""

    def __init__(self):
        self.k: torch.Tensor | None = None
        self.v: torch.Tensor | None = None

    def extend(self, k: torch.Tensor, v: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        if self.k is not None:
            k, v = torch.cat((self.k, k), dim=2), torch.cat((self.v, v), dim=2)
        self.k, self.v = k, v
        return k, v


class ScaleSampler:
    """Samples one scale per ``step()``; owns the KV caches and the running f_hat of one batch.

    Example:
        >>> sampler = var.make_sampler(labels, cfg=1.5, top_k=900, top_p=0.96)
        >>> while not sampler.done:
        ...     tokens_k, log_probs_k = sampler.step()  # [B, pn_k^2] each
    """

    def __init__(self, var: VAR, labels: torch.Tensor, cfg: float = 0.0, top_k: int = 0, top_p: float = 0.0,
                 temperature: float = 1.0, more_smooth: bool = False, generator: torch.Generator | None = None,
                 precision: str = "float32", draw: str = "multinomial"):

        if temperature <= 0:
            raise ValueError(f"temperature must be > 0, got {temperature}")
        if top_k < 0 or not 0.0 <= top_p <= 1.0:
            raise ValueError(f"top_k must be >= 0 and top_p in [0, 1], got top_k={top_k}, top_p={top_p}")
        if draw not in DRAWS:
            raise ValueError(f"draw must be one of {DRAWS}, got {draw!r}")
        self.var, self.quant = var, var.vqvae.quantize
        self.labels = var.check_labels(labels, allow_null=True)  # num_classes = the null class
        self.B = B = self.labels.shape[0]
        self.cfg, self.top_k, self.top_p, self.temperature = cfg, top_k, top_p, temperature
        self.more_smooth, self.generator = more_smooth, generator
        if more_smooth and not (generator is None or isinstance(generator, torch.Generator)):
            raise ValueError("more_smooth draws Gumbel noise for the whole batch: pass one torch.Generator")
        self.precision = precision  # "bfloat16": every step runs the transformer under autocast
        self.draw = draw  # "multinomial" (the official RNG stream) or "inverse-cdf" (see `draw`)
        self.guided = cfg != 0
        self.t = [cfg * k / max(len(var.patch_nums) - 1, 1) for k in range(len(var.patch_nums))]  # python floats
        rows = torch.cat((self.labels, torch.full_like(self.labels, var.num_classes))) if self.guided else self.labels
        self.scale, self.cur_L = 0, 0
        self.caches = [KVCache() for _ in var.blocks]
        with torch.no_grad(), autocast(precision, var.pos_1LC.device):
            self.cond_BD = var.class_emb(rows)  # [B or 2B, C]
            self.cond = var.shared_ada_lin(self.cond_BD)
            self.lvl_pos = var.lvl_pos()  # [1, L, C]
            self.next_input = var.start_tokens(self.cond_BD) + self.lvl_pos[:, :var.first_l]
            side = var.patch_nums[-1]
            self.f_hat = self.cond_BD.new_zeros(B, var.Cvae, side, side)

    @property
    def done(self) -> bool:
        return self.scale >= len(self.var.patch_nums)

    @property
    def num_scales(self) -> int:
        return len(self.var.patch_nums)

    @property
    def batch_size(self) -> int:
        return self.B

    @property
    def step_count(self) -> int:
        return self.scale

    def scale_logits(self) -> torch.Tensor:
        """Run the blocks on the current scale's input; return the filtered logits [B, pn^2, V]."""
        logits = self.var.cached_step(self.next_input, self.cond, self.cond_BD, self.caches)  # [B or 2B, l, V]
        if self.guided:
            t = self.t[self.scale]
            logits = (1 + t) * logits[: self.B] - t * logits[self.B:]
        if self.temperature != 1.0:
            logits = logits / self.temperature
        return filter_logits(logits, self.top_k, self.top_p)

    @torch.no_grad()
    def step(self, tokens: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """Sample (or, with ``tokens`` [B, pn^2], force) the current scale and advance.

        Returns the scale's tokens [B, pn^2] int64 and their float32 log-probs [B, pn^2] under the sampling
        distribution.
        """
        with autocast(self.precision, self.var.pos_1LC.device):
            tokens, log_probs = self._step(tokens)
        return tokens, log_probs.float()

    def _step(self, tokens: torch.Tensor | None) -> tuple[torch.Tensor, torch.Tensor]:
        if self.done:
            raise RuntimeError(f"all {self.num_scales} scales are sampled; make a new sampler for a new episode")
        var, si, B = self.var, self.scale, self.B
        pn = var.patch_nums[si]
        logits = self.scale_logits()  # [B, l, V]
        V = logits.shape[-1]
        if tokens is None:
            probs = logits.softmax(dim=-1).view(-1, V)
            tokens = draw(probs, self.generator, replacement=True, method=self.draw).view(B, pn * pn)
        else:
            tokens = torch.as_tensor(tokens, device=logits.device)
            if tuple(tokens.shape) != (B, pn * pn) or tokens.dtype not in (torch.int64, torch.int32):
                raise ValueError(f"tokens for scale {si} must be integers of shape ({B}, {pn * pn}), "
                                 f"got {tokens.dtype} {tuple(tokens.shape)}")
            if int(tokens.min()) < 0 or int(tokens.max()) >= V:
                raise ValueError(f"tokens for scale {si} must lie in [0, {V})")
            tokens = tokens.long()
        log_probs = logits.log_softmax(dim=-1).gather(-1, tokens.unsqueeze(-1)).squeeze(-1)  # [B, l]
        codebook = self.quant.embedding.weight  # [V, Cv]
        if self.more_smooth:  # official visualisation trick: Gumbel-softmax soft codes drive the next scale
            ratio = si / max(self.num_scales - 1, 1)
            tau = max(0.27 * (1 - ratio * 0.95), 0.005)
            gumbels = -torch.empty_like(logits).exponential_(generator=self.generator).log()
            h = ((logits * (1 + ratio) + gumbels) / tau).softmax(dim=-1) @ codebook.unsqueeze(0)  # [B, l, Cv]
        else:
            h = codebook[tokens]  # [B, l, Cv]
        h_BChw = h.transpose(1, 2).reshape(B, var.Cvae, pn, pn)
        self.f_hat, next_map = self.quant.advance(si, self.f_hat, h_BChw)
        self.cur_L += pn * pn
        self.scale += 1
        if not self.done:
            nxt = var.patch_nums[si + 1]
            x = var.word_embed(next_map.reshape(B, var.Cvae, -1).transpose(1, 2))
            x = x + self.lvl_pos[:, self.cur_L:self.cur_L + nxt * nxt]
            self.next_input = x.repeat(2, 1, 1) if self.guided else x
        return tokens, log_probs

    def images(self) -> torch.Tensor:
        """Decode the finished f_hat to images [B, 3, H, W] in [0, 1]."""
        if not self.done:
            raise RuntimeError(f"only {self.scale} of {self.num_scales} scales are sampled")
        with torch.no_grad():
            return self.var.vqvae.fhat_to_img(self.f_hat)
