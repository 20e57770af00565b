"""Shared OpenAI-CLIP backbones (through open_clip) and a small checked file downloader.

`load_clip` returns one `ClipBackbone` per (model, weights, device, dtype), so several rewards on
the same backbone (``"aesthetic+clip"``) share its weights; `ClipBackbone.encode_images` remembers
the embedding of the last images tensor it saw, so they also share one image forward per call.

Where weights come from:

- ``weights_path=`` a local open_clip checkpoint (``.safetensors`` / ``.bin`` / ``.pt`` state dict);
- ``model_name="tiny-clip"``: the tiny CLIP vargym ships (trained on its captioned procedural world by
  ``vargym pretrain-clip``), or ``model_name=DIR`` (also ``"local-dir:DIR"``): any folder in open_clip's
  Hugging Face layout (``open_clip_config.json`` + ``open_clip_model.safetensors``), loaded offline;
- otherwise the open_clip pretrained tag's Hugging Face repo, downloaded by huggingface_hub into
  the user's HF cache (``openai`` for ``ViT-L-14-quickgelu`` is ``timm/vit_large_patch14_clip_224.openai``,
  file ``open_clip_model.safetensors``).

Offline (``HF_HUB_OFFLINE=1``) only cached files are used; a missing one raises
`vargym.errors.WeightsNotAvailableError` at once, naming the repo and the ``weights_path=`` option.

Use the ``-quickgelu`` model names with ``openai`` weights: open_clip builds plain ``ViT-L-14`` with
GELU and would only warn about the mismatch.
"""

from __future__ import annotations

import difflib
import hashlib
import os
import urllib.parse
import urllib.request
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from vargym.errors import CheckpointError, WeightsNotAvailableError
from vargym.netcheck import host_reachable, hub_file, offline_mode
from vargym.rewards.base import resize_shorter_and_crop

__all__ = [
    "OPENAI_MEAN",
    "OPENAI_STD",
    "ClipBackbone",
    "clear_clip_cache",
    "IMAGE_RESIZES",
    "clip_preprocess",
    "download_file",
    "hub_file",
    "load_clip",
    "resize_longer_and_pad",
    "CONFIG_FILE",
    "SHIPPED_CLIPS",
    "WEIGHTS_FILE",
]

OPENAI_MEAN = (0.48145466, 0.4578275, 0.40821073)
OPENAI_STD = (0.26862954, 0.26130258, 0.27577711)
CONFIG_FILE, WEIGHTS_FILE = "open_clip_config.json", "open_clip_model.safetensors"
"""The two files of a CLIP folder in open_clip's Hugging Face layout."""
_HUB_FILES = (WEIGHTS_FILE, "open_clip_pytorch_model.bin")
SHIPPED_CLIPS = {"tiny-clip": Path(__file__).resolve().parents[1] / "assets" / "tiny-clip"}
"""CLIP models shipped with vargym, by name: folders in open_clip's Hugging Face layout."""
_BACKBONES: dict[tuple, ClipBackbone] = {}


