"""Procedural class-conditional images, generated on the fly in torch.

Ten clearly distinguishable classes (shapes and textures) with random colours, sizes, positions and
rotations. Rendering is vectorised over the batch (one pass per class, signed distance functions with
a soft one-pixel edge), so a CPU thread makes thousands of 64 px images per second. Everything random
is drawn from a ``torch.Generator``: the same seed gives the same images.

The background brightness spans dark to bright and the colours span grey to saturated, so rewards such
as brightness or colourfulness have room to move within a class.

Example:
    >>> import torch
    >>> from vargym.data.procedural import generate
    >>> labels = torch.arange(10)
    >>> images = generate(labels, torch.Generator().manual_seed(0), image_size=64)
    >>> images.shape
    torch.Size([10, 3, 64, 64])
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass

import torch
from torch.utils.data import Dataset

__all__ = [
    "CLASS_NAMES",
    "NUM_CLASSES",
    "ProceduralConfig",
    "ProceduralDataset",
    "generate",
    "procedural_batches",
]

CLASS_NAMES: tuple[str, ...] = (
    "circle",
    "square",
    "triangle",
    "ring",
    "cross",
    "star",
    "horizontal_stripes",
    "vertical_stripes",
    "checkerboard",
    "gradient",
)
NUM_CLASSES = len(CLASS_NAMES)

# Rec. 601 luma weights, also used by the brightness rewards.
_LUMA = (0.299, 0.587, 0.114)

# Columns of the per-image uniform parameter table (all drawn in [0, 1], mapped in `_render`).
_BG_LEVEL, _BG_CHROMA, _BG_SAT = 0, slice(1, 4), 4
_FG_DELTA, _FG_SIGN, _FG_CHROMA, _FG_SAT = 5, 6, slice(7, 10), 10
_SIZE, _CX, _CY, _ROT, _AUX_A, _AUX_B, _AUX_C = 11, 12, 13, 14, 15, 16, 17
_NUM_PARAMS = 18


@dataclass(frozen=True)
class ProceduralConfig:
    """Settings of the procedural image set."""

    image_size: int = 64
    """Side of the square images in pixels (32..256 tested)."""
    seed: int = 0
    """Seed of the ``torch.Generator`` that draws labels, shapes and colours."""
    min_scale: float = 0.35
    """Smallest shape radius as a fraction of half the image side."""
    max_scale: float = 0.8
    """Largest shape radius as a fraction of half the image side (shapes stay fully inside)."""
    noise_std: float = 0.02
    """Standard deviation of the per-pixel Gaussian noise added to every image (0 disables it)."""
    edge_softness: float = 0.5
    """Width of the anti-aliased shape edge, in pixels."""

    def __post_init__(self) -> None:
        if not 8 <= self.image_size <= 4096:
            raise ValueError(f"image_size must be in [8, 4096] pixels, got {self.image_size}")
        if not 0.0 < self.min_scale <= self.max_scale <= 0.95:
            raise ValueError(
                "need 0 < min_scale <= max_scale <= 0.95 (fractions of half the image side), "
                f"got min_scale={self.min_scale}, max_scale={self.max_scale}"
            )
        if self.noise_std < 0:
            raise ValueError(f"noise_std must be >= 0, got {self.noise_std}")
        if self.edge_softness <= 0:
            raise ValueError(f"edge_softness must be > 0 pixels, got {self.edge_softness}")


def generate(
    labels: torch.Tensor,
    generator: torch.Generator | None = None,
    image_size: int | None = None,
    config: ProceduralConfig | None = None,
) -> torch.Tensor:
    """Render one procedural image per label.

    Args:
        labels: int64 ``[N]`` class indices in ``[0, NUM_CLASSES)``.
        generator: source of randomness; its device is where the random numbers are drawn (a CPU
            generator gives the same images on every device). ``None`` uses torch's global RNG.
        image_size: side in pixels; defaults to ``config.image_size``.
        config: style settings (sizes, noise, edge); defaults to ``ProceduralConfig()``.

    Returns:
        float ``[N, 3, H, W]`` images in ``[0, 1]`` on ``labels.device``, ``H = W = image_size``.

    Example:
        >>> images = generate(torch.tensor([0, 5]), torch.Generator().manual_seed(1), 32)
    """
    config = config or ProceduralConfig()
    size = _check_size(image_size if image_size is not None else config.image_size)
    labels = _check_labels(labels)
    draw_device = generator.device if generator is not None else labels.device
    n = labels.shape[0]
    params = torch.rand(n, _NUM_PARAMS, generator=generator, device=draw_device)  # [N, P]
    noise = torch.randn(n, 3, size, size, generator=generator, device=draw_device)  # [N, 3, H, W]
    return _render(labels, params.to(labels.device), noise.to(labels.device), size, config)


class ProceduralDataset(Dataset):
    """A fixed-size, index-deterministic view of the procedural images.

    Item ``i`` has label ``i % NUM_CLASSES`` (balanced classes) and is drawn from its own generator
    seeded by ``(seed, i)``, so an item does not depend on which other items are loaded with it.

    Example:
        >>> ds = ProceduralDataset(100, image_size=32, seed=0)
        >>> image, label = ds[3]   # image [3, 32, 32] in [0, 1], label 3
    """

    def __init__(
        self, num_samples: int, image_size: int = 64, seed: int = 0, config: ProceduralConfig | None = None
    ) -> None:
        if num_samples < 1:
            raise ValueError(f"num_samples must be >= 1, got {num_samples}")
        self.num_samples = num_samples
        self.image_size = _check_size(image_size)
        self.seed = seed
        self.config = config or ProceduralConfig(image_size=image_size, seed=seed)

    def __len__(self) -> int:
        return self.num_samples

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int]:
        images, labels = self._render_indices([index])
        return images[0], int(labels[0])

    def __getitems__(self, indices: list[int]) -> list[tuple[torch.Tensor, int]]:
        """Batched fetch used by ``DataLoader``: one vectorised render for all indices."""
        images, labels = self._render_indices(indices)
        return [(images[i], int(labels[i])) for i in range(len(indices))]

    def _render_indices(self, indices: list[int]) -> tuple[torch.Tensor, torch.Tensor]:
        size = self.image_size
        params, noises = [], []
        for index in indices:
            if not -self.num_samples <= index < self.num_samples:
                raise IndexError(f"index {index} out of range for a dataset of {self.num_samples}")
            index %= self.num_samples
            generator = torch.Generator().manual_seed(_item_seed(self.seed, index))
            params.append(torch.rand(_NUM_PARAMS, generator=generator))  # [P]
            noises.append(torch.randn(3, size, size, generator=generator))  # [3, H, W]
        labels = torch.tensor([i % self.num_samples % NUM_CLASSES for i in indices], dtype=torch.long)
        images = _render(labels, torch.stack(params), torch.stack(noises), size, self.config)
        return images, labels


def procedural_batches(
    batch_size: int,
    image_size: int = 64,
    seed: int = 0,
    device: torch.device | str | None = None,
    config: ProceduralConfig | None = None,
) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """Infinite stream of random procedural batches (labels uniform over the classes).

    Random numbers come from one CPU generator seeded with ``seed``, so the stream is the same on every
    device; rendering runs on ``device``.

    Args:
        batch_size: images per batch.
        image_size: side in pixels.
        seed: seed of the stream.
        device: where the batches live (default: CPU).
        config: style settings; defaults to ``ProceduralConfig()``.

    Yields:
        ``(images [B, 3, H, W] in [0, 1], labels int64 [B])``.

    Example:
        >>> images, labels = next(procedural_batches(16, image_size=32, seed=0))
    """
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    size = _check_size(image_size)
    config = config or ProceduralConfig(image_size=size, seed=seed)
    generator = torch.Generator().manual_seed(seed)
    device = torch.device(device) if device is not None else torch.device("cpu")
    while True:
        labels = torch.randint(0, NUM_CLASSES, (batch_size,), generator=generator)  # [B]
        params = torch.rand(batch_size, _NUM_PARAMS, generator=generator)  # [B, P]
        noise = torch.randn(batch_size, 3, size, size, generator=generator)  # [B, 3, H, W]
        labels = labels.to(device)
        yield _render(labels, params.to(device), noise.to(device), size, config), labels


# --------------------------------------------------------------------------------------------------
# rendering


def _render(
    labels: torch.Tensor, params: torch.Tensor, noise: torch.Tensor, size: int, config: ProceduralConfig,
    background: torch.Tensor | None = None, foreground: torch.Tensor | None = None,
) -> torch.Tensor:
    """Map uniform parameters ``[N, P]`` and noise ``[N, 3, H, W]`` to images ``[N, 3, H, W]``; ``background``
    and ``foreground`` ``[N, 3]`` replace the drawn colours when given (the captioned set names its colours)."""
    if background is None:
        background = _colour(params[:, _BG_LEVEL], params[:, _BG_CHROMA], params[:, _BG_SAT])  # [N, 3]
    if foreground is None:
        # Foreground brightness differs from the background's by 0.35..0.7, on a side with room for it.
        level = params[:, _BG_LEVEL]
        delta = 0.35 + 0.35 * params[:, _FG_DELTA]
        sign = torch.where(params[:, _FG_SIGN] < 0.5, -1.0, 1.0)
        sign = torch.where(level - delta < 0, 1.0, torch.where(level + delta > 1, -1.0, sign))
        fg_level = (level + sign * delta).clamp(0, 1)
        foreground = _colour(fg_level, params[:, _FG_CHROMA], params[:, _FG_SAT])  # [N, 3]

    mask = _shape_masks(labels, params, size, config)  # [N, 1, H, W]
    images = torch.lerp(background[:, :, None, None], foreground[:, :, None, None], mask)  # [N, 3, H, W]
    if config.noise_std > 0:
        images.add_(noise, alpha=config.noise_std)
    return images.clamp_(0, 1)


def _shape_masks(labels: torch.Tensor, params: torch.Tensor, size: int, config: ProceduralConfig) -> torch.Tensor:
    """Foreground coverage ``[N, 1, H, W]`` in [0, 1] of each label's shape (or texture) under ``params``."""
    n, device = labels.shape[0], labels.device
    pixel = 2.0 / size  # coordinates span [-1, 1]
    coords = (torch.arange(size, device=device, dtype=torch.float32) + 0.5) * pixel - 1.0  # [W]
    grid_y, grid_x = coords.view(1, size, 1), coords.view(1, 1, size)  # [1, H, 1], [1, 1, W]
    mask = torch.zeros(n, size, size, device=device)  # [N, H, W]
    for label in range(NUM_CLASSES):
        index = (labels == label).nonzero(as_tuple=True)[0]
        if index.numel() == 0:
            continue
        p = params[index]  # [n_k, P]
        distance_or_mask = _SHAPES[label](p, grid_x, grid_y, config)  # [n_k, H, W]
        if label in _TEXTURE_CLASSES:
            mask[index] = distance_or_mask
        else:  # signed distance (negative inside) -> soft mask with an edge of about one pixel
            mask[index] = torch.sigmoid(-distance_or_mask / (pixel * config.edge_softness))
    return mask.unsqueeze(1)


