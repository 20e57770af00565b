"""Multi-scale residual vector quantizer with the shared Phi convolutions (VAR paper, Algorithms 1-2).

A latent ``f`` [B, Cv, H, W] is explained coarse to fine: at scale k the residual is area-downsampled to
pn_k x pn_k, each vector is replaced by its nearest code, the code map is bicubic-upsampled back to H x W,
refined by a Phi convolution and subtracted from the residual. ``f_hat`` is the running sum.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn


class Phi(nn.Conv2d):
    """Residual 3x3 refinement ``(1 - r) * h + r * conv(h)`` applied after upsampling."""

    def __init__(self, channels: int, quant_resi: float):
        super().__init__(channels, channels, kernel_size=3, stride=1, padding=1)
        self.resi_ratio = abs(quant_resi)

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        return h.mul(1 - self.resi_ratio) + super().forward(h).mul_(self.resi_ratio)


def _phi_ticks(count: int) -> np.ndarray:
    # float64 numpy on purpose: scales that tie exactly between two ticks resolve the way the official
    # code does only with this arithmetic (e.g. 10 scales -> [0,0,1,1,1,2,2,3,3,3], ties go upward).
    if count == 4:
        return np.linspace(1 / 3 / count, 1 - 1 / 3 / count, count)
    return np.linspace(1 / 2 / count, 1 - 1 / 2 / count, count)


def phi_index(scale: int, num_scales: int, count: int) -> int:
    """Which of ``count`` Phi convolutions scale ``scale`` (0-based, of ``num_scales``) uses."""
    at = scale / (num_scales - 1) if num_scales > 1 else 0.0
    return int(np.argmin(np.abs(_phi_ticks(count) - at)).item())


class PhiShared(nn.Module):
    """One Phi for every scale (share_quant_resi=1); key ``quant_resi.qresi``."""

    def __init__(self, qresi: nn.Module):
        super().__init__()
        self.qresi = qresi

    def select(self, scale: int, num_scales: int) -> nn.Module:
        return self.qresi


class PhiPartiallyShared(nn.Module):
    """K Phis shared among the scales by nearest tick (share_quant_resi=K>1); keys ``quant_resi.qresi_ls.{i}``."""

    def __init__(self, qresi_ls: nn.ModuleList):
        super().__init__()
        self.qresi_ls = qresi_ls

    def select(self, scale: int, num_scales: int) -> nn.Module:
        return self.qresi_ls[phi_index(scale, num_scales, len(self.qresi_ls))]


class PhiNonShared(nn.ModuleList):
    """One Phi per tick, selected like the partially shared ones (share_quant_resi=0); keys ``quant_resi.{i}``."""

    def select(self, scale: int, num_scales: int) -> nn.Module:
        return self[phi_index(scale, num_scales, len(self))]


class Quantized(NamedTuple):
    tokens: list[torch.Tensor]  # per scale [B, pn_k^2] int64
    f_hat: torch.Tensor  # [B, Cv, H, W], no gradient to the encoder
    vq_loss: torch.Tensor  # scalar
    residuals: list[torch.Tensor]  # per scale [B, Cv, pn_k, pn_k]: what that scale's tokens were chosen for


class MultiScaleQuantizer(nn.Module):
    """The official ``VectorQuantizer2`` (attribute names kept for state-dict keys)."""

    def __init__(
        self,
        vocab_size: int,
        Cvae: int,
        using_znorm: bool,
        beta: float,
        default_qresi_counts: int,
        v_patch_nums: tuple[int, ...],
        quant_resi: float,
        share_quant_resi: int,
    ):
        super().__init__()
        self.vocab_size, self.Cvae = vocab_size, Cvae
        self.using_znorm, self.beta = using_znorm, beta
        self.v_patch_nums = tuple(v_patch_nums)

        def make_phi() -> nn.Module:
            return Phi(Cvae, quant_resi) if abs(quant_resi) > 1e-6 else nn.Identity()

        if share_quant_resi == 0:
            self.quant_resi = PhiNonShared([make_phi() for _ in range(default_qresi_counts or len(v_patch_nums))])
        elif share_quant_resi == 1:
            self.quant_resi = PhiShared(make_phi())
        else:
            self.quant_resi = PhiPartiallyShared(nn.ModuleList([make_phi() for _ in range(share_quant_resi)]))
        # Training statistics of the official VAE; kept so official checkpoints load strictly.
        self.register_buffer("ema_vocab_hit_SV", torch.zeros(len(v_patch_nums), vocab_size))
        self.embedding = nn.Embedding(vocab_size, Cvae)
        nn.init.uniform_(self.embedding.weight, -1 / vocab_size, 1 / vocab_size)

    @property
    def num_scales(self) -> int:
        return len(self.v_patch_nums)

    def phi(self, scale: int) -> nn.Module:
        return self.quant_resi.select(scale, self.num_scales)

    def nearest_code(self, z_NC: torch.Tensor) -> torch.Tensor:
        """Index of the nearest codebook row for each row of ``z_NC`` [N, Cv] -> [N]."""
        codebook = self.embedding.weight.detach()  # [V, Cv]
        if self.using_znorm:
            return torch.argmax(F.normalize(z_NC, dim=-1) @ F.normalize(codebook.T, dim=0), dim=1)
        # |z|^2 + |e|^2 - 2 z.e in float32 with addmm, as the official code: other formulas flip near ties.
        d = torch.sum(z_NC.square(), dim=1, keepdim=True) + torch.sum(codebook.square(), dim=1, keepdim=False)
        d.addmm_(z_NC, codebook.T, alpha=-2, beta=1)
        return torch.argmin(d, dim=1)

    def upsampled_residual(self, scale: int, h_BChw: torch.Tensor) -> torch.Tensor:
        """Phi(upsample(h)) at full latent size; no resampling at the last scale."""
        if scale != self.num_scales - 1:
            side = self.v_patch_nums[-1]
            h_BChw = F.interpolate(h_BChw, size=(side, side), mode="bicubic")
        return self.phi(scale)(h_BChw)

    def embed_tokens(self, idx_Bl: torch.Tensor) -> torch.Tensor:
        """Token map [B, pn*pn] -> code map [B, Cv, pn, pn]."""
        B, l = idx_Bl.shape
        pn = round(l**0.5)
        return self.embedding(idx_Bl).transpose(1, 2).reshape(B, self.Cvae, pn, pn)

    def quantize(self, f_BChw: torch.Tensor) -> Quantized:
        """Encode a latent into token maps.

        Returns:
            ``Quantized(tokens, f_hat, vq_loss, residuals)``: the VQ loss is commitment
            ``beta * |sg(f_hat) - f|^2`` + codebook ``|f_hat - sg(f)|^2``, averaged over scales; ``residuals``
            are the (detached) vectors each scale quantised, for codebook updates during training.
        """
        B, C, H, W = f_BChw.shape
        f_no_grad = f_BChw.detach()
        f_rest = f_no_grad.clone()
        f_hat = torch.zeros_like(f_rest)
        vq_loss = f_BChw.new_zeros(())
        tokens, residuals = [], []
        for si, pn in enumerate(self.v_patch_nums):
            if si != self.num_scales - 1:
                z = F.interpolate(f_rest, size=(pn, pn), mode="area")
            else:
                z = f_rest
            idx_N = self.nearest_code(z.permute(0, 2, 3, 1).reshape(-1, C))
            code = self.embedding(idx_N.view(B, pn, pn)).permute(0, 3, 1, 2)  # [B, Cv, pn, pn]
            h = self.upsampled_residual(si, code.contiguous())
            f_hat = f_hat + h
            f_rest = f_rest - h.detach()
            if self.training or f_BChw.requires_grad:
                vq_loss = vq_loss + F.mse_loss(f_hat.detach(), f_BChw).mul(self.beta) + F.mse_loss(f_hat, f_no_grad)
            tokens.append(idx_N.reshape(B, pn * pn))
            residuals.append(z)
        return Quantized(tokens, f_hat, vq_loss / self.num_scales, residuals)

    def tokens_to_fhat(self, tokens: list[torch.Tensor]) -> torch.Tensor:
        """Token maps of all scales -> f_hat [B, Cv, H, W]."""
        side = self.v_patch_nums[-1]
        B = tokens[0].shape[0]
        f_hat = self.embedding.weight.new_zeros(B, self.Cvae, side, side)
        for si, idx_Bl in enumerate(tokens):
            f_hat = f_hat + self.upsampled_residual(si, self.embed_tokens(idx_Bl))
        return f_hat

    def next_scale_inputs(self, tokens: list[torch.Tensor]) -> torch.Tensor:
        """Teacher-forcing input of the transformer: [B, L - pn_0^2, Cv].

        Rows of scale k >= 1 hold f_hat after scales 0..k-1, area-downsampled to pn_k x pn_k.
        The last scale's tokens never enter.
        """
        side = self.v_patch_nums[-1]
        B = tokens[0].shape[0]
        f_hat = self.embedding.weight.new_zeros(B, self.Cvae, side, side)
        rows = []
        for si in range(self.num_scales - 1):
            f_hat = f_hat + self.upsampled_residual(si, self.embed_tokens(tokens[si]))
            pn = self.v_patch_nums[si + 1]
            rows.append(F.interpolate(f_hat, size=(pn, pn), mode="area").flatten(2).transpose(1, 2))
        return torch.cat(rows, dim=1)

    def advance(self, scale: int, f_hat: torch.Tensor, h_BChw: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """One sampling step: add scale ``scale``'s codes ``h`` [B, Cv, pn, pn] to f_hat.

        Returns the new f_hat and the next scale's input map [B, Cv, pn_next, pn_next] (f_hat at the end).
        """
        f_hat = f_hat + self.upsampled_residual(scale, h_BChw)
        if scale == self.num_scales - 1:
            return f_hat, f_hat
        pn = self.v_patch_nums[scale + 1]
        return f_hat, F.interpolate(f_hat, size=(pn, pn), mode="area")
