"""Fast answers to "can weights be downloaded now?" so that offline runs fail at once instead of hanging."""

from __future__ import annotations

import os
import re
import socket
import threading
from pathlib import Path
from urllib.parse import urlparse

__all__ = ["host_reachable", "hub_file", "hub_folder", "offline_mode", "torch_hub_file"]

_HASH = re.compile(r"-([a-f0-9]{8,})\.")  # torch hub files embed a sha256 prefix: resnet50-11ad3fa6.pth


def offline_mode() -> bool:
    """True when ``HF_HUB_OFFLINE`` asks every vargym download to stay off the network."""
    return os.environ.get("HF_HUB_OFFLINE", "").strip().lower() in ("1", "true", "yes", "on")


def host_reachable(host: str, timeout: float = 4.0) -> bool:
    """Whether a TCP connection to ``host:443`` opens within about ``timeout`` seconds."""
    # DNS lookups on a machine without network can hang ~45 s before failing: bound the probe with a thread.
    result: list[bool] = []

    def probe() -> None:
        try:
            socket.create_connection((host, 443), timeout=timeout).close()
            result.append(True)
        except OSError:
            result.append(False)

    thread = threading.Thread(target=probe, daemon=True)
    thread.start()
    thread.join(timeout + 1)
    return bool(result and result[0])


def torch_hub_file(url: str, option: str, check_hash: bool = True) -> Path:
    """Local path of a weight file: torch hub's cache, else downloaded into it (sha256 prefix checked).

    Args:
        url: the file's URL (e.g. ``ResNet50_Weights.IMAGENET1K_V2.url``).
        option: how the caller passes a local file instead, named in the error.
        check_hash: compare the sha256 prefix that the file name carries (``name-1a2b3c4d.pth``).

    Raises:
        WeightsNotAvailableError: not cached and ``HF_HUB_OFFLINE`` is set or the host is unreachable.
    """
    import torch

    from vargym.errors import WeightsNotAvailableError

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
    match = _HASH.search(filename) if check_hash else None
    try:
        torch.hub.download_url_to_file(url, str(cached), hash_prefix=match.group(1) if match else None)
    except (OSError, RuntimeError) as e:  # network errors; RuntimeError on a hash mismatch
        raise WeightsNotAvailableError(f"cannot download {url}: {e}; pass {option}") from e
    return cached


def hub_file(
    repo_id: str, files: tuple[str, ...], what: str, option: str, cache_dir: str | None = None,
    revision: str | None = None,
) -> str:
    """Local path of the first of ``files`` in a Hugging Face repo (at ``revision``; None: main): the hub
    cache, else downloaded into it. The one download helper of model and reward weights.

    Offline (``HF_HUB_OFFLINE=1``) or with huggingface.co unreachable, an uncached file raises
    `WeightsNotAvailableError` in seconds, naming ``what``, the repo, the files and ``option``.
    """
    from huggingface_hub import hf_hub_download, try_to_load_from_cache

    from vargym.errors import WeightsNotAvailableError

    for name in files:
        cached = try_to_load_from_cache(repo_id, name, cache_dir=cache_dir, revision=revision)
        if isinstance(cached, str):
            return cached
    offline, error = offline_mode(), None
    if not offline and not host_reachable("huggingface.co"):  # fail in seconds, not after the hub's retries
        raise WeightsNotAvailableError(
            f"{what} are not cached and huggingface.co is unreachable (hub repo {repo_id!r}, file "
            f"{' or '.join(files)}). Download them once online, or {option}."
        )
    for name in files:
        try:
            return hf_hub_download(
                repo_id, name, cache_dir=cache_dir, revision=revision, etag_timeout=10, local_files_only=offline
            )
        except Exception as e:  # noqa: BLE001 - any hub failure means "not available here"
            error = e
    why = "HF_HUB_OFFLINE=1 is set and they are not cached" if offline else f"download failed: {error}"
    raise WeightsNotAvailableError(
        f"{what} are not available: hub repo {repo_id!r}, file {' or '.join(files)}; {why}. "
        f"Download them once online, or {option}."
    )


def hub_folder(repo_id: str, patterns: tuple[str, ...], what: str, option: str, revision: str | None = None) -> str:
    """Local folder of the files of a Hugging Face repo that match ``patterns`` (a model saved with
    ``save_pretrained``): the hub cache, else downloaded into it. Fails in seconds offline, like `hub_file`."""
    from huggingface_hub import snapshot_download

    from vargym.errors import WeightsNotAvailableError

    try:  # everything cached already: no network at all
        return snapshot_download(repo_id, allow_patterns=list(patterns), revision=revision, local_files_only=True)
    except Exception:  # noqa: BLE001 - not (completely) cached
        pass
    offline = offline_mode()
    if offline or not host_reachable("huggingface.co"):
        why = "HF_HUB_OFFLINE=1 is set" if offline else "huggingface.co is unreachable"
        raise WeightsNotAvailableError(
            f"{what} are not cached and {why} (hub repo {repo_id!r}, files {', '.join(patterns)}). Download them "
            f"once online (huggingface-cli download {repo_id}), or {option}."
        )
    try:
        return snapshot_download(repo_id, allow_patterns=list(patterns), revision=revision, etag_timeout=10)
    except Exception as e:  # noqa: BLE001 - any hub failure means "not available here"
        raise WeightsNotAvailableError(f"{what} are not available: hub repo {repo_id!r}; download failed: {e}. "
                                       f"Download them once online, or {option}.") from e