def _colour(level: torch.Tensor, chroma: torch.Tensor, saturation: torch.Tensor) -> torch.Tensor:
    """A colour ``[N, 3]`` with brightness near ``level [N]`` and a random hue of random strength."""
    offset = chroma - chroma.mean(dim=1, keepdim=True)  # [N, 3], zero-mean so the level is kept
    return (level[:, None] + 0.9 * saturation[:, None] * offset).clamp(0, 1)


def _frame(
    p: torch.Tensor, grid_x: torch.Tensor, grid_y: torch.Tensor, config: ProceduralConfig, max_rot: float
):
    """Radius ``[n, 1, 1]`` and coordinates ``u, v [n, H, W]`` centred on the shape and rotated."""
    radius = config.min_scale + (config.max_scale - config.min_scale) * p[:, _SIZE]  # [n]
    room = 1.0 - radius - 2.0 / grid_x.shape[-1]  # keeps the shape and a one-pixel margin inside
    cx = (2 * p[:, _CX] - 1) * room
    cy = (2 * p[:, _CY] - 1) * room
    angle = (2 * p[:, _ROT] - 1) * max_rot
    dx = grid_x - cx[:, None, None]  # [n, 1, W]
    dy = grid_y - cy[:, None, None]  # [n, H, 1]
    cos, sin = angle.cos()[:, None, None], angle.sin()[:, None, None]
    u = dx * cos + dy * sin  # [n, H, W]
    v = -dx * sin + dy * cos  # [n, H, W]
    return radius[:, None, None], u, v


