"""Text encoders: prompts -> caption features, the input of a text-conditional generator.

Every encoder returns `TextFeatures`: ``[N, T, C]`` features **left-padded** (the valid slots, end-of-text
included, come last; padded slots are zero) with their mask ``[N, T]``, the layout LlamaGen's t2i GPT was
trained on. Each prompt is encoded once and cached (the G samples of a group share one prompt, and a prompt
set is drawn from again and again), so the encoder runs only on prompts it has not seen.

- `T5TextEncoder`: transformers' ``T5EncoderModel`` (FLAN-T5-XL for LlamaGen): the official caption clean-up,
  the official tokenizer call (``max_length`` slots with the end-of-text token, right-padded), the encoder, then
  the left padding of the official sample scripts.
- `FeatureFileEncoder`: features written by ``vargym encode-prompts`` (`write_feature_file`), so that training
  and sampling need no T5 at all.

`load_text_encoder` turns a ``--text-encoder`` / ``--text-features`` spec into one of them.
"""

from __future__ import annotations

import json
import warnings
from abc import ABC, abstractmethod
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from vargym.errors import CheckpointError, VargymError, WeightsNotAvailableError, import_extra
from vargym.models.conditions import check_prompts

__all__ = ["DEFAULT_T5", "FeatureFileEncoder", "T5TextEncoder", "TextEncoder", "TextFeatures", "TextFeaturesError",
           "left_pad", "load_text_encoder", "write_feature_file"]

DEFAULT_T5 = "google/flan-t5-xl"
"""The text encoder of LlamaGen's t2i models (``language/README.md`` of the official code)."""
T5_FILES = ("config.json", "*.safetensors", "*.safetensors.index.json", "tokenizer.json", "tokenizer_config.json",
            "special_tokens_map.json", "spiece.model")
"""What a T5 folder needs (safetensors weights only: no pickle from the network)."""


class TextFeaturesError(VargymError, ValueError):
    """Text features that do not fit: another width or window than the model's, or prompts they lack."""


@dataclass(frozen=True)
class TextFeatures:
    """Caption features of N prompts, left-padded."""

    features: torch.Tensor
    """float ``[N, T, C]``: the valid slots last, padded slots zero."""
    mask: torch.Tensor
    """bool ``[N, T]``: True on valid slots."""


class TextEncoder(ABC):
    """Prompts -> `TextFeatures` with a cache of each prompt's valid slots.

    Subclasses set ``max_length`` (T, the caption window), ``dim`` (C) and ``spec`` (how `load_text_encoder`
    rebuilds it; None when it cannot be rebuilt from a string) and implement `encode_new`.
    """

    max_length: int
    dim: int
    spec: str | None = None

    def __init__(self, cache_size: int = 4096) -> None:
        self.cache_size = int(cache_size)
        self._cache: OrderedDict[str, torch.Tensor] = OrderedDict()

    @abstractmethod
    def encode_new(self, prompts: list[str]) -> list[torch.Tensor]:
        """The valid slots ``[n_i, C]`` of each prompt (end-of-text included), ``n_i <= max_length``."""

    @property
    def device(self) -> torch.device:
        return torch.device("cpu")

    def check_available(self, prompts: Sequence[str], option: str) -> None:
        """Raise a `TextFeaturesError` naming ``option`` when some prompts cannot be encoded (an encoder with a
        fixed set of prompts, such as a features file, lacks them); a text model encodes anything."""
        return None

    def to(self, device: torch.device | str | None) -> TextEncoder:
        """Move the encoder (a no-op for encoders that hold no network)."""
        return self

    def valid_slots(self, prompts: Sequence[str]) -> list[torch.Tensor]:
        """Each prompt's valid slots ``[n_i, C]``: from the cache, or encoded once per unique new prompt."""
        prompts = check_prompts(list(prompts))
        new = list(dict.fromkeys(p for p in prompts if p not in self._cache))
        if new:
            for prompt, slots in zip(new, self.encode_new(new)):
                self._cache[prompt] = slots
        out = []
        for prompt in prompts:
            self._cache.move_to_end(prompt)
            out.append(self._cache[prompt])
        while len(self._cache) > self.cache_size:
            self._cache.popitem(last=False)
        return out

    def encode(self, prompts: Sequence[str], device: torch.device | str | None = None) -> TextFeatures:
        """`TextFeatures` of ``prompts`` (float32, on ``device``; default: the encoder's)."""
        slots = self.valid_slots(prompts)
        device = torch.device(device) if device is not None else self.device
        N, T = len(slots), self.max_length
        features = torch.zeros(N, T, self.dim, device=device)  # [N, T, C]
        mask = torch.zeros(N, T, dtype=torch.bool, device=device)  # [N, T]
        for i, valid in enumerate(slots):
            n = valid.shape[0]
            features[i, T - n:] = valid.to(device=device, dtype=torch.float32)
            mask[i, T - n:] = True
        return TextFeatures(features, mask)

    def check_fits(self, caption_dim: int, caption_slots: int, option: str) -> None:
        """Raise a `TextFeaturesError` (naming ``option``) unless the features fit a model's caption input."""
        if (self.dim, self.max_length) != (caption_dim, caption_slots):
            raise TextFeaturesError(
                f"{option} gives {self.dim}-wide features in a window of {self.max_length} slots ({self.spec or self}); "
                f"the model takes {caption_dim}-wide features in {caption_slots} slots")


