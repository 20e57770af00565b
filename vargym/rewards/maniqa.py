"""``"maniqa"``: MANIQA (Yang et al. 2022), the no-reference quality model AR-GRPO rewards with.

ViT-B/8 features of blocks 6-9 (timm) pass two stages of transposed attention over channels (TAB) and Swin
blocks; a score head and a weight head pool the 28 x 28 positions into one score per 224 px crop (KonIQ
scores are about 0..1; higher is better). Written here with the official module and parameter names, so the
released checkpoints load strictly; `tests/rewards/test_maniqa.py` checks the scores against outputs of the
official code on a tiny configuration. Only timm is needed (an open_clip dependency already).

Checkpoints (state dicts, read with ``weights_only=True``): ``koniq`` (default) and ``kadid`` from the
official GitHub releases (IIGROUP/MANIQA, Apache-2.0), ``pipal`` from the mirror of the authors' file in
the Hugging Face repo ``chaofengc/IQA-PyTorch-Weights`` (the official PIPAL release is a pickled model).
Crops: the four corners and the centre (the official five-point crop); ``num_crops=1`` takes the centre
only. Images smaller than a crop are first resized (bilinear) so that their shorter side fits one.
"""

from __future__ import annotations

import os
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from vargym.errors import CheckpointError, WeightsNotAvailableError
from vargym.rewards.base import Reward, RewardContext
from vargym.rewards.registry import register

__all__ = ["MANIQA", "MANIQA_CHECKPOINTS", "MANIQAConfig", "MANIQAReward", "load_maniqa"]

_RELEASES = "https://github.com/IIGROUP/MANIQA/releases/download/"
MANIQA_CHECKPOINTS = {
    "koniq": ("url", _RELEASES + "Koniq10k/ckpt_koniq10k.pt"),
    "kadid": ("url", _RELEASES + "Kadid10k/ckpt_kadid10k.pt"),
    "pipal": ("hf", "chaofengc/IQA-PyTorch-Weights/MANIQA_PIPAL-ae6d356b.pth"),
}
_DERIVED_BUFFERS = ("relative_position_index", "attn_mask")  # recomputed from the config, not learned


@dataclass(frozen=True)
class MANIQAConfig:
    """The architecture; the defaults are the released checkpoints' (``vit_base_patch8_224``, 224 px crops)."""

    vit: str = "vit_base_patch8_224"
    """timm model name of the feature extractor."""
    vit_kwargs: dict[str, Any] = field(default_factory=dict)
    """Extra timm arguments (tests build a tiny ViT with them)."""
    img_size: int = 224
    patch_size: int = 8
    embed_dim: int = 768
    """The ViT width; conv1 maps the four concatenated blocks (4 x embed_dim) down to it."""
    dim_mlp: int = 768
    num_heads: tuple[int, ...] = (4, 4)
    window_size: int = 4
    depths: tuple[int, ...] = (2, 2)
    num_tab: int = 2
    scale: float = 0.8
    feature_blocks: tuple[int, ...] = (6, 7, 8, 9)

    def __post_init__(self) -> None:
        if self.img_size % self.patch_size:
            raise ValueError(f"img_size {self.img_size} must be a multiple of patch_size {self.patch_size}")
        if len(self.num_heads) != len(self.depths):
            raise ValueError(f"num_heads {self.num_heads} and depths {self.depths} must have one entry per layer")

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> MANIQAConfig:
        """From JSON-like values (``--reward-arg 'config={...}'``); lists become tuples."""
        import dataclasses

        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(values) - names)
        if unknown:
            raise ValueError(f"unknown MANIQA config fields {unknown}; known: {sorted(names)}")
        return cls(**{k: tuple(v) if isinstance(v, list) else v for k, v in values.items()})

    @property
    def grid(self) -> int:
        return self.img_size // self.patch_size


class TABlock(nn.Module):
    """Transposed attention: channels attend to channels, positions ``N`` are the features."""

    def __init__(self, positions: int) -> None:
        super().__init__()
        self.c_q, self.c_k, self.c_v = (nn.Linear(positions, positions) for _ in range(3))
        self.norm_fact = positions**-0.5

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # [B, C, N]
        B, C, N = x.shape
        attn = (self.c_q(x) @ self.c_k(x).transpose(-2, -1) * self.norm_fact).softmax(dim=-1)  # [B, C, C]
        # the official reshape mixes channels and positions; the checkpoints were trained with it
        return (attn @ self.c_v(x)).transpose(1, 2).reshape(B, C, N) + x