def _circle(p, grid_x, grid_y, config):
    radius, u, v = _frame(p, grid_x, grid_y, config, max_rot=0.0)
    return torch.sqrt(u * u + v * v) - radius


def _square(p, grid_x, grid_y, config):
    radius, u, v = _frame(p, grid_x, grid_y, config, max_rot=math.radians(20))
    half = radius * 0.7  # corners stay within the radius at the largest rotation
    return torch.maximum(u.abs(), v.abs()) - half


def _triangle(p, grid_x, grid_y, config):
    # Exact signed distance of an equilateral triangle centred on its centroid (Inigo Quilez's sdf).
    radius, u, v = _frame(p, grid_x, grid_y, config, max_rot=math.pi)
    half_side = radius * math.sqrt(3) / 2  # circumradius -> half side
    k = math.sqrt(3.0)
    x = u.abs() - half_side
    y = v + half_side / k
    fold = x + k * y > 0
    x, y = torch.where(fold, (x - k * y) / 2, x), torch.where(fold, (-k * x - y) / 2, y)
    x = x - torch.maximum(x.clamp(max=0), -2 * half_side)  # clamp(x, -2 * half_side, 0)
    return -torch.sqrt(x * x + y * y) * torch.sign(y)


def _ring(p, grid_x, grid_y, config):
    radius, u, v = _frame(p, grid_x, grid_y, config, max_rot=0.0)
    width = radius * (0.12 + 0.12 * p[:, _AUX_A, None, None])
    return (torch.sqrt(u * u + v * v) - (radius - width)).abs() - width


