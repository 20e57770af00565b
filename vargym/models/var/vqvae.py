"""The multi-scale VQ-VAE of VAR: encoder, multi-scale residual quantizer, decoder.

Public images are float in [0, 1]; the official code works in [-1, 1] internally, so this module converts
at its boundary (``img_to_tokens``, ``tokens_to_img``, ``forward``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import NamedTuple

import torch
from torch import nn

from vargym.models.vae_blocks import Decoder, Encoder
from vargym.models.var.quantizer import MultiScaleQuantizer


@dataclass(frozen=True)
class VQVAEConfig:
    """Constructor arguments of the official ``VQVAE`` (same names), plus the two it hard-codes."""

    vocab_size: int = 4096
    """Codebook size V."""
    z_channels: int = 32
    """Latent channels Cv (official ``Cvae``)."""
    ch: int = 160
    """Base channel count of encoder and decoder."""
    dropout: float = 0.0
    """Dropout inside the ResNet blocks."""
    beta: float = 0.25
    """Commitment loss weight (training only)."""
    using_znorm: bool = False
    """Nearest code by cosine similarity instead of Euclidean distance."""
    quant_conv_ks: int = 3
    """Kernel size of ``quant_conv`` and ``post_quant_conv``."""
    quant_resi: float = 0.5
    """Phi mixing ratio r in ``(1 - r) * h + r * conv(h)``."""
    share_quant_resi: int = 4
    """0: one Phi per scale; 1: one shared Phi; K > 1: K Phis shared by nearest tick."""
    default_qresi_counts: int = 0
    """Number of Phis when share_quant_resi=0 (0: one per scale)."""
    v_patch_nums: tuple[int, ...] = (1, 2, 3, 4, 5, 6, 8, 10, 13, 16)
    """Side pn_k of each scale's token map; the last one is the latent side."""
    test_mode: bool = True
    """Freeze the model (eval mode, no gradients), as the official inference setup."""
    ch_mult: tuple[int, ...] = (1, 1, 2, 2, 4)
    """Channel multiplier per resolution level (official: hard-coded (1, 1, 2, 2, 4))."""
    num_res_blocks: int = 2
    """ResNet blocks per encoder level (the decoder has one more; official: hard-coded 2)."""
    using_sa: bool = field(default=True)
    """Self-attention at the lowest resolution."""
    using_mid_sa: bool = field(default=True)
    """Self-attention in the middle block."""
    norm_groups: int = 32
    """Groups of every GroupNorm (official: hard-coded 32). Keep several channels per group: with one
    channel per group the norm removes each channel's per-image mean and the model loses absolute colour."""

    def __post_init__(self):
        object.__setattr__(self, "v_patch_nums", tuple(int(p) for p in self.v_patch_nums))
        object.__setattr__(self, "ch_mult", tuple(int(m) for m in self.ch_mult))
        if self.vocab_size < 2:
            raise ValueError(f"vocab_size must be >= 2, got {self.vocab_size}")
        if any(p < 1 for p in self.v_patch_nums) or list(self.v_patch_nums) != sorted(self.v_patch_nums):
            raise ValueError(f"v_patch_nums must be positive and increasing, got {self.v_patch_nums}")
        if self.norm_groups < 1:
            raise ValueError(f"norm_groups must be >= 1, got {self.norm_groups}")
        for mult in self.ch_mult:
            if (self.ch * mult) % self.norm_groups:
                raise ValueError(f"ch * ch_mult must be multiples of norm_groups={self.norm_groups}; "
                                 f"got ch={self.ch}, ch_mult={self.ch_mult}")
        if self.share_quant_resi < 0:
            raise ValueError(f"share_quant_resi must be >= 0, got {self.share_quant_resi}")

    @property
    def downsample(self) -> int:
        """Pixels per latent cell."""
        return 2 ** (len(self.ch_mult) - 1)

    @property
    def image_size(self) -> int:
        return self.v_patch_nums[-1] * self.downsample


class VQVAEOutput(NamedTuple):
    recon: torch.Tensor  # [B, 3, H, W] in [0, 1] (unclamped during training)
    vq_loss: torch.Tensor  # scalar
    tokens: list[torch.Tensor]  # per scale [B, pn_k^2]
    latent: torch.Tensor  # f [B, Cv, h, w], the encoder's latent before quantisation
    residuals: list[torch.Tensor]  # per scale [B, Cv, pn_k, pn_k], what each scale's tokens were chosen for