class WindowAttention(nn.Module):
    def __init__(self, dim: int, window: int, num_heads: int) -> None:
        super().__init__()
        self.num_heads, self.scale = num_heads, (dim // num_heads) ** -0.5
        self.relative_position_bias_table = nn.Parameter(torch.zeros((2 * window - 1) ** 2, num_heads))
        coords = torch.stack(torch.meshgrid(torch.arange(window), torch.arange(window), indexing="ij")).flatten(1)
        relative = (coords[:, :, None] - coords[:, None, :]).permute(1, 2, 0) + (window - 1)  # [w*w, w*w, 2]
        self.register_buffer("relative_position_index", relative[..., 0] * (2 * window - 1) + relative[..., 1])
        self.qkv = nn.Linear(dim, dim * 3)
        self.proj = nn.Linear(dim, dim)

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:  # [B*nW, N, C]
        B_, N, C = x.shape
        q, k, v = self.qkv(x).reshape(B_, N, 3, self.num_heads, C // self.num_heads).permute(2, 0, 3, 1, 4)
        bias = self.relative_position_bias_table[self.relative_position_index.view(-1)].view(N, N, -1)
        attn = (q * self.scale) @ k.transpose(-2, -1) + bias.permute(2, 0, 1)  # [B*nW, heads, N, N]
        if mask is not None:
            windows = mask.shape[0]
            attn = (attn.view(B_ // windows, windows, self.num_heads, N, N) + mask[None, :, None]).view(-1, self.num_heads, N, N)
        return self.proj((attn.softmax(dim=-1) @ v).transpose(1, 2).reshape(B_, N, C))


def _windows(x: torch.Tensor, window: int) -> torch.Tensor:
    """[B, H, W, C] -> [B * nW, window * window, C]."""
    B, H, W, C = x.shape
    x = x.view(B, H // window, window, W // window, window, C).permute(0, 1, 3, 2, 4, 5)
    return x.reshape(-1, window * window, C)


def _merge(windows: torch.Tensor, window: int, H: int, W: int) -> torch.Tensor:
    """The inverse of `_windows`: [B * nW, window * window, C] -> [B, H, W, C]."""
    C = windows.shape[-1]
    x = windows.view(-1, H // window, W // window, window, window, C).permute(0, 1, 3, 2, 4, 5)
    return x.reshape(-1, H, W, C)


class SwinBlock(nn.Module):
    def __init__(self, dim: int, grid: int, num_heads: int, window: int, shift: int, dim_mlp: int) -> None:
        super().__init__()
        if grid <= window:
            window, shift = grid, 0
        self.window, self.shift, self.grid = window, shift, grid
        self.norm1 = nn.LayerNorm(dim)
        self.attn = WindowAttention(dim, window, num_heads)
        self.norm2 = nn.LayerNorm(dim)
        self.mlp = nn.Sequential(OrderedDict(fc1=nn.Linear(dim, dim_mlp), act=nn.GELU(), fc2=nn.Linear(dim_mlp, dim)))
        self.register_buffer("attn_mask", self._shift_mask() if shift else None)

    def _shift_mask(self) -> torch.Tensor:
        """-100 between positions that the cyclic shift brought together from different regions."""
        region = torch.zeros(1, self.grid, self.grid, 1)
        cuts = (slice(0, -self.window), slice(-self.window, -self.shift), slice(-self.shift, None))
        for i, (h, w) in enumerate((h, w) for h in cuts for w in cuts):
            region[:, h, w, :] = i
        ids = _windows(region, self.window).squeeze(-1)  # [nW, N]
        return (ids[:, None, :] - ids[:, :, None]).ne(0).float() * -100.0  # [nW, N, N]

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # [B, H*W, C]
        B, L, C = x.shape
        h = self.norm1(x).view(B, self.grid, self.grid, C)
        if self.shift:
            h = torch.roll(h, shifts=(-self.shift, -self.shift), dims=(1, 2))
        h = _merge(self.attn(_windows(h, self.window), self.attn_mask), self.window, self.grid, self.grid)
        if self.shift:
            h = torch.roll(h, shifts=(self.shift, self.shift), dims=(1, 2))
        x = x + h.reshape(B, L, C)
        return x + self.mlp(self.norm2(x))


class SwinLayer(nn.Module):
    """Swin blocks (shifted every other one), then a 3x3 convolution with ReLU."""

    def __init__(self, dim: int, grid: int, depth: int, num_heads: int, window: int, dim_mlp: int) -> None:
        super().__init__()
        self.grid = grid
        self.conv = nn.Conv2d(dim, dim, 3, 1, 1)
        self.blocks = nn.ModuleList(
            SwinBlock(dim, grid, num_heads, window, 0 if i % 2 == 0 else window // 2, dim_mlp) for i in range(depth)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # [B, H*W, C]
        for block in self.blocks:
            x = block(x)
        B, L, C = x.shape
        x = F.relu(self.conv(x.transpose(1, 2).reshape(B, C, self.grid, self.grid)))
        return x.flatten(2).transpose(1, 2)


class SwinStage(nn.Module):
    """Residual Swin layers, ``x = scale * layer(x) + x``, on a [B, C, H, W] map."""

    def __init__(self, cfg: MANIQAConfig, dim: int) -> None:
        super().__init__()
        self.scale = cfg.scale
        self.downsample = nn.Conv2d(dim, dim, kernel_size=3, stride=2, padding=1)  # in the checkpoints, unused
        self.layers = nn.ModuleList(
            SwinLayer(dim, cfg.grid, depth, heads, cfg.window_size, cfg.dim_mlp)
            for depth, heads in zip(cfg.depths, cfg.num_heads, strict=True)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        B, C, H, W = x.shape
        x = x.flatten(2).transpose(1, 2)  # [B, H*W, C]
        for layer in self.layers:
            x = self.scale * layer(x) + x
        return x.transpose(1, 2).reshape(B, C, H, W)


class MANIQA(nn.Module):
    """Crops ``[B, 3, S, S]`` normalised to [-1, 1] -> quality scores ``[B]``."""

    def __init__(self, cfg: MANIQAConfig = MANIQAConfig()) -> None:
        super().__init__()
        import timm

        self.cfg = cfg
        self.vit = timm.create_model(cfg.vit, pretrained=False, **cfg.vit_kwargs)
        positions, dim = cfg.grid**2, cfg.embed_dim
        self.tablock1 = nn.ModuleList(TABlock(positions) for _ in range(cfg.num_tab))
        self.conv1 = nn.Conv2d(dim * len(cfg.feature_blocks), dim, 1, 1, 0)
        self.swintransformer1 = SwinStage(cfg, dim)
        self.tablock2 = nn.ModuleList(TABlock(positions) for _ in range(cfg.num_tab))
        self.conv2 = nn.Conv2d(dim, dim // 2, 1, 1, 0)
        self.swintransformer2 = SwinStage(cfg, dim // 2)
        half = dim // 2
        self.fc_score = nn.Sequential(nn.Linear(half, half), nn.ReLU(), nn.Dropout(0.1), nn.Linear(half, 1), nn.ReLU())
        self.fc_weight = nn.Sequential(nn.Linear(half, half), nn.ReLU(), nn.Dropout(0.1), nn.Linear(half, 1), nn.Sigmoid())

    def vit_features(self, x: torch.Tensor) -> torch.Tensor:
        """The patch tokens of the chosen ViT blocks, concatenated: ``[B, 4 * D, grid, grid]``."""
        outputs: list[torch.Tensor] = []
        hooks = [self.vit.blocks[i].register_forward_hook(lambda m, i, out: outputs.append(out))
                 for i in self.cfg.feature_blocks]
        try:
            self.vit.forward_features(x)
        finally:
            for hook in hooks:
                hook.remove()
        tokens = torch.cat([out[:, -self.cfg.grid**2:] for out in outputs], dim=2)  # drop the class token
        return tokens.transpose(1, 2).reshape(x.shape[0], -1, self.cfg.grid, self.cfg.grid)

    def _tab(self, blocks: nn.ModuleList, x: torch.Tensor) -> torch.Tensor:
        B, C, H, W = x.shape
        x = x.reshape(B, C, H * W)
        for block in blocks:
            x = block(x)
        return x.reshape(B, C, H, W)

    def forward(self, crops: torch.Tensor) -> torch.Tensor:
        x = self.swintransformer1(self.conv1(self._tab(self.tablock1, self.vit_features(crops))))
        x = self.swintransformer2(self.conv2(self._tab(self.tablock2, x)))
        x = x.flatten(2).transpose(1, 2)  # [B, H*W, C/2]
        score, weight = self.fc_score(x), self.fc_weight(x)  # [B, H*W, 1] each
        return (score * weight).sum(dim=(1, 2)) / weight.sum(dim=(1, 2))  # [B]


def load_maniqa(path: str | os.PathLike, cfg: MANIQAConfig = MANIQAConfig()) -> MANIQA:
    """Build MANIQA and load a checkpoint strictly (``weights_only=True``); buffers derived from the config
    (relative position indices, shift masks) may be absent or present in the file."""
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # noqa: BLE001 - a pickled model, or not a torch file at all
        raise CheckpointError(
            f"{path} is not a MANIQA state dict ({type(e).__name__}: {str(e)[:200]}); a pickled whole model cannot "
            "be loaded safely: save its state_dict() instead"
        ) from e
    for key in ("params", "state_dict", "model"):
        if isinstance(state, dict) and isinstance(state.get(key), dict):
            state = state[key]
    state = {k.removeprefix("module."): v for k, v in state.items()}
    model = MANIQA(cfg)
    expected = model.state_dict()
    missing = [k for k in expected if k not in state and not k.endswith(_DERIVED_BUFFERS)]
    unexpected = [k for k in state if k not in expected and not k.endswith(_DERIVED_BUFFERS)]
    if missing or unexpected:
        raise CheckpointError(f"{path} does not fit MANIQA: missing {missing[:5]}, unexpected {unexpected[:5]}")
    state = {k: v for k, v in state.items() if k in expected}
    bad = [k for k, v in state.items() if tuple(v.shape) != tuple(expected[k].shape)]
    if bad:
        raise CheckpointError(f"{path}: shapes differ for {bad[:5]} (e.g. {tuple(state[bad[0]].shape)} vs "
                              f"{tuple(expected[bad[0]].shape)})")
    model.load_state_dict(state, strict=False)
    return model.eval().requires_grad_(False)


@register("maniqa")
class MANIQAReward(Reward):
    """MANIQA quality, averaged over crops; higher is better.

    Args:
        checkpoint: ``"koniq"`` (default), ``"kadid"`` or ``"pipal"``: which released model to fetch.
        weights_path: a local checkpoint file instead.
        num_crops: 5 (four corners and the centre, as the official evaluation) or 1 (the centre).
        config: the architecture, a `MANIQAConfig` or a dict of its fields (tests pass a tiny one).
        device, dtype: where/how to run (ViT-B/8 is heavy on CPU: about 1 s per crop).
        model: a ready `MANIQA` to use instead of loading one.
    """

    def __init__(
        self,
        checkpoint: str = "koniq",
        weights_path: str | os.PathLike | None = None,
        num_crops: int = 5,
        config: MANIQAConfig | dict[str, Any] | None = None,
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
        model: MANIQA | None = None,
    ) -> None:
        super().__init__(name="maniqa")
        if checkpoint not in MANIQA_CHECKPOINTS:
            raise ValueError(f"checkpoint must be one of {sorted(MANIQA_CHECKPOINTS)}, got {checkpoint!r}")
        if num_crops not in (1, 5):
            raise ValueError(f"num_crops must be 1 (centre) or 5 (corners and centre), got {num_crops!r}")
        self.num_crops = num_crops
        if model is None:
            if weights_path is None:
                weights_path = _fetch(checkpoint)
            if not os.path.isfile(weights_path):
                raise WeightsNotAvailableError(f"MANIQA checkpoint {weights_path} does not exist")
            if isinstance(config, dict):
                config = MANIQAConfig.from_dict(config)
            model = load_maniqa(weights_path, config or MANIQAConfig())
        self.model = model.eval().requires_grad_(False).to(device or "cpu", dtype or torch.float32)

    def crops(self, images: torch.Tensor) -> torch.Tensor:
        """Images ``[N, 3, H, W]`` in [0, 1] -> normalised crops ``[N * num_crops, 3, S, S]`` (image-major)."""
        size = self.model.cfg.img_size
        height, width = images.shape[-2:]
        if min(height, width) < size:
            scale = size / min(height, width)
            height, width = max(size, round(height * scale)), max(size, round(width * scale))
            images = F.interpolate(images, size=(height, width), mode="bilinear", antialias=True, align_corners=False)
        corners = [(0, 0), (0, width - size), (height - size, 0), (height - size, width - size)]
        centre = [(height // 2 - size // 2, width // 2 - size // 2)]
        spots = centre if self.num_crops == 1 else corners + centre
        crops = torch.stack([images[..., t:t + size, l:l + size] for t, l in spots], dim=1)  # [N, crops, 3, S, S]
        return (crops.flatten(0, 1) - 0.5) / 0.5

    def score(self, images: torch.Tensor, context: RewardContext) -> torch.Tensor:
        param = next(self.model.parameters())
        scores = self.model(self.crops(images.float()).to(param.device, param.dtype)).float()  # [N * crops]
        return scores.view(images.shape[0], self.num_crops).mean(dim=1)  # [N]


def _fetch(checkpoint: str) -> str:
    kind, where = MANIQA_CHECKPOINTS[checkpoint]
    option = "--reward-arg maniqa.weights_path=PATH"
    if kind == "url":
        from vargym.netcheck import torch_hub_file

        return str(torch_hub_file(where, option=option, check_hash=False))
    from vargym.netcheck import hub_file

    repo, filename = where.rsplit("/", 1)
    return hub_file(repo, (filename,), f"MANIQA {checkpoint} weights", f"pass {option}")