def _cross(p, grid_x, grid_y, config):
    radius, u, v = _frame(p, grid_x, grid_y, config, max_rot=math.pi / 4)
    half_width = radius * (0.18 + 0.12 * p[:, _AUX_A, None, None])
    arm = radius * 0.95  # arm corners stay within the radius
    arm_h = torch.maximum(u.abs() - arm, v.abs() - half_width)
    arm_v = torch.maximum(u.abs() - half_width, v.abs() - arm)
    return torch.minimum(arm_h, arm_v)


def _star(p, grid_x, grid_y, config):
    # Exact signed distance of a five-pointed star (Inigo Quilez's sdStar5): fold into one half-arm.
    radius, u, v = _frame(p, grid_x, grid_y, config, max_rot=math.pi)
    inner = 0.4 + 0.15 * p[:, _AUX_A, None, None]  # valley depth as a fraction of the tip radius
    k1x, k1y = 0.809016994375, -0.587785252292  # cos 36 deg, -sin 36 deg
    x, y = u.abs(), v
    fold = (k1x * x + k1y * y).clamp(min=0)
    x, y = x - 2 * fold * k1x, y - 2 * fold * k1y
    fold = (-k1x * x + k1y * y).clamp(min=0)
    x, y = x + 2 * fold * k1x, y - 2 * fold * k1y
    x, y = x.abs(), y - radius
    edge_x, edge_y = -inner * k1y, inner * k1x - 1  # direction of the arm edge (unnormalised)
    h = torch.minimum(((x * edge_x + y * edge_y) / (edge_x**2 + edge_y**2)).clamp(min=0), radius)
    gap_x, gap_y = x - edge_x * h, y - edge_y * h
    return torch.sqrt(gap_x * gap_x + gap_y * gap_y) * torch.sign(y * edge_x - x * edge_y)


