"""LlamaGen's single-scale VQ tokenizer (``VQ-16``: 16384 codes of dim 8, downsample 16).

Attribute names are the official ones (``encoder.conv_blocks.{i}.res.{j}``, ``quantize.embedding``, ...)
because they become state-dict keys. Images enter in [-1, 1]; the codebook lookup L2-normalises both the
latent and the codebook, and decoding uses the normalised codebook rows. The public pair ``img_to_tokens``
/ ``tokens_to_img`` speaks [0, 1] images and raster-order token ids ``[B, g*g]``.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from vargym.models.generator import check_ids
from vargym.models.vae_blocks import Downsample, ResnetBlock, Upsample
from vargym.models.vae_blocks import SeparateQKVAttnBlock as AttnBlock

__all__ = ["LlamaGenVQ", "LlamaGenVQConfig"]


@dataclass(frozen=True)
class LlamaGenVQConfig:
    """The official ``ModelArgs`` of the tokenizer plus the Encoder/Decoder widths it does not pass on."""

    codebook_size: int = 16384
    codebook_embed_dim: int = 8
    codebook_l2_norm: bool = True
    codebook_show_usage: bool = True
    """Keeps the (inference-inert) ``quantize.codebook_used`` buffer, which official files carry."""
    commit_loss_beta: float = 0.25
    entropy_loss_ratio: float = 0.0
    encoder_ch_mult: tuple[int, ...] = (1, 1, 2, 2, 4)
    decoder_ch_mult: tuple[int, ...] = (1, 1, 2, 2, 4)
    z_channels: int = 256
    dropout_p: float = 0.0
    ch: int = 128
    """Base width (the official VQModel leaves its Encoder/Decoder at 128)."""
    num_res_blocks: int = 2
    """Resnet blocks per encoder level (the decoder has one more)."""
    norm_groups: int = 32

    def __post_init__(self) -> None:
        object.__setattr__(self, "encoder_ch_mult", tuple(int(m) for m in self.encoder_ch_mult))
        object.__setattr__(self, "decoder_ch_mult", tuple(int(m) for m in self.decoder_ch_mult))
        if len(self.encoder_ch_mult) != len(self.decoder_ch_mult):
            raise ValueError(f"encoder_ch_mult {self.encoder_ch_mult} and decoder_ch_mult {self.decoder_ch_mult} "
                             f"must have the same number of levels (the same downsample factor)")
        for name in ("codebook_size", "codebook_embed_dim", "z_channels", "ch", "num_res_blocks", "norm_groups"):
            if int(getattr(self, name)) < 1:
                raise ValueError(f"LlamaGenVQConfig.{name} must be >= 1, got {getattr(self, name)!r}")
        widths = {self.ch * m for m in (*self.encoder_ch_mult, *self.decoder_ch_mult)} | {self.ch}
        if any(w % self.norm_groups for w in widths):
            raise ValueError(f"every width {sorted(widths)} must be divisible by norm_groups={self.norm_groups}")

    @property
    def downsample(self) -> int:
        """Pixels per token side: 2^(levels - 1)."""
        return 2 ** (len(self.encoder_ch_mult) - 1)


class _Level(nn.Module):
    """One resolution: ``res`` blocks, each followed by an ``attn`` block where there are any."""

    def __init__(self, block_in: int, block_out: int, num_blocks: int, with_attn: bool, cfg: LlamaGenVQConfig):
        super().__init__()
        self.res = nn.ModuleList(ResnetBlock(block_in if i == 0 else block_out, block_out, cfg.dropout_p,
                                             cfg.norm_groups) for i in range(num_blocks))
        self.attn = nn.ModuleList(AttnBlock(block_out, cfg.norm_groups) for _ in range(num_blocks if with_attn else 0))

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        for i, block in enumerate(self.res):
            h = block(h)
            if len(self.attn):
                h = self.attn[i](h)
        return h


def _mid(channels: int, cfg: LlamaGenVQConfig) -> nn.ModuleList:
    return nn.ModuleList([ResnetBlock(channels, channels, cfg.dropout_p, cfg.norm_groups),
                          AttnBlock(channels, cfg.norm_groups),
                          ResnetBlock(channels, channels, cfg.dropout_p, cfg.norm_groups)])


class Encoder(nn.Module):
    """[B, 3, H, W] in [-1, 1] -> [B, z_channels, H/f, W/f]; attention only at the last (coarsest) level."""

    def __init__(self, cfg: LlamaGenVQConfig):
        super().__init__()
        mult, n = cfg.encoder_ch_mult, len(cfg.encoder_ch_mult)
        self.conv_in = nn.Conv2d(3, cfg.ch, 3, 1, 1)
        self.conv_blocks = nn.ModuleList()
        block_in = cfg.ch
        for i in range(n):
            level = _Level(block_in, cfg.ch * mult[i], cfg.num_res_blocks, i == n - 1, cfg)
            block_in = cfg.ch * mult[i]
            if i != n - 1:
                level.downsample = Downsample(block_in)
            self.conv_blocks.append(level)
        self.mid = _mid(block_in, cfg)
        self.norm_out = nn.GroupNorm(cfg.norm_groups, block_in, eps=1e-6)
        self.conv_out = nn.Conv2d(block_in, cfg.z_channels, 3, 1, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.conv_in(x)
        for level in self.conv_blocks:
            h = level(h)
            if hasattr(level, "downsample"):
                h = level.downsample(h)
        for block in self.mid:
            h = block(h)
        return self.conv_out(F.silu(self.norm_out(h)))


class Decoder(nn.Module):
    """[B, z_channels, g, g] -> [B, 3, g*f, g*f], unclamped; ``conv_blocks.0`` is the coarsest level."""

    def __init__(self, cfg: LlamaGenVQConfig):
        super().__init__()
        mult, n = cfg.decoder_ch_mult, len(cfg.decoder_ch_mult)
        block_in = cfg.ch * mult[-1]
        self.conv_in = nn.Conv2d(cfg.z_channels, block_in, 3, 1, 1)
        self.mid = _mid(block_in, cfg)
        self.conv_blocks = nn.ModuleList()
        for i in reversed(range(n)):
            level = _Level(block_in, cfg.ch * mult[i], cfg.num_res_blocks + 1, i == n - 1, cfg)
            block_in = cfg.ch * mult[i]
            if i != 0:
                level.upsample = Upsample(block_in)
            self.conv_blocks.append(level)
        self.norm_out = nn.GroupNorm(cfg.norm_groups, block_in, eps=1e-6)
        self.conv_out = nn.Conv2d(block_in, 3, 3, 1, 1)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        h = self.conv_in(z)
        for block in self.mid:
            h = block(h)
        for level in self.conv_blocks:
            h = level(h)
            if hasattr(level, "upsample"):
                h = level.upsample(h)
        return self.conv_out(F.silu(self.norm_out(h)))


class VectorQuantizer(nn.Module):
    """Nearest-code lookup; with ``l2_norm`` both the latents and the codebook are unit vectors."""

    def __init__(self, cfg: LlamaGenVQConfig):
        super().__init__()
        self.l2_norm = cfg.codebook_l2_norm
        self.embedding = nn.Embedding(cfg.codebook_size, cfg.codebook_embed_dim)
        if not self.embedding.weight.is_meta:
            nn.init.uniform_(self.embedding.weight, -1.0 / cfg.codebook_size, 1.0 / cfg.codebook_size)
        if cfg.codebook_show_usage:
            self.register_buffer("codebook_used", torch.zeros(65536))

    def codebook(self) -> torch.Tensor:
        """[V, Cq] code vectors as the lookup sees them."""
        w = self.embedding.weight
        return F.normalize(w, p=2, dim=-1) if self.l2_norm else w

    def indices(self, z: torch.Tensor) -> torch.Tensor:
        """[B, Cq, g, g] latents -> [B, g*g] code ids, raster order (first index on ties)."""
        B, C = z.shape[:2]
        flat = z.permute(0, 2, 3, 1).reshape(-1, C)  # [B*g*g, Cq]
        if self.l2_norm:
            flat = F.normalize(flat, p=2, dim=-1)
        e = self.codebook()
        d = flat.pow(2).sum(1, keepdim=True) + e.pow(2).sum(1) - 2 * flat @ e.t()  # [N, V]
        return d.argmin(dim=1).view(B, -1)

    def lookup(self, indices: torch.Tensor, grid: int) -> torch.Tensor:
        """[B, g*g] code ids -> [B, Cq, g, g] code vectors."""
        B = indices.shape[0]
        return self.codebook()[indices].view(B, grid, grid, -1).permute(0, 3, 1, 2).contiguous()


class LlamaGenVQ(nn.Module):
    """The VQ tokenizer: ``img_to_tokens`` / ``tokens_to_img`` on [0, 1] images, raster-order ids.

    Example:
        >>> vq = LlamaGenVQ(LlamaGenVQConfig())       # VQ-16
        >>> tokens = vq.img_to_tokens(torch.rand(1, 3, 256, 256))   # [1, 256]
        >>> vq.tokens_to_img(tokens).shape            # [1, 3, 256, 256], in [0, 1]
    """

    def __init__(self, cfg: LlamaGenVQConfig):
        super().__init__()
        self.cfg = cfg
        self.encoder = Encoder(cfg)
        self.decoder = Decoder(cfg)
        self.quantize = VectorQuantizer(cfg)
        self.quant_conv = nn.Conv2d(cfg.z_channels, cfg.codebook_embed_dim, 1)
        self.post_quant_conv = nn.Conv2d(cfg.codebook_embed_dim, cfg.z_channels, 1)

    @property
    def vocab_size(self) -> int:
        return self.cfg.codebook_size

    @property
    def downsample(self) -> int:
        return self.cfg.downsample

    def encode_latent(self, img_pm1: torch.Tensor) -> torch.Tensor:
        """[B, 3, H, W] in [-1, 1] -> raw latents z [B, Cq, H/f, W/f] (before normalisation)."""
        return self.quant_conv(self.encoder(img_pm1))

    def decode_code(self, indices: torch.Tensor, grid: int | None = None) -> torch.Tensor:
        """[B, g*g] ids -> decoder output [B, 3, H, W], nominally [-1, 1] and unclamped (the official one)."""
        grid = grid or round(indices.shape[1] ** 0.5)
        if grid * grid != indices.shape[1]:
            raise ValueError(f"tokens must fill a square grid, got {indices.shape[1]} per image")
        quant = self.quantize.lookup(indices.long(), grid)
        if quant.device.type == "cpu":  # oneDNN's NHWC convolutions: about 1.2x faster decoding, same math
            quant = quant.contiguous(memory_format=torch.channels_last)
        return self.decoder(self.post_quant_conv(quant)).contiguous()

    @torch.no_grad()
    def img_to_tokens(self, img01: torch.Tensor) -> torch.Tensor:
        """[B, 3, H, W] in [0, 1] (H, W multiples of the downsample factor) -> int64 [B, (H/f)*(W/f)]."""
        if img01.ndim != 4 or img01.shape[1] != 3:
            raise ValueError(f"images must be [B, 3, H, W], got {tuple(img01.shape)}")
        f = self.downsample
        if img01.shape[2] % f or img01.shape[3] % f:
            raise ValueError(f"image sides must be multiples of {f}, got {tuple(img01.shape[2:])}")
        return self.quantize.indices(self.encode_latent(img01 * 2 - 1))

    @torch.no_grad()
    def tokens_to_img(self, tokens: torch.Tensor) -> torch.Tensor:
        """int [B, g*g] raster-order ids -> [B, 3, g*f, g*f] clamped to [0, 1]."""
        tokens = torch.as_tensor(tokens)
        if tokens.ndim != 2 or tokens.dtype.is_floating_point or tokens.dtype == torch.bool:
            raise ValueError(f"tokens must be an integer tensor [B, L], got {tokens.dtype} {tuple(tokens.shape)}")
        check_ids(tokens, self.vocab_size, "tokens", "codebook size")
        return self.decode_code(tokens).add(1).mul(0.5).clamp(0, 1)
