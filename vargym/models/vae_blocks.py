"""Convolutional encoder and decoder of the multi-scale VQ-VAE (the official VAR layout), and the blocks the
other tokenizers (LlamaGen's VQ, taming-transformers' VQGAN) share with it.

Attribute names are the official ones (``conv_in``, ``down.{i}.block.{j}``, ``mid.attn_1``, ...) because
they become state-dict keys. Every norm is a GroupNorm with eps 1e-6 (32 groups officially; ``norm_groups``
lets narrow models keep several channels per group); every activation is SiLU.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


def _norm(channels: int, groups: int) -> nn.GroupNorm:
    return nn.GroupNorm(num_groups=groups, num_channels=channels, eps=1e-6, affine=True)


class ResnetBlock(nn.Module):
    def __init__(self, in_channels: int, out_channels: int, dropout: float = 0.0, norm_groups: int = 32):
        super().__init__()
        self.norm1 = _norm(in_channels, norm_groups)
        self.conv1 = nn.Conv2d(in_channels, out_channels, 3, 1, 1)
        self.norm2 = _norm(out_channels, norm_groups)
        self.dropout = nn.Dropout(dropout) if dropout > 1e-6 else nn.Identity()
        self.conv2 = nn.Conv2d(out_channels, out_channels, 3, 1, 1)
        self.nin_shortcut = nn.Conv2d(in_channels, out_channels, 1) if in_channels != out_channels else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.conv1(F.silu(self.norm1(x)))
        h = self.conv2(self.dropout(F.silu(self.norm2(h))))
        return self.nin_shortcut(x) + h


class AttnBlock(nn.Module):
    """Single-head self-attention over the H*W positions, one fused 1x1 ``qkv`` conv."""

    def __init__(self, channels: int, norm_groups: int = 32):
        super().__init__()
        self.norm = _norm(channels, norm_groups)
        self.qkv = nn.Conv2d(channels, 3 * channels, 1)
        self.proj_out = nn.Conv2d(channels, channels, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        B, C, H, W = x.shape
        q, k, v = self.qkv(self.norm(x)).reshape(B, 3, C, H * W).unbind(1)  # each [B, C, HW]
        w = torch.bmm(q.transpose(1, 2), k).mul_(C**-0.5).softmax(dim=2)  # [B, HW(query), HW(key)]
        h = torch.bmm(v, w.transpose(1, 2))  # [B, C, HW]
        return x + self.proj_out(h.view(B, C, H, W))


class SeparateQKVAttnBlock(nn.Module):
    """Single-head self-attention over the H*W positions with separate 1x1 ``q``/``k``/``v`` convs (the
    taming-transformers block, which LlamaGen's tokenizer keeps): scale ``C^-0.5`` over all channels."""

    def __init__(self, channels: int, norm_groups: int = 32):
        super().__init__()
        self.norm = _norm(channels, norm_groups)
        self.q, self.k, self.v = (nn.Conv2d(channels, channels, 1) for _ in range(3))
        self.proj_out = nn.Conv2d(channels, channels, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        B, C, H, W = x.shape
        h = self.norm(x)
        q = self.q(h).reshape(B, C, H * W).transpose(1, 2)  # [B, HW, C]
        k = self.k(h).reshape(B, C, H * W)  # [B, C, HW]
        v = self.v(h).reshape(B, C, H * W)
        w = torch.bmm(q, k).mul_(C**-0.5).softmax(dim=2)  # [B, HW(query), HW(key)]
        return x + self.proj_out(torch.bmm(v, w.transpose(1, 2)).reshape(B, C, H, W))


class Downsample(nn.Module):
    def __init__(self, channels: int):
        super().__init__()
        self.conv = nn.Conv2d(channels, channels, 3, 2, 0)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(F.pad(x, (0, 1, 0, 1)))  # asymmetric: right and bottom only


class Upsample(nn.Module):
    def __init__(self, channels: int):
        super().__init__()
        self.conv = nn.Conv2d(channels, channels, 3, 1, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(F.interpolate(x, scale_factor=2, mode="nearest"))


class Level(nn.Module):
    """One resolution level: ``block`` list, ``attn`` list, optional ``downsample``/``upsample``."""

    def __init__(self):
        super().__init__()
        self.block = nn.ModuleList()
        self.attn = nn.ModuleList()

    def run_blocks(self, h: torch.Tensor) -> torch.Tensor:
        for i, block in enumerate(self.block):
            h = block(h)
            if len(self.attn) > 0:
                h = self.attn[i](h)
        return h


class Mid(nn.Module):
    def __init__(self, channels: int, dropout: float, using_mid_sa: bool, norm_groups: int,
                 attn_block: type[nn.Module] = AttnBlock):
        super().__init__()
        self.block_1 = ResnetBlock(channels, channels, dropout, norm_groups)
        self.attn_1 = attn_block(channels, norm_groups) if using_mid_sa else nn.Identity()
        self.block_2 = ResnetBlock(channels, channels, dropout, norm_groups)

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        return self.block_2(self.attn_1(self.block_1(h)))


class Encoder(nn.Module):
    """Image [B, 3, H, W] in [-1, 1] -> latent [B, z_channels, H/2^(n-1), W/2^(n-1)]."""

    def __init__(
        self,
        ch: int,
        ch_mult: tuple[int, ...],
        num_res_blocks: int,
        z_channels: int,
        dropout: float = 0.0,
        in_channels: int = 3,
        using_sa: bool = True,
        using_mid_sa: bool = True,
        norm_groups: int = 32,
    ):
        super().__init__()
        n = len(ch_mult)
        self.conv_in = nn.Conv2d(in_channels, ch, 3, 1, 1)
        in_ch_mult = (1, *ch_mult)
        self.down = nn.ModuleList()
        block_in = ch
        for i in range(n):
            level = Level()
            block_in, block_out = ch * in_ch_mult[i], ch * ch_mult[i]
            for _ in range(num_res_blocks):
                level.block.append(ResnetBlock(block_in, block_out, dropout, norm_groups))
                block_in = block_out
                if i == n - 1 and using_sa:
                    level.attn.append(AttnBlock(block_in, norm_groups))
            if i != n - 1:
                level.downsample = Downsample(block_in)
            self.down.append(level)
        self.mid = Mid(block_in, dropout, using_mid_sa, norm_groups)
        self.norm_out = _norm(block_in, norm_groups)
        self.conv_out = nn.Conv2d(block_in, z_channels, 3, 1, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.conv_in(x)
        for level in self.down:
            h = level.run_blocks(h)
            if hasattr(level, "downsample"):
                h = level.downsample(h)
        h = self.mid(h)
        return self.conv_out(F.silu(self.norm_out(h)))


class Decoder(nn.Module):
    """Latent [B, z_channels, h, w] -> image [B, 3, h*2^(n-1), w*2^(n-1)] (unclamped, about [-1, 1])."""

    def __init__(
        self,
        ch: int,
        ch_mult: tuple[int, ...],
        num_res_blocks: int,
        z_channels: int,
        dropout: float = 0.0,
        in_channels: int = 3,
        using_sa: bool = True,
        using_mid_sa: bool = True,
        norm_groups: int = 32,
    ):
        super().__init__()
        n = len(ch_mult)
        block_in = ch * ch_mult[-1]
        self.conv_in = nn.Conv2d(z_channels, block_in, 3, 1, 1)
        self.mid = Mid(block_in, dropout, using_mid_sa, norm_groups)
        levels = []
        for i in reversed(range(n)):
            level = Level()
            block_out = ch * ch_mult[i]
            for _ in range(num_res_blocks + 1):
                level.block.append(ResnetBlock(block_in, block_out, dropout, norm_groups))
                block_in = block_out
                if i == n - 1 and using_sa:
                    level.attn.append(AttnBlock(block_in, norm_groups))
            if i != 0:
                level.upsample = Upsample(block_in)
            levels.insert(0, level)
        self.up = nn.ModuleList(levels)  # up[0] is the highest resolution and runs last
        self.norm_out = _norm(block_in, norm_groups)
        self.conv_out = nn.Conv2d(block_in, in_channels, 3, 1, 1)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        h = self.mid(self.conv_in(z))
        for level in reversed(self.up):
            h = level.run_blocks(h)
            if hasattr(level, "upsample"):
                h = level.upsample(h)
        return self.conv_out(F.silu(self.norm_out(h)))