def left_pad(hidden: torch.Tensor, mask: torch.Tensor) -> TextFeatures:
    """Right-padded encoder output ``[N, T, C]`` with its mask ``[N, T]`` (valid slots first) -> `TextFeatures`
    with the valid slots last and the padded ones zero (the official sample scripts' flip-and-rotate), in a
    form autograd passes through."""
    N, T = mask.shape
    valid = mask.sum(dim=1, keepdim=True)  # [N, 1]
    source = torch.arange(T, device=mask.device).unsqueeze(0) - (T - valid)  # [N, T]: where slot t comes from
    new_mask = source >= 0
    gathered = hidden.gather(1, source.clamp_min(0).unsqueeze(-1).expand(-1, -1, hidden.shape[-1]))
    return TextFeatures(gathered * new_mask.unsqueeze(-1).to(hidden.dtype), new_mask)


# ------------------------------------------------------------------------------------------------------ T5
class T5TextEncoder(TextEncoder):
    """A T5 encoder (``transformers.T5EncoderModel``) with the official LlamaGen text pipeline.

    Args:
        name_or_path: a folder written by ``save_pretrained`` (config, safetensors weights, tokenizer) or a
            Hugging Face repo (default FLAN-T5-XL), downloaded once; offline, an uncached repo raises at once.
        device: where T5 runs (default CPU).
        precision: "auto" (bfloat16 on CUDA, as the official scripts run T5; float32 elsewhere), "bfloat16"
            or "float32". float16 is refused: T5 overflows in it.
        max_length: caption slots T (120 for LlamaGen), end-of-text included.
        clean: apply the official caption clean-up (`vargym.models.clean_caption`) first.
        model, tokenizer: ready objects instead of loading them (tests).
    """

    def __init__(self, name_or_path: str | Path = DEFAULT_T5, device: torch.device | str | None = None,
                 precision: str = "auto", max_length: int = 120, clean: bool = True, cache_size: int = 4096,
                 model: Any = None, tokenizer: Any = None) -> None:
        super().__init__(cache_size)
        if precision not in ("auto", "float32", "bfloat16"):
            raise ValueError(f"T5 precision must be 'auto', 'float32' or 'bfloat16' (float16 overflows in T5), "
                             f"got {precision!r}")
        if int(max_length) != max_length or max_length < 2:
            raise ValueError(f"max_length must be an int >= 2 (prompt tokens + end-of-text), got {max_length!r}")
        self.max_length, self.clean = int(max_length), bool(clean)
        device = torch.device(device) if device is not None else torch.device("cpu")
        if precision == "auto":
            precision = "bfloat16" if device.type == "cuda" else "float32"
        self.precision = precision
        if model is None or tokenizer is None:
            folder = resolve_t5_folder(name_or_path)
            model, tokenizer = load_t5(folder, getattr(torch, precision))
            self.spec = str(name_or_path)
        self.model = model.to(device).eval().requires_grad_(False)
        self.tokenizer = tokenizer
        self.dim = int(self.model.config.d_model)

    @property
    def device(self) -> torch.device:
        return next(self.model.parameters()).device

    def to(self, device: torch.device | str | None) -> T5TextEncoder:
        if device is not None:
            self.model.to(device)
        return self

    def clean_prompts(self, prompts: list[str]) -> list[str]:
        """The prompts as the model reads them (after the official clean-up, when ``clean``)."""
        if not self.clean:
            return list(prompts)
        from vargym.models.text.captions import clean_caption

        return [clean_caption(p) for p in prompts]

    @torch.no_grad()
    def encode_new(self, prompts: list[str]) -> list[torch.Tensor]:
        texts = self.clean_prompts(prompts)
        self._warn_cut(prompts, texts)
        batch = self.tokenizer(texts, max_length=self.max_length, padding="max_length", truncation=True,
                               add_special_tokens=True, return_attention_mask=True, return_tensors="pt")
        ids, mask = batch["input_ids"].to(self.device), batch["attention_mask"].to(self.device)  # [N, T] right-padded
        hidden = self.model(input_ids=ids, attention_mask=mask).last_hidden_state  # [N, T, C]
        lengths = mask.sum(dim=1).tolist()
        return [hidden[i, :n].float() for i, n in enumerate(lengths)]  # the valid slots, EOS last

    def _warn_cut(self, prompts: list[str], texts: list[str]) -> None:
        """Say what the tokenizer drops from prompts longer than the window, and which prompts clean to nothing."""
        full = self.tokenizer(texts, add_special_tokens=True, truncation=False)["input_ids"]
        for prompt, text, ids in zip(prompts, texts, full):
            if not text.strip():
                warnings.warn(f"prompt {prompt!r} is empty after the official caption clean-up: the model sees only "
                              f"the end-of-text token (as LlamaGen's own pipeline would)", stacklevel=4)
            if len(ids) > self.max_length:
                dropped = self.tokenizer.decode(ids[self.max_length - 1:-1])
                warnings.warn(f"prompt {prompt[:60]!r}... has {len(ids) - 1} tokens; the caption window holds "
                              f"{self.max_length - 1} and the end-of-text token, so the tokenizer cuts the rest "
                              f"({dropped[:80]!r}), as the official pipeline does", stacklevel=4)