def download_file(
    url: str, filename: str, sha256: str, timeout: float = 15.0, cache_dir: str | None = None,
    option: str = "pass the file's path",
) -> Path:
    """Return a cached copy of ``url`` (under ``$TORCH_HOME/hub/checkpoints/vargym``), downloading it once.

    The file's SHA-256 must equal ``sha256``. Offline or on a network error, raises
    `WeightsNotAvailableError` naming the URL and the expected local file.
    """
    folder = Path(cache_dir) if cache_dir else Path(torch.hub.get_dir()) / "checkpoints" / "vargym"
    target = folder / filename
    if target.is_file() and _sha256(target) == sha256:
        return target
    hint = f"download {url} to {target} (or {option})"
    if offline_mode():
        raise WeightsNotAvailableError(f"{filename} is not cached and HF_HUB_OFFLINE=1 is set: {hint}")
    host = urllib.parse.urlsplit(url).hostname or ""
    if not host_reachable(host):  # a DNS lookup without network can hang far longer than `timeout`
        raise WeightsNotAvailableError(f"{filename} is not cached and {host} is unreachable: {hint}")
    folder.mkdir(parents=True, exist_ok=True)
    partial = target.with_suffix(target.suffix + ".partial")
    try:
        with urllib.request.urlopen(url, timeout=timeout) as source, open(partial, "wb") as out:
            while chunk := source.read(1 << 20):
                out.write(chunk)
    except OSError as e:  # URLError, timeouts and socket errors are all OSErrors
        partial.unlink(missing_ok=True)
        raise WeightsNotAvailableError(f"could not download {filename} ({e}): {hint}") from e
    digest = _sha256(partial)
    if digest != sha256:
        partial.unlink(missing_ok=True)
        raise WeightsNotAvailableError(f"{url} has sha256 {digest}, expected {sha256}")
    partial.replace(target)
    return target


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def _hub_checkpoint(model_name: str, pretrained: str, cache_dir: str | None) -> str:
    """Path of the cached/downloaded open_clip checkpoint of a pretrained tag."""
    import open_clip
    from open_clip.pretrained import get_pretrained_cfg

    cfg = get_pretrained_cfg(model_name, pretrained)
    if not cfg:
        tags = open_clip.list_pretrained_tags_by_model(model_name)
        raise ValueError(f"pretrained={pretrained!r} is not a tag of {model_name!r}; known tags: {tags}")
    repo_id, filename = os.path.split(cfg.get("hf_hub", ""))  # "org/repo/" -> ("org/repo", "")
    files = (filename,) if filename else _HUB_FILES
    option = ("pass weights_path=/path/to/open_clip_model.safetensors (CLI: --reward-arg weights_path=PATH, or "
              "--reward-arg TERM.weights_path=PATH inside an expression such as aesthetic+clip)")
    if not repo_id:
        raise WeightsNotAvailableError(f"{model_name!r}/{pretrained!r} has no Hugging Face repo; {option}")
    return hub_file(repo_id, files, f"CLIP weights for {model_name!r} (pretrained={pretrained!r})", option, cache_dir)