class VQVAE(nn.Module):
    """Multi-scale VQ-VAE.

    Example:
        >>> vqvae = VQVAE(VQVAEConfig(vocab_size=64, z_channels=8, ch=32, v_patch_nums=(1, 2, 3)))
        >>> tokens = vqvae.img_to_tokens(torch.rand(2, 3, 48, 48))  # [2, 1], [2, 4], [2, 9]
        >>> vqvae.tokens_to_img(tokens).shape
        torch.Size([2, 3, 48, 48])
    """

    def __init__(self, cfg: VQVAEConfig):
        super().__init__()
        self.cfg = cfg
        self.Cvae, self.vocab_size = cfg.z_channels, cfg.vocab_size
        self.v_patch_nums = cfg.v_patch_nums
        dd = dict(ch=cfg.ch, ch_mult=cfg.ch_mult, num_res_blocks=cfg.num_res_blocks, z_channels=cfg.z_channels,
                  dropout=cfg.dropout, using_sa=cfg.using_sa, using_mid_sa=cfg.using_mid_sa, norm_groups=cfg.norm_groups)
        self.encoder = Encoder(**dd)
        self.decoder = Decoder(**dd)
        self.quantize = MultiScaleQuantizer(
            cfg.vocab_size, cfg.z_channels, cfg.using_znorm, cfg.beta, cfg.default_qresi_counts,
            cfg.v_patch_nums, cfg.quant_resi, cfg.share_quant_resi,
        )
        pad = cfg.quant_conv_ks // 2
        self.quant_conv = nn.Conv2d(cfg.z_channels, cfg.z_channels, cfg.quant_conv_ks, 1, pad)
        self.post_quant_conv = nn.Conv2d(cfg.z_channels, cfg.z_channels, cfg.quant_conv_ks, 1, pad)
        # channels_last lets oneDNN/cuDNN pick faster convolution kernels (1.4x for the 256 px decode on CPU);
        # the values, and so the state dict, are unchanged.
        self.encoder.to(memory_format=torch.channels_last)
        self.decoder.to(memory_format=torch.channels_last)
        if cfg.test_mode:
            self.eval()
            self.requires_grad_(False)

    @property
    def image_size(self) -> int:
        return self.cfg.image_size

    def _check_images(self, img: torch.Tensor) -> None:
        if img.ndim != 4 or img.shape[1] != 3:
            raise ValueError(f"images must be [B, 3, H, W], got shape {tuple(img.shape)}")
        side = self.image_size
        if img.shape[-2:] != (side, side):
            raise ValueError(f"images must be {side}x{side} for this VQ-VAE, got {tuple(img.shape[-2:])}")

    def check_tokens(self, tokens: list[torch.Tensor]) -> None:
        """Raise ValueError unless ``tokens`` is one [B, pn_k^2] int map per scale with ids in [0, V)."""
        if len(tokens) != len(self.v_patch_nums):
            raise ValueError(f"tokens must hold {len(self.v_patch_nums)} scales, got {len(tokens)}")
        B = tokens[0].shape[0]
        for k, (t, pn) in enumerate(zip(tokens, self.v_patch_nums)):
            if t.dtype not in (torch.int64, torch.int32) or tuple(t.shape) != (B, pn * pn):
                raise ValueError(f"tokens[{k}] must be an integer tensor of shape ({B}, {pn * pn}), got {t.dtype} {tuple(t.shape)}")
            if t.numel() and not t.is_meta and (int(t.min()) < 0 or int(t.max()) >= self.vocab_size):
                raise ValueError(f"tokens[{k}] holds ids outside [0, {self.vocab_size})")

    def encode_latent(self, img01: torch.Tensor) -> torch.Tensor:
        """Image [B, 3, H, W] in [0, 1] -> continuous latent f [B, Cv, h, w] (before quantisation)."""
        self._check_images(img01)
        x = (img01 * 2 - 1).contiguous(memory_format=torch.channels_last)
        return self.quant_conv(self.encoder(x).contiguous())

    @torch.no_grad()
    def img_to_tokens(self, img: torch.Tensor) -> list[torch.Tensor]:
        """Image [B, 3, H, W] in [0, 1] -> token maps, one [B, pn_k^2] int64 tensor per scale."""
        return self.quantize.quantize(self.encode_latent(img)).tokens

    def fhat_to_img(self, f_hat: torch.Tensor, clamp: bool = True) -> torch.Tensor:
        """f_hat [B, Cv, h, w] -> image [B, 3, H, W] in [0, 1] (``clamp=False``: unclamped, for training losses)."""
        out = self._decode(f_hat)
        return (out.clamp(-1, 1) if clamp else out).add(1).mul(0.5)

    def _decode(self, f_hat: torch.Tensor) -> torch.Tensor:
        z = self.post_quant_conv(f_hat).contiguous(memory_format=torch.channels_last)
        return self.decoder(z).contiguous()  # [B, 3, H, W], about [-1, 1]

    @torch.no_grad()
    def tokens_to_img(self, tokens: list[torch.Tensor]) -> torch.Tensor:
        """Token maps (one [B, pn_k^2] per scale) -> image [B, 3, H, W] in [0, 1]."""
        self.check_tokens(tokens)
        return self.fhat_to_img(self.quantize.tokens_to_fhat(tokens))

    def forward(self, img: torch.Tensor, bypass_quantizer: bool = False) -> VQVAEOutput:
        """Training forward: reconstruction through the straight-through estimator and the VQ loss.

        ``bypass_quantizer=True`` decodes the continuous latent instead (a plain autoencoder step, used to
        warm up encoder and decoder before the codebook exists); tokens and VQ loss are still returned.
        """
        f = self.encode_latent(img)
        tokens, f_hat, vq_loss, residuals = self.quantize.quantize(f)
        if bypass_quantizer:
            f_hat = f
        else:
            f_hat = (f_hat.detach() - f.detach()) + f  # straight-through: gradient of f_hat w.r.t. f is 1
        recon = self.fhat_to_img(f_hat, clamp=False)
        return VQVAEOutput(recon, vq_loss, tokens, f, residuals)