def resolve_t5_folder(name_or_path: str | Path) -> Path:
    """A local T5 folder: ``name_or_path`` itself, or the hub repo's files (downloaded once)."""
    path = Path(name_or_path)
    if path.is_dir():
        if not (path / "config.json").is_file():
            raise WeightsNotAvailableError(f"T5 folder {path} has no config.json (a folder written by "
                                           f"T5EncoderModel.save_pretrained and its tokenizer)")
        return path
    if path.exists() or str(name_or_path).count("/") != 1:
        raise ValueError(f"text encoder {str(name_or_path)!r} is neither a T5 folder nor a Hugging Face repo id "
                         f"(such as {DEFAULT_T5!r})")
    from vargym.netcheck import hub_folder

    return Path(hub_folder(str(name_or_path), T5_FILES, f"the T5 text encoder {name_or_path}",
                           "pass --text-encoder FOLDER (a local copy), or --text-features FILE (features written by "
                           "`vargym encode-prompts` on a machine that has T5)"))


def load_t5(folder: Path, dtype: torch.dtype) -> tuple[Any, Any]:
    """(``T5EncoderModel``, tokenizer) from a local folder, safetensors weights only."""
    transformers = import_extra("transformers", "t2i", "the T5 text encoder")
    import_extra("ftfy", "t2i", "the T5 caption clean-up")
    import_extra("bs4", "t2i", "the T5 caption clean-up")
    transformers.utils.logging.disable_progress_bar()  # vargym shows its own progress
    try:
        model = transformers.T5EncoderModel.from_pretrained(folder, dtype=dtype, use_safetensors=True,
                                                            local_files_only=True)
        tokenizer = transformers.AutoTokenizer.from_pretrained(folder, local_files_only=True)
    except (OSError, ValueError, RuntimeError) as e:
        raise CheckpointError(f"cannot load a T5 encoder and tokenizer from {folder}: {e}") from e
    return model, tokenizer