def resize_longer_and_pad(images: torch.Tensor, size: int) -> torch.Tensor:
    """HPSv2's eval resize (its ``ResizeMaxSize``): the whole image kept, both sides scaled by ``size / longer``
    and rounded, bicubic (antialiased, not clamped, as torchvision's tensor path), then zero-padded to a square
    (the odd pixel on the right / bottom). Float ``[N, 3, H, W]`` -> ``[N, 3, size, size]``. The reference skips
    the resize when the longer side is already ``size``; so does this, and it still pads a non-square image
    (the reference would hand the network a non-square input)."""
    height, width = images.shape[-2:]
    x = images
    scale = size / float(max(height, width))
    if scale != 1.0:
        height, width = round(height * scale), round(width * scale)
        x = F.interpolate(images, size=(height, width), mode="bicubic", antialias=True, align_corners=False)
    pad_h, pad_w = size - height, size - width
    return F.pad(x, (pad_w // 2, pad_w - pad_w // 2, pad_h // 2, pad_h - pad_h // 2), value=0.0)


IMAGE_RESIZES = ("crop", "pad")
"""How a CLIP-family scorer fits an image to its input: "crop" (CLIP: shorter side, centre crop) or "pad"
(HPSv2: longer side, zero padding)."""


def clip_preprocess(images: torch.Tensor, size: int, mean: torch.Tensor, std: torch.Tensor) -> torch.Tensor:
    """OpenAI CLIP transform in torch: shorter side to ``size`` (bicubic, antialias), centre crop with
    torchvision's geometry (`vargym.rewards.base.resize_shorter_and_crop`), normalise.

    Args:
        images: float ``[N, 3, H, W]`` in [0, 1].
        size: the model's input side.
        mean, std: ``[1, 3, 1, 1]`` normalisation.

    Returns:
        float32 ``[N, 3, size, size]``.
    """
    x = images.float()
    if tuple(x.shape[-2:]) != (size, size):
        x = resize_shorter_and_crop(x, size, "bicubic").clamp(0, 1)  # [N, 3, size, size]
    return (x - mean) / std


class ClipBackbone(nn.Module):
    """An open_clip CLIP model with on-device OpenAI preprocessing and embedding caches."""

    def __init__(self, model: nn.Module, model_name: str, tokenizer) -> None:
        super().__init__()
        self.model = model.eval().requires_grad_(False)
        self.model_name = model_name
        self.tokenizer = tokenizer
        size = model.visual.image_size
        self.image_size = int(size[0] if isinstance(size, (tuple, list)) else size)
        self.embed_dim = int(model.text_projection.shape[1]) if hasattr(model, "text_projection") else None
        self.register_buffer("mean", torch.tensor(OPENAI_MEAN).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(OPENAI_STD).view(1, 3, 1, 1), persistent=False)
        self._image_cache: tuple[torch.Tensor, tuple[int, str], torch.Tensor] | None = None
        self._text_cache: dict[str, torch.Tensor] = {}

    def _apply(self, fn, recurse=True):  # moving the weights invalidates cached embeddings
        self._image_cache, self._text_cache = None, {}
        super()._apply(fn, recurse)
        self.mean, self.std = self.mean.float(), self.std.float()  # normalisation stays float32 in any dtype
        return self

    def preprocess(self, images: torch.Tensor, resize: str = "crop") -> torch.Tensor:
        """`clip_preprocess` (``resize="crop"``) or HPSv2's `resize_longer_and_pad` (``"pad"``) to this model's
        ``image_size``, normalised, in its dtype and on its device."""
        if resize not in IMAGE_RESIZES:
            raise ValueError(f"resize must be one of {IMAGE_RESIZES}, got {resize!r}")
        images = images.to(self.mean.device)
        if resize == "crop":
            x = clip_preprocess(images, self.image_size, self.mean, self.std)
        else:
            x = (resize_longer_and_pad(images.float(), self.image_size) - self.mean) / self.std
        return x.to(next(self.model.parameters()).dtype)

    @torch.no_grad()
    def encode_images(self, images: torch.Tensor, resize: str = "crop") -> torch.Tensor:
        """L2-normalised image embeddings ``[N, D]`` float32 (``resize``: see `preprocess`); reuses the result
        for the same tensor and resize.

        The cache holds the last images tensor itself (so its identity cannot be recycled) and its
        version counter (so in-place edits invalidate it).
        """
        cached = self._image_cache
        if cached is not None and cached[0] is images and cached[1] == (images._version, resize):
            return cached[2]
        emb = self.model.encode_image(self.preprocess(images, resize)).float()  # [N, D]
        emb = F.normalize(emb, dim=-1)
        self._image_cache = (images, (images._version, resize), emb)
        return emb

    @torch.no_grad()
    def encode_texts(self, prompts: list[str]) -> torch.Tensor:
        """L2-normalised text embeddings ``[P, D]`` float32; each prompt is encoded once and cached."""
        missing = [p for p in dict.fromkeys(prompts) if p not in self._text_cache]
        if missing:
            tokens = self.tokenizer(missing).to(self.mean.device)  # [P, context_length]
            emb = F.normalize(self.model.encode_text(tokens).float(), dim=-1)  # [P, D]
            self._text_cache.update(zip(missing, emb, strict=True))
        return torch.stack([self._text_cache[p] for p in prompts])


def load_clip(
    model_name: str = "ViT-L-14-quickgelu",
    pretrained: str = "openai",
    weights_path: str | os.PathLike | None = None,
    device: torch.device | str | None = None,
    dtype: torch.dtype | None = None,
    cache_dir: str | None = None,
) -> ClipBackbone:
    """Load (or reuse) an open_clip CLIP backbone.

    Args:
        model_name: open_clip model name, e.g. ``"ViT-L-14-quickgelu"`` (aesthetic v2, default CLIP
            score) or ``"ViT-B-32-quickgelu"`` (cheap on CPU); or ``"tiny-clip"`` (shipped, offline) or a
            folder in open_clip's Hugging Face layout (``DIR`` or ``"local-dir:DIR"``).
        pretrained: open_clip pretrained tag used when ``weights_path`` is None.
        weights_path: a local checkpoint file; skips any download.
        device: target device (None: CPU).
        dtype: parameter dtype (None: float32).
        cache_dir: huggingface_hub cache folder (None: the user's default).

    Raises:
        ValueError: unknown model name or tag.
        WeightsNotAvailableError: no local file and nothing cached/downloadable.
        CheckpointError: the file does not fit the model (strict load).
    """
    import open_clip

    device = torch.device(device) if device is not None else torch.device("cpu")
    dtype = dtype or torch.float32
    folder = _local_folder(model_name)
    if folder is not None:
        if weights_path is not None:
            raise ValueError(f"weights_path does not apply to the CLIP folder {folder} (it holds its own weights); "
                             f"pass one or the other")
        return _load_folder(folder, device, dtype)
    if open_clip.get_model_config(model_name) is None:
        close = difflib.get_close_matches(model_name, [*open_clip.list_models(), *SHIPPED_CLIPS], n=3)
        raise ValueError(f"unknown open_clip model {model_name!r}; did you mean one of {close}? (also: a shipped "
                         f"CLIP {sorted(SHIPPED_CLIPS)} or a folder with {CONFIG_FILE})")
    path = Path(weights_path).expanduser().resolve() if weights_path is not None else None
    key = (model_name, None if path else pretrained, str(path), str(device), dtype)
    cached = _BACKBONES.get(key)
    if cached is not None:
        param = next(cached.model.parameters())
        if param.device == device and param.dtype == dtype:
            return cached
    if path is not None and not path.is_file():
        raise WeightsNotAvailableError(
            f"CLIP weights file {path} does not exist (weights_path={weights_path!r})"
        )
    checkpoint = str(path) if path else _hub_checkpoint(model_name, pretrained, cache_dir)
    try:
        model = open_clip.create_model(model_name, pretrained=checkpoint)
    except RuntimeError as e:
        raise CheckpointError(f"cannot load {checkpoint} into open_clip {model_name!r}: {e}") from e
    backbone = ClipBackbone(model, model_name, open_clip.get_tokenizer(model_name)).to(device, dtype)
    _BACKBONES[key] = backbone
    return backbone


def _local_folder(model_name: str) -> Path | None:
    """The folder ``model_name`` names (a shipped CLIP, ``local-dir:DIR`` or an existing folder), else None."""
    if model_name in SHIPPED_CLIPS:
        return SHIPPED_CLIPS[model_name]
    path = Path(model_name.removeprefix("local-dir:")).expanduser()
    if model_name.startswith("local-dir:") or (path / CONFIG_FILE).is_file() or os.sep in model_name:
        if not (path / CONFIG_FILE).is_file() or not (path / WEIGHTS_FILE).is_file():
            raise WeightsNotAvailableError(f"{path} is not a CLIP folder: it needs {CONFIG_FILE} and {WEIGHTS_FILE} "
                                           f"(open_clip's Hugging Face layout, as `vargym pretrain-clip` writes)")
        return path.resolve()
    return None


def _load_folder(folder: Path, device: torch.device, dtype: torch.dtype) -> ClipBackbone:
    """A CLIP from a folder in open_clip's Hugging Face layout (safetensors weights, strict)."""
    import json

    import open_clip
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    weights = folder / WEIGHTS_FILE
    key = (str(folder), weights.stat().st_mtime_ns, str(device), dtype)  # a retrained folder is read again
    cached = _BACKBONES.get(key)
    if cached is not None:
        return cached
    for stale in [k for k in _BACKBONES if k[0] == key[0] and k[1] != key[1]]:  # that folder's older weights
        del _BACKBONES[stale]
    try:
        model_cfg = json.loads((folder / CONFIG_FILE).read_text())
        model_cfg = model_cfg.get("model_cfg", model_cfg)
        text_cfg = model_cfg.get("text_cfg", {})
        if not isinstance(text_cfg, dict) or text_cfg.get("hf_tokenizer_name"):
            raise ValueError("only open_clip's own CLIP with its BPE tokenizer is read from a folder")
        model = open_clip.CLIP(**model_cfg)
        model.load_state_dict(load_file(str(weights)), strict=True)
    except (OSError, ValueError, TypeError, RuntimeError, SafetensorError) as e:
        raise CheckpointError(f"cannot load the CLIP folder {folder}: {e}") from e
    tokenizer = open_clip.SimpleTokenizer(context_length=int(text_cfg.get("context_length", 77)))
    backbone = ClipBackbone(model, folder.name, tokenizer).to(device, dtype)
    _BACKBONES[key] = backbone
    return backbone


def clear_clip_cache() -> None:
    """Forget all shared backbones (frees memory once no reward holds them)."""
    _BACKBONES.clear()
