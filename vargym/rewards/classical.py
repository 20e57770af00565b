"""Classical, weight-free image rewards (batched torch; ``"jpeg"`` encodes with PIL per image).

All take images ``[N, 3, H, W]`` in [0, 1] on any device and return float ``[N]``. Each is easy
to game with degenerate images (noise, flat colour): good for CPU demos and analytic tests.
"""

from __future__ import annotations

import io

import torch
import torch.nn.functional as F

from vargym.rewards.base import RewardContext
from vargym.rewards.brightness import to_luma
from vargym.rewards.registry import register

__all__ = ["colorfulness", "contrast", "jpeg_compressibility", "saturation", "sharpness"]


@register("colorfulness")
def colorfulness(images: torch.Tensor, context: RewardContext) -> torch.Tensor:
    """Hasler & Suesstrunk (2003) colourfulness ``M = sigma_rgyb + 0.3 * mu_rgyb`` on the 0..255 scale.

    ``rg = R - G``, ``yb = (R + G) / 2 - B``. 0 for grey images; ~33 "moderately", ~59 "quite",
    ~109 "extremely" colourful; uniform noise ~138.
    """
    rgb = images * 255.0
    rg = rgb[:, 0] - rgb[:, 1]  # [N, H, W]
    yb = 0.5 * (rgb[:, 0] + rgb[:, 1]) - rgb[:, 2]  # [N, H, W]
    std = torch.sqrt(rg.var(dim=(-2, -1), unbiased=False) + yb.var(dim=(-2, -1), unbiased=False))
    mean = torch.sqrt(rg.mean(dim=(-2, -1)) ** 2 + yb.mean(dim=(-2, -1)) ** 2)
    return std + 0.3 * mean


@register("contrast")
def contrast(images: torch.Tensor, context: RewardContext) -> torch.Tensor:
    """RMS contrast: standard deviation of the BT.601 luma, ``[N]`` in [0, 0.5]."""
    return to_luma(images).std(dim=(-2, -1), unbiased=False)


@register("saturation")
def saturation(images: torch.Tensor, context: RewardContext) -> torch.Tensor:
    """Mean HSV saturation ``(max - min) / max`` per pixel (0 where max is 0), ``[N]`` in [0, 1]."""
    high = images.amax(dim=1)  # [N, H, W]
    low = images.amin(dim=1)  # [N, H, W]
    sat = torch.where(high > 0, (high - low) / high.clamp_min(1e-12), torch.zeros_like(high))
    return sat.mean(dim=(-2, -1))


@register("sharpness", log=True)
def sharpness(images: torch.Tensor, context: RewardContext, log: bool = True) -> torch.Tensor:
    """Variance of the Laplacian (3x3 kernel, valid convolution) of luma on the 0..255 scale.

    With ``log=True`` (default) returns ``log1p(variance)``: the raw variance is unbounded and
    spans orders of magnitude (flat 0, uniform noise ~5e4), which makes a poor reward scale.
    """
    y = to_luma(images).unsqueeze(1) * 255.0  # [N, 1, H, W]
    kernel = torch.tensor(
        [[0.0, 1.0, 0.0], [1.0, -4.0, 1.0], [0.0, 1.0, 0.0]], dtype=y.dtype, device=y.device
    )
    lap = F.conv2d(y, kernel.view(1, 1, 3, 3))  # [N, 1, H-2, W-2]
    var = lap.flatten(1).var(dim=1, unbiased=False)
    return torch.log1p(var) if log else var


@register("jpeg", quality=95)
def jpeg_compressibility(images: torch.Tensor, context: RewardContext, quality: int = 95) -> torch.Tensor:
    """DDPO's JPEG compressibility: minus the JPEG size in kilobytes (1 kB = 1000 bytes).

    Each image is encoded with PIL at ``quality`` (95). Higher reward = more compressible
    (flat grey at 256 px ~ -1.7, uniform noise ~ -77).
    """
    from PIL import Image

    arr = (
        (images.clamp(0, 1) * 255.0).round().to(torch.uint8).permute(0, 2, 3, 1).cpu().numpy()
    )  # [N, H, W, 3]
    sizes = []
    for image in arr:
        buffer = io.BytesIO()
        Image.fromarray(image).save(buffer, format="JPEG", quality=quality)
        sizes.append(buffer.tell() / 1000.0)
    return -torch.tensor(sizes, dtype=torch.float32, device=images.device)