# ---------------------------------------------------------------------------------------- features files
class FeatureFileEncoder(TextEncoder):
    """Features written by `write_feature_file` (``vargym encode-prompts``): no text model at all.

    A prompt the file does not hold raises a `TextFeaturesError` naming the file.
    """

    def __init__(self, path: str | Path, device: torch.device | str | None = None) -> None:
        super().__init__(cache_size=1 << 30)
        from safetensors import safe_open

        self.path = Path(path)
        if not self.path.is_file():
            raise WeightsNotAvailableError(f"text features file {self.path} does not exist (write one with "
                                           f"`vargym encode-prompts PROMPTS --out {self.path.name}`)")
        try:
            with safe_open(str(self.path), framework="pt") as f:
                meta = f.metadata() or {}
                flat, lengths = f.get_tensor("features"), f.get_tensor("lengths")
            prompts = json.loads(meta["prompts"])
            self.max_length = int(meta["max_length"])
        except Exception as e:  # noqa: BLE001 - any unreadable or foreign file
            raise TextFeaturesError(f"{self.path} is not a text features file written by `vargym encode-prompts` "
                                    f"({type(e).__name__}: {e})") from e
        if flat.ndim != 2 or lengths.shape != (len(prompts),) or int(lengths.sum()) != flat.shape[0]:
            raise TextFeaturesError(f"{self.path}: features {tuple(flat.shape)} and lengths {tuple(lengths.shape)} do "
                                    f"not describe its {len(prompts)} prompts")
        self.dim, self.spec = int(flat.shape[1]), str(self.path)
        self.encoder = meta.get("encoder", "")
        rows = torch.split(flat, lengths.tolist())
        self._cache.update(zip(prompts, rows))
        self._device = torch.device(device) if device is not None else torch.device("cpu")

    @property
    def device(self) -> torch.device:
        return self._device

    def to(self, device: torch.device | str | None) -> FeatureFileEncoder:
        if device is not None:
            self._device = torch.device(device)
        return self

    @property
    def prompts(self) -> list[str]:
        return list(self._cache)

    def encode_new(self, prompts: list[str]) -> list[torch.Tensor]:
        self.check_available(prompts, "text_encoder=")
        raise AssertionError("unreachable: every prompt of the file is cached")

    def check_available(self, prompts: Sequence[str], option: str) -> None:
        missing = [p for p in dict.fromkeys(prompts) if p not in self._cache]
        if missing:
            shown = ", ".join(repr(p[:60]) for p in missing[:3])
            raise TextFeaturesError(
                f"the text features file {self.path} ({option}) holds no features for {len(missing)} of the prompts "
                f"({shown}{', ...' if len(missing) > 3 else ''}); it holds {len(self._cache)} prompts: encode these "
                f"ones too with `vargym encode-prompts`")


def write_feature_file(encoder: TextEncoder, prompts: Sequence[str], path: str | Path, batch_size: int = 32,
                       progress: Any = None) -> Path:
    """Encode each unique prompt once and write the valid slots as safetensors: ``features`` ``[sum n_i, C]``
    (the encoder's dtype, so bf16 T5 output stays bf16), ``lengths`` ``[P]``, the prompts and window in the metadata.
    ``progress(done, total)`` is called after each batch."""
    from safetensors.torch import save_file

    unique = list(dict.fromkeys(check_prompts(list(prompts))))
    rows: list[torch.Tensor] = []
    for start in range(0, len(unique), batch_size):
        rows += [r.cpu() for r in encoder.valid_slots(unique[start:start + batch_size])]
        if progress is not None:
            progress(min(start + batch_size, len(unique)), len(unique))
    lengths = torch.tensor([r.shape[0] for r in rows], dtype=torch.int64)
    meta = {"prompts": json.dumps(unique, ensure_ascii=False), "max_length": str(encoder.max_length),
            "encoder": encoder.spec or type(encoder).__name__, "format": "vargym-text-features-1"}
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    save_file({"features": torch.cat(rows).contiguous(), "lengths": lengths}, str(path), metadata=meta)
    return path


def load_text_encoder(spec: TextEncoder | str | Path | None, device: torch.device | str | None = None,
                      **kwargs: Any) -> TextEncoder:
    """A `TextEncoder` from a spec: an encoder itself; a ``.safetensors`` features file (`FeatureFileEncoder`);
    a T5 folder or Hugging Face repo id (`T5TextEncoder`, ``kwargs`` passed on); None: FLAN-T5-XL."""
    if isinstance(spec, TextEncoder):
        return spec.to(device)
    spec = DEFAULT_T5 if spec is None else spec
    if str(spec).endswith(".safetensors"):
        return FeatureFileEncoder(spec, device=device)
    if not isinstance(spec, (str, Path)):
        raise TypeError(f"text_encoder must be a TextEncoder, a T5 folder or repo id, or a .safetensors features "
                        f"file, got {type(spec).__name__}")
    return T5TextEncoder(spec, device=device, **kwargs)
