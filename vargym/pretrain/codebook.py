"""Online k-means (EMA) updates of the multi-scale codebook, for training a VQ-VAE from scratch.

Why not gradient descent on the codebook (the codebook term of the VQ loss)? With AdamW each code moves
about ``lr`` per step, far slower than the encoder's latents change early in training, so codes lag the
latents, each scale explains only half of its residual, and what is quantised away first are the
low-variance directions of the latent: on the procedural images those carry the colour, and the model
learnt grey images. Setting each code to the running mean of the residual vectors assigned to it (the
EMA codebook of VQ-VAE-2) keeps the quantisation error at a few percent from the first steps, and codes
that fall out of use are re-seeded from current residual vectors.

The official VQ-VAE state dict is unchanged: only ``quantize.embedding.weight`` is written.
"""

from __future__ import annotations

import torch

from vargym.models.var.quantizer import MultiScaleQuantizer

__all__ = ["EmaCodebook"]


class EmaCodebook:
    """Codes = decayed mean of the residual vectors assigned to them; unused codes are re-seeded.

    Example:
        >>> codebook = EmaCodebook(vqvae.quantize, decay=0.9)
        >>> out = vqvae(images)
        >>> codebook.update(out.residuals, out.tokens, generator)   # after the optimiser step
    """

    def __init__(self, quantizer: MultiScaleQuantizer, decay: float = 0.9, dead_below: float = 0.01):
        if not 0.0 <= decay < 1.0:
            raise ValueError(f"decay must be in [0, 1), got {decay}")
        self.quantizer, self.decay, self.dead_below = quantizer, decay, dead_below
        V, C = quantizer.embedding.weight.shape
        device = quantizer.embedding.weight.device
        self.counts = torch.zeros(V, device=device)  # decayed number of vectors assigned to each code
        self.sums = torch.zeros(V, C, device=device)  # decayed sum of those vectors
        quantizer.embedding.weight.requires_grad_(False)  # written here, not by the optimiser

    @torch.no_grad()
    def update(
        self, residuals: list[torch.Tensor], tokens: list[torch.Tensor], generator: torch.Generator
    ) -> int:
        """One EMA step from the quantiser's per-scale residuals ``[B, Cv, pn, pn]`` and their tokens
        ``[B, pn * pn]`` (``MultiScaleQuantizer.quantize``); returns how many dead codes were re-seeded."""
        z = torch.cat([r.detach().float().permute(0, 2, 3, 1).reshape(-1, r.shape[1]) for r in residuals])  # [N, Cv]
        idx = torch.cat([t.reshape(-1) for t in tokens])  # [N], row-major like the residual maps
        weight = self.quantizer.embedding.weight
        V = weight.shape[0]
        self.counts.mul_(self.decay).add_(torch.bincount(idx, minlength=V).to(self.counts), alpha=1 - self.decay)
        self.sums.mul_(self.decay).add_(torch.zeros_like(self.sums).index_add_(0, idx, z), alpha=1 - self.decay)
        live = self.counts > 1e-6
        weight[live] = (self.sums[live] / self.counts[live, None]).to(weight.dtype)
        dead = (self.counts < self.dead_below).nonzero().squeeze(1)  # [D]
        if dead.numel():
            pick = torch.randint(0, z.shape[0], (dead.numel(),), generator=generator).to(z.device)
            weight[dead] = z[pick].to(weight.dtype)
            self.sums[dead] = z[pick]
            self.counts[dead] = 1.0
        return int(dead.numel())

    def state(self) -> dict[str, torch.Tensor]:
        return {"ema_counts": self.counts.cpu(), "ema_sums": self.sums.cpu()}

    def load_state(self, state: dict[str, torch.Tensor]) -> None:
        self.counts.copy_(state["ema_counts"])
        self.sums.copy_(state["ema_sums"])
