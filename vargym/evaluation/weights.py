"""torchvision weight files for evaluation models, through torch hub's cache, failing fast offline."""

from __future__ import annotations

import os
import re
from pathlib import Path
from urllib.parse import urlparse

import torch

from vargym.errors import WeightsNotAvailableError
from vargym.netcheck import host_reachable, offline_mode

__all__ = ["torchvision_weights"]

_HASH = re.compile(r"-([a-f0-9]+)\.")  # torchvision files embed a sha256 prefix: resnet50-11ad3fa6.pth


def torchvision_weights(url: str, option: str) -> Path:
    """Local path of a torchvision weight file: torch hub's cache, else downloaded (hash-checked) into it.

    Args:
        url: the file's URL (e.g. ``ResNet50_Weights.IMAGENET1K_V2.url``).
        option: how the caller passes a local file instead, named in the error.

    Raises:
        WeightsNotAvailableError: not cached and ``HF_HUB_OFFLINE`` is set or the host is unreachable.
    """
    filename = os.path.basename(urlparse(url).path)
    cached = Path(torch.hub.get_dir()) / "checkpoints" / filename
    if cached.is_file():
        return cached
    host = urlparse(url).hostname or ""
    offline = offline_mode()
    if offline or not host_reachable(host):
        why = "HF_HUB_OFFLINE is set" if offline else f"{host} is unreachable"
        raise WeightsNotAvailableError(
            f"{filename} is not in torch hub's cache ({cached.parent}) and {why}. Download {url} on a machine "
            f"with network access and put it there, or pass {option}."
        )
    cached.parent.mkdir(parents=True, exist_ok=True)
    match = _HASH.search(filename)
    try:
        torch.hub.download_url_to_file(url, str(cached), hash_prefix=match.group(1) if match else None)
    except (OSError, RuntimeError) as e:  # network errors; RuntimeError on a hash mismatch
        raise WeightsNotAvailableError(f"cannot download {url}: {e}; pass {option}") from e
    return cached