def _stripes(p, grid_x, grid_y, config, vertical: bool):
    angle = (2 * p[:, _ROT, None, None] - 1) * math.radians(10)
    if vertical:
        across = grid_x * angle.cos() - grid_y * angle.sin()  # [n, H, W]
    else:
        across = grid_y * angle.cos() + grid_x * angle.sin()
    periods = 2.0 + 2.5 * p[:, _AUX_A, None, None]  # 2..4.5 periods across the image
    phase = 2 * math.pi * p[:, _AUX_B, None, None]
    duty = 0.6 * (p[:, _AUX_C, None, None] - 0.5)  # shifts the stripe / gap width ratio
    wave = torch.sin(math.pi * periods * across + phase) - duty
    pixel = 2.0 / grid_x.shape[-1]
    return torch.sigmoid(wave / (math.pi * periods * pixel * config.edge_softness))


def _horizontal_stripes(p, grid_x, grid_y, config):
    return _stripes(p, grid_x, grid_y, config, vertical=False)


def _vertical_stripes(p, grid_x, grid_y, config):
    return _stripes(p, grid_x, grid_y, config, vertical=True)


def _checkerboard(p, grid_x, grid_y, config):
    angle = (2 * p[:, _ROT, None, None] - 1) * math.radians(10)
    cos, sin = angle.cos(), angle.sin()
    u = grid_x * cos + grid_y * sin  # [n, H, W]
    v = -grid_x * sin + grid_y * cos
    periods = 1.5 + 1.5 * p[:, _AUX_A, None, None]  # 3..6 cells across the image
    phase_u = 2 * math.pi * p[:, _AUX_B, None, None]
    phase_v = 2 * math.pi * p[:, _AUX_C, None, None]
    # A square wave per axis (soft sign of a sine); their product is the board.
    pixel = 2.0 / grid_x.shape[-1]
    sharp = math.pi * periods * pixel * config.edge_softness
    wave_u = torch.tanh(torch.sin(math.pi * periods * u + phase_u) / sharp)
    wave_v = torch.tanh(torch.sin(math.pi * periods * v + phase_v) / sharp)
    return 0.5 + 0.5 * wave_u * wave_v


def _gradient(p, grid_x, grid_y, config):
    angle = 2 * math.pi * p[:, _ROT, None, None]
    cos, sin = angle.cos(), angle.sin()
    along = (grid_x * cos + grid_y * sin) / (cos.abs() + sin.abs())  # [n, H, W], corner to corner -1..1
    gamma = 0.5 + 1.5 * p[:, _AUX_A, None, None]  # varied ramp shapes
    return ((along + 1) / 2).clamp(0, 1) ** gamma


_SHAPES = (
    _circle,
    _square,
    _triangle,
    _ring,
    _cross,
    _star,
    _horizontal_stripes,
    _vertical_stripes,
    _checkerboard,
    _gradient,
)
# Classes whose function returns a mask in [0, 1] rather than a signed distance.
_TEXTURE_CLASSES = frozenset({6, 7, 8, 9})


def _item_seed(seed: int, index: int) -> int:
    """A 63-bit seed per (dataset seed, index), mixed so neighbouring indices are unrelated streams."""
    value = (seed * 0x9E3779B97F4A7C15 + index * 0xBF58476D1CE4E5B9 + 0x94D049BB133111EB) % (1 << 64)
    value ^= value >> 31
    return value % (1 << 63)


def _check_size(image_size: int) -> int:
    if not isinstance(image_size, int) or not 8 <= image_size <= 4096:
        raise ValueError(f"image_size must be an int in [8, 4096] pixels, got {image_size!r}")
    return image_size


def _check_labels(labels: torch.Tensor) -> torch.Tensor:
    if not isinstance(labels, torch.Tensor) or labels.dim() != 1:
        raise ValueError(
            f"labels must be a 1-D int64 tensor [N], got {type(labels).__name__} "
            f"of shape {getattr(labels, 'shape', None)}"
        )
    labels = labels.long()
    if labels.numel() and (labels.min() < 0 or labels.max() >= NUM_CLASSES):
        raise ValueError(
            f"labels must be in [0, {NUM_CLASSES}) ({', '.join(CLASS_NAMES)}), "
            f"got values in [{int(labels.min())}, {int(labels.max())}]"
        )
    return labels
