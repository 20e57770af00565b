"""The ImageNet fidelity check of the seed paper: torchvision ResNet-50 (``IMAGENET1K_V2``) top-1/top-5.

Samples of class ``c`` count as correct when the classifier ranks ``c`` first (top-1) or among its first
five (top-5). Preprocessing follows the weights' own transform, done on the images' device in torch:
shorter side resized to 232 (bilinear, antialiased), centre crop 224, ImageNet mean/std.

Example:
    >>> classifier = load_resnet50(device="cuda")        # torch hub cache, or weights_path=...
    >>> logits = classifier(images)                        # [N, 1000] for images [N, 3, H, W] in [0, 1]
    >>> features = classifier.features(images)             # [N, 2048] pooled features
"""

from __future__ import annotations

import os

import torch
import torch.nn.functional as F
from torch import nn

from vargym.errors import CheckpointError, WeightsNotAvailableError

__all__ = ["IMAGENET_MEAN", "IMAGENET_STD", "ImageNetClassifier", "imagenet_preprocess", "load_resnet50"]

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
RESIZE, CROP = 232, 224  # ResNet50_Weights.IMAGENET1K_V2.transforms(): resize_size=232, crop_size=224


def imagenet_preprocess(images: torch.Tensor, resize: int = RESIZE, crop: int = CROP) -> torch.Tensor:
    """Resize the shorter side to ``resize``, centre-crop ``crop``, normalise with ImageNet mean/std.

    Args:
        images: float ``[N, 3, H, W]`` in [0, 1].

    Returns:
        float ``[N, 3, crop, crop]``, normalised.
    """
    if images.dim() != 4 or images.shape[1] != 3:
        raise ValueError(f"images must be [N, 3, H, W], got shape {tuple(images.shape)}")
    height, width = images.shape[-2:]
    scale = resize / min(height, width)
    size = (max(crop, round(height * scale)), max(crop, round(width * scale)))
    x = F.interpolate(images.float(), size=size, mode="bilinear", antialias=True, align_corners=False)
    top, left = (size[0] - crop) // 2, (size[1] - crop) // 2
    x = x[:, :, top : top + crop, left : left + crop]  # [N, 3, crop, crop]
    mean = torch.tensor(IMAGENET_MEAN, device=x.device).view(1, 3, 1, 1)
    std = torch.tensor(IMAGENET_STD, device=x.device).view(1, 3, 1, 1)
    return (x - mean) / std


class ImageNetClassifier(nn.Module):
    """A torchvision ResNet with the preprocessing inside: ``[0, 1]`` images in, logits or features out."""

    def __init__(self, resnet: nn.Module) -> None:
        super().__init__()
        self.resnet = resnet.eval().requires_grad_(False)

    @property
    def head(self) -> nn.Module:
        """The final linear layer: ``forward(x) == head(features(x))``."""
        return self.resnet.fc

    def features(self, images: torch.Tensor) -> torch.Tensor:
        """Pooled penultimate features ``[N, 2048]`` of images ``[N, 3, H, W]`` in [0, 1]."""
        r = self.resnet
        x = imagenet_preprocess(images)
        x = r.maxpool(r.relu(r.bn1(r.conv1(x))))
        x = r.layer4(r.layer3(r.layer2(r.layer1(x))))  # [N, 2048, 7, 7]
        return torch.flatten(r.avgpool(x), 1)  # [N, 2048]

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """Logits ``[N, 1000]`` of images ``[N, 3, H, W]`` in [0, 1]."""
        return self.head(self.features(images))

    def train(self, mode: bool = True) -> ImageNetClassifier:  # noqa: ARG002 - an evaluation model
        """Stay in eval mode (batch norm running statistics are never updated)."""
        return super().train(False)


def load_resnet50(
    weights_path: str | os.PathLike | None = None, device: torch.device | str | None = None
) -> ImageNetClassifier:
    """ResNet-50 ``IMAGENET1K_V2`` as an `ImageNetClassifier`, loaded strictly.

    Args:
        weights_path: a local state dict (``resnet50-11ad3fa6.pth``); None uses torch hub's cache and
            downloads once when online.
        device: where to put the model.

    Raises:
        WeightsNotAvailableError: offline and not cached, or ``weights_path`` does not exist.
        CheckpointError: the file is not a ResNet-50 state dict.
    """
    from torchvision.models import ResNet50_Weights, resnet50

    from vargym.models.files import load_state_strict
    from vargym.netcheck import torch_hub_file

    if weights_path is None:
        weights_path = torch_hub_file(
            ResNet50_Weights.IMAGENET1K_V2.url, option="resnet_weights= (CLI: --resnet-weights)"
        )
    elif not os.path.isfile(weights_path):
        raise WeightsNotAvailableError(f"ResNet-50 weights file {weights_path} does not exist")
    try:
        state = torch.load(weights_path, map_location="cpu", weights_only=True)
    except Exception as e:  # truncated zip, not a torch file, pickled code refused by weights_only
        raise CheckpointError(f"could not read ResNet-50 weights {weights_path}: {e}") from e
    if not isinstance(state, dict):
        raise CheckpointError(f"{weights_path} is not a state dict (got {type(state).__name__})")
    with torch.device("meta"):  # no random init that is overwritten at once
        model = resnet50(weights=None)
    model.to_empty(device="cpu")
    load_state_strict(model, state, str(weights_path))
    return ImageNetClassifier(model).to(device)
