"""taming-transformers' VQGAN (``VQModel``): a convolutional encoder, a nearest-code quantizer and a decoder.

Attribute names are the official ones (``encoder.down.{i}.block.{j}``, ``quantize.embedding``,
``quant_conv``, ...) because they become state-dict keys. Images enter in [-1, 1]; the quantizer takes the
Euclidean nearest code of the raw latent (no normalisation), first index on ties, tokens in (row, column)
order. Where attention sits is set by the *nominal* ``resolution`` of the config, halved at each level, not by
the input size (the official rule). The public pair ``img_to_tokens`` / ``tokens_to_img`` speaks [0, 1]
images and raster-order token ids ``[B, h*w]``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from vargym.models.generator import check_ids
from vargym.models.vae_blocks import Downsample, Level, Mid, ResnetBlock, SeparateQKVAttnBlock, Upsample

__all__ = ["VQGAN", "VQGANConfig"]


@dataclass(frozen=True)
class VQGANConfig:
    """The official ``VQModel`` arguments: its ``ddconfig`` fields, ``n_embed`` and ``embed_dim``."""

    n_embed: int = 16384
    """Codebook size (the GPT's vocabulary)."""
    embed_dim: int = 256
    """Code width Cq."""
    z_channels: int = 256
    resolution: int = 256
    """Nominal input side: with ``attn_resolutions`` it places the attention blocks."""
    ch: int = 128
    ch_mult: tuple[int, ...] = (1, 1, 2, 2, 4)
    num_res_blocks: int = 2
    attn_resolutions: tuple[int, ...] = (16,)
    dropout: float = 0.0
    in_channels: int = 3
    out_ch: int = 3
    double_z: bool = False
    """Only the encoder's output width reads it (2 * z_channels); the official ImageNet models leave it off."""
    norm_groups: int = 32
    """GroupNorm groups (32 in every official model; tiny test models use fewer)."""

    def __post_init__(self) -> None:
        object.__setattr__(self, "ch_mult", tuple(int(m) for m in self.ch_mult))
        object.__setattr__(self, "attn_resolutions", tuple(int(r) for r in self.attn_resolutions))
        for name in ("n_embed", "embed_dim", "z_channels", "resolution", "ch", "num_res_blocks", "norm_groups",
                     "in_channels", "out_ch"):
            if int(getattr(self, name)) < 1:
                raise ValueError(f"VQGANConfig.{name} must be >= 1, got {getattr(self, name)!r}")
        if not self.ch_mult or min(self.ch_mult) < 1:
            raise ValueError(f"VQGANConfig.ch_mult must be a non-empty tuple of ints >= 1, got {self.ch_mult!r}")
        widths = {self.ch * m for m in self.ch_mult} | {self.ch}
        if any(w % self.norm_groups for w in widths):
            raise ValueError(f"every width {sorted(widths)} must be divisible by norm_groups={self.norm_groups}")
        if self.resolution % self.downsample:
            raise ValueError(f"resolution={self.resolution} must be divisible by the downsample factor "
                             f"{self.downsample} (ch_mult={self.ch_mult})")
        if self.double_z:
            raise ValueError("double_z=True makes a KL autoencoder's encoder, not a VQGAN's")

    @property
    def downsample(self) -> int:
        """Pixels per token side: 2^(levels - 1)."""
        return 2 ** (len(self.ch_mult) - 1)

    @property
    def grid(self) -> int:
        """Tokens per side at the nominal resolution."""
        return self.resolution // self.downsample


class Encoder(nn.Module):
    """[B, 3, H, W] in [-1, 1] -> [B, z_channels, H/f, W/f]."""

    def __init__(self, cfg: VQGANConfig):
        super().__init__()
        n, in_mult, groups = len(cfg.ch_mult), (1, *cfg.ch_mult), cfg.norm_groups
        self.conv_in = nn.Conv2d(cfg.in_channels, cfg.ch, 3, 1, 1)
        self.down = nn.ModuleList()
        resolution = cfg.resolution
        for i in range(n):
            level = Level()
            block_in, block_out = cfg.ch * in_mult[i], cfg.ch * cfg.ch_mult[i]
            for _ in range(cfg.num_res_blocks):
                level.block.append(ResnetBlock(block_in, block_out, cfg.dropout, groups))
                block_in = block_out
                if resolution in cfg.attn_resolutions:
                    level.attn.append(SeparateQKVAttnBlock(block_in, groups))
            if i != n - 1:
                level.downsample = Downsample(block_in)
                resolution //= 2
            self.down.append(level)
        self.mid = Mid(block_in, cfg.dropout, True, groups, SeparateQKVAttnBlock)
        self.norm_out = nn.GroupNorm(groups, block_in, eps=1e-6)
        self.conv_out = nn.Conv2d(block_in, cfg.z_channels, 3, 1, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.conv_in(x)
        for level in self.down:
            h = level.run_blocks(h)
            if hasattr(level, "downsample"):
                h = level.downsample(h)
        return self.conv_out(F.silu(self.norm_out(self.mid(h))))


class Decoder(nn.Module):
    """[B, z_channels, h, w] -> [B, 3, h*f, w*f], unclamped; ``up.0`` is the full resolution and runs last."""

    def __init__(self, cfg: VQGANConfig):
        super().__init__()
        n, groups = len(cfg.ch_mult), cfg.norm_groups
        block_in = cfg.ch * cfg.ch_mult[-1]
        resolution = cfg.resolution // cfg.downsample
        self.conv_in = nn.Conv2d(cfg.z_channels, block_in, 3, 1, 1)
        self.mid = Mid(block_in, cfg.dropout, True, groups, SeparateQKVAttnBlock)
        levels = []
        for i in reversed(range(n)):
            level = Level()
            block_out = cfg.ch * cfg.ch_mult[i]
            for _ in range(cfg.num_res_blocks + 1):
                level.block.append(ResnetBlock(block_in, block_out, cfg.dropout, groups))
                block_in = block_out
                if resolution in cfg.attn_resolutions:
                    level.attn.append(SeparateQKVAttnBlock(block_in, groups))
            if i != 0:
                level.upsample = Upsample(block_in)
                resolution *= 2
            levels.insert(0, level)
        self.up = nn.ModuleList(levels)
        self.norm_out = nn.GroupNorm(groups, block_in, eps=1e-6)
        self.conv_out = nn.Conv2d(block_in, cfg.out_ch, 3, 1, 1)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        h = self.mid(self.conv_in(z))
        for level in reversed(self.up):
            h = level.run_blocks(h)
            if hasattr(level, "upsample"):
                h = level.upsample(h)
        return self.conv_out(F.silu(self.norm_out(h)))


class VectorQuantizer(nn.Module):
    """``VectorQuantizer2(legacy=True)``: the nearest code by squared distance ``|z|^2 + |e|^2 - 2 z.e``."""

    def __init__(self, n_embed: int, embed_dim: int, beta: float = 0.25):
        super().__init__()
        self.embedding = nn.Embedding(n_embed, embed_dim)
        nn.init.uniform_(self.embedding.weight, -1.0 / n_embed, 1.0 / n_embed)
        self.beta = beta

    def indices(self, z: torch.Tensor) -> torch.Tensor:
        """Latent [B, Cq, h, w] -> nearest code ids int64 [B, h*w] in (row, column) order."""
        B, C, h, w = z.shape
        flat = z.permute(0, 2, 3, 1).reshape(-1, C)  # [B*h*w, Cq]
        e = self.embedding.weight
        dist = flat.pow(2).sum(1, keepdim=True) + e.pow(2).sum(1) - 2 * flat @ e.t()  # [B*h*w, V]
        return dist.argmin(dim=1).view(B, h * w)

    def lookup(self, ids: torch.Tensor, grid: tuple[int, int]) -> torch.Tensor:
        """Code ids [B, h*w] -> code vectors [B, Cq, h, w]."""
        h, w = grid
        return self.embedding(ids).view(ids.shape[0], h, w, -1).permute(0, 3, 1, 2)

    def forward(self, z: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(straight-through codes [B, Cq, h, w], the legacy loss, ids [B, h*w]): the loss puts ``beta`` on the
        codebook term, as the official default does (its value is (1 + beta) * MSE either way)."""
        ids = self.indices(z)
        e = self.lookup(ids, z.shape[2:])
        loss = F.mse_loss(e.detach(), z) + self.beta * F.mse_loss(e, z.detach())
        return z + (e - z).detach(), loss, ids


class VQGAN(nn.Module):
    """The tokenizer: ``encoder``, ``quant_conv``, ``quantize``, ``post_quant_conv``, ``decoder``.

    Example:
        >>> vq = VQGAN(VQGANConfig(n_embed=64, embed_dim=8, z_channels=16, resolution=32, ch=16, ch_mult=(1, 2),
        ...                        num_res_blocks=1, attn_resolutions=(16,), norm_groups=8))
        >>> ids = vq.img_to_tokens(torch.rand(2, 3, 32, 32))     # [2, 256]
        >>> vq.tokens_to_img(ids).shape                          # [2, 3, 32, 32] in [0, 1]
    """

    def __init__(self, cfg: VQGANConfig):
        super().__init__()
        self.cfg = cfg
        self.encoder = Encoder(cfg)
        self.decoder = Decoder(cfg)
        self.quantize = VectorQuantizer(cfg.n_embed, cfg.embed_dim)
        self.quant_conv = nn.Conv2d(cfg.z_channels, cfg.embed_dim, 1)
        self.post_quant_conv = nn.Conv2d(cfg.embed_dim, cfg.z_channels, 1)

    @property
    def vocab_size(self) -> int:
        return self.cfg.n_embed

    def encode(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Image [B, 3, H, W] in [-1, 1] -> (straight-through codes [B, Cq, h, w], loss, ids [B, h*w])."""
        return self.quantize(self.quant_conv(self.encoder(x)))

    def decode(self, quant: torch.Tensor) -> torch.Tensor:
        """Codes [B, Cq, h, w] -> image [B, 3, H, W] about [-1, 1], unclamped."""
        return self.decoder(self.post_quant_conv(quant))

    def decode_code(self, ids: torch.Tensor) -> torch.Tensor:
        """Square raster ids [B, g*g] -> image [B, 3, H, W] about [-1, 1] (``Net2NetTransformer.decode_to_img``)."""
        g = math.isqrt(ids.shape[1])
        if ids.ndim != 2 or g * g != ids.shape[1]:
            raise ValueError(f"token ids must be [B, g*g] (a square grid), got {tuple(ids.shape)}")
        check_ids(ids, self.cfg.n_embed, "token ids", f"codebook size {self.cfg.n_embed}")
        return self.decode(self.quantize.lookup(ids.long(), (g, g)))

    @torch.no_grad()
    def img_to_tokens(self, images: torch.Tensor) -> torch.Tensor:
        """Images [B, 3, H, W] in [0, 1] -> ids [B, (H/f)*(W/f)]."""
        return self.encode(images * 2 - 1)[2]

    @torch.no_grad()
    def tokens_to_img(self, ids: torch.Tensor) -> torch.Tensor:
        """Ids [B, g*g] -> images [B, 3, H, W] in [0, 1]."""
        return self.decode_code(ids).add(1).mul(0.5).clamp(0, 1)
