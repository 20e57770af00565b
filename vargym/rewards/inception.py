"""The standard FID Inception: the TF-ported Inception-v3 of torch-fidelity (the same network and weights as
pytorch-fid, torchmetrics and the ADM evaluation suite), so FID numbers compare with published ones.

We use torch-fidelity's module rather than a copy of our own: its resizing reproduces TF 1.x bilinear
interpolation bit for bit, which an own re-implementation would have to re-derive and keep correct.
The weights file is read here with ``torch.load(weights_only=True)`` and handed to torch-fidelity as a
re-serialised state dict (torch-fidelity itself would unpickle the file unrestricted).

Install with ``pip install 'vargym[fid]'`` (torch-fidelity; pure Python).
"""

from __future__ import annotations

import io
import os
from pathlib import Path

import torch
from torch import nn

from vargym.errors import CheckpointError, WeightsNotAvailableError, import_extra

__all__ = ["FID_INCEPTION_URL", "FIDInception", "fid_inception"]

FID_INCEPTION_URL = (
    "https://github.com/toshas/torch-fidelity/releases/download/v0.2.0/weights-inception-2015-12-05-6726825d.pth"
)


class FIDInception(nn.Module):
    """Images float ``[N, 3, H, W]`` in [0, 1] -> FID pool features ``[N, 2048]`` float32.

    Images are quantised to uint8 first, as when samples are saved as PNG and read back by the
    reference tools (the extractor then resizes to 299 px the TF way).
    """

    def __init__(self, extractor: nn.Module) -> None:
        super().__init__()
        self.extractor = extractor.eval().requires_grad_(False)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        device = next(self.extractor.parameters()).device
        pixels = images.detach().float().clamp(0, 1).mul(255).round().to(device, torch.uint8)  # [N, 3, H, W]
        return self.extractor(pixels)[0]  # [N, 2048]

    def train(self, mode: bool = True) -> FIDInception:  # noqa: ARG002 - a frozen metric network
        return super().train(False)


def fid_inception(weights_path: str | os.PathLike | None = None) -> FIDInception:
    """Build the standard FID Inception.

    Args:
        weights_path: torch-fidelity's ``weights-inception-2015-12-05-6726825d.pth`` (pytorch-fid's
            ``pt_inception-2015-12-05-6726825d.pth`` holds the same tensors); None = torch hub's cache,
            downloaded there when absent and possible.

    Raises:
        MissingExtraError: torch-fidelity is not installed (``pip install 'vargym[fid]'``).
        WeightsNotAvailableError: no local file and none cached/downloadable (offline: at once).
        CheckpointError: the file is not an Inception state dict of this architecture.
    """
    fidelity = import_extra("torch_fidelity.feature_extractor_inceptionv3", "fid", "the standard FID Inception")
    if weights_path is None:
        from vargym.netcheck import torch_hub_file

        # the digits in torch-fidelity's file name are not a sha256 prefix of its bytes
        weights_path = torch_hub_file(
            FID_INCEPTION_URL, option="inception_weights= (CLI: --inception-weights PATH)", check_hash=False
        )
    path = Path(weights_path)
    if not path.is_file():
        raise WeightsNotAvailableError(f"FID Inception weights file {path} does not exist")
    state = torch.load(path, map_location="cpu", weights_only=True)
    if isinstance(state, dict) and "state_dict" in state:
        state = state["state_dict"]
    buffer = io.BytesIO()
    torch.save(state, buffer)
    buffer.seek(0)
    try:
        extractor = fidelity.FeatureExtractorInceptionV3("inception-v3-compat", ["2048"], feature_extractor_weights_path=buffer)
    except (RuntimeError, KeyError, TypeError) as e:
        raise CheckpointError(f"{path} is not a FID Inception state dict: {e}") from e
    return FIDInception(extractor)
