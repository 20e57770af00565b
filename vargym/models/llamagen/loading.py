"""Loading LlamaGen: the official c2i checkpoints (Hugging Face ``FoundationVision/LlamaGen``), our own
safetensors checkpoints and the shipped tiny LlamaGen.

Official GPT files trained with DDP hold the state dict under ``"model"``; FSDP-trained ones (XXL, 3B) are
flat; the VQ file holds it under ``"model"``. All load with ``weights_only=True`` and strictly; only the
RoPE table (``freqs_cis``) and KV-cache buffers, which old files may carry, are dropped by name.
"""

from __future__ import annotations

import re
from pathlib import Path

import torch

from vargym.models.files import (
    load_model_parts,
    load_state_strict,
    read_model_configs,
    read_state_dict,
    save_model_dir,
)
from vargym.models.llamagen.presets import (
    LLAMAGEN_PRESETS,
    OWN_LLAMAGEN,
    RELEASE_SOURCES,
    RELEASED_FILES,
    build_llamagen,
)
from vargym.models.llamagen.transformer import LlamaGen, LlamaGenConfig
from vargym.models.llamagen.vq import LlamaGenVQ, LlamaGenVQConfig

__all__ = ["load_llamagen_checkpoint", "load_llamagen_official", "load_llamagen_pretrained", "save_llamagen_checkpoint"]

HF_REPO_ID = "FoundationVision/LlamaGen"
HF_REVISION = "main"
VQ_FILE = "vq_ds16_c2i.pt"
_RUNTIME_KEYS = re.compile(r"^(freqs_cis|causal_mask|layers\.\d+\.attention\.kv_cache\.[kv]_cache)$")


def read_official_gpt(path: str | Path) -> dict[str, torch.Tensor]:
    """An official GPT state dict (DDP ``"model"``/``"module"``/``"state_dict"`` entry, or FSDP flat)."""
    state = read_state_dict(path, entries=("model", "module", "state_dict"))
    return {k: v for k, v in state.items() if not _RUNTIME_KEYS.match(k)}


def read_official_vq(path: str | Path, prefer_ema: bool = True) -> dict[str, torch.Tensor]:
    """An official tokenizer state dict: ``"ema"`` when present and ``prefer_ema`` (as the c2i ``vq_demo.py``
    does), else ``"model"`` (what the t2i sample scripts load)."""
    entries = ("ema", "model", "state_dict") if prefer_ema else ("model", "state_dict")
    return read_state_dict(path, entries=entries)


def load_llamagen_official(vq_path: str | Path, gpt_path: str | Path, preset: str = "llamagen-b",
                           device: torch.device | str | None = None,
                           configs: tuple[LlamaGenVQConfig, LlamaGenConfig] | None = None) -> tuple[LlamaGenVQ, LlamaGen]:
    """Load official-format ``vq_ds16_c2i.pt`` and ``c2i_*.pt`` files (strict) into the ``preset``'s
    architecture (or ``configs``). The token grid (256 vs 384 px) is the preset's: the keys do not say it."""
    if configs is None:
        if preset not in LLAMAGEN_PRESETS:
            raise ValueError(f"preset must be one of {sorted(LLAMAGEN_PRESETS)}, got {preset!r}")
        configs = LLAMAGEN_PRESETS[preset]
    gpt_state = read_official_gpt(gpt_path)
    vq_state = read_official_vq(vq_path, prefer_ema=configs[1].model_type == "c2i")
    with torch.device("meta"):  # no random init of weights that are overwritten at once
        vq, gpt = build_llamagen(*configs)
    vq.to_empty(device="cpu")
    gpt.to_empty(device="cpu")
    gpt.reset_rope()
    load_state_strict(vq, vq_state, str(vq_path))
    load_state_strict(gpt, gpt_state, str(gpt_path))
    vq.eval().requires_grad_(False)
    gpt.eval()
    return vq.to(device), gpt.to(device)


def load_llamagen_pretrained(name: str = "llamagen-b", vq_path: str | Path | None = None,
                             gpt_path: str | Path | None = None, device: torch.device | str | None = None,
                             cache_dir: str | None = None) -> tuple[LlamaGenVQ, LlamaGen]:
    """A released LlamaGen (``llamagen-b`` ... ``llamagen-3b``) from local files or the Hugging Face cache."""
    from vargym.netcheck import hub_file

    if name in OWN_LLAMAGEN:
        raise ValueError(f"{name!r} is one of vargym's own architectures, with no released weights: use "
                         f"load_generator('{name}') for the shipped model or 'random:{name}'")
    if name not in RELEASED_FILES:
        raise ValueError(f"unknown LlamaGen release {name!r}; choose one of {sorted(RELEASED_FILES)}")
    option = "vq_path=/gpt_path= (CLI: --model-file vq_path=PATH --model-file gpt_path=PATH)"
    repo, vq_file = RELEASE_SOURCES[name]

    def fetch(filename: str) -> Path:
        return Path(hub_file(repo, (filename,), f"the LlamaGen weights {filename}", f"pass {option}", cache_dir,
                             revision=HF_REVISION))

    vq_path = Path(vq_path) if vq_path else fetch(vq_file)
    gpt_path = Path(gpt_path) if gpt_path else fetch(RELEASED_FILES[name])
    return load_llamagen_official(vq_path, gpt_path, preset=name, device=device)


def save_llamagen_checkpoint(directory: str | Path, vq: LlamaGenVQ, gpt: LlamaGen, extra: dict | None = None) -> Path:
    """Write ``vq.safetensors``, ``gpt.safetensors`` and ``model.json`` (configs + ``extra``)."""
    return save_model_dir(directory, "llamagen", {"vq": vq, "gpt": gpt}, extra)


def load_llamagen_checkpoint(directory: str | Path, device: torch.device | str | None = None) -> tuple[LlamaGenVQ, LlamaGen]:
    """Load a directory written by `save_llamagen_checkpoint` (strict keys and shapes)."""
    vq_cfg, gpt_cfg = read_model_configs(directory, "llamagen", "LlamaGen", {"vq": LlamaGenVQConfig,
                                                                             "gpt": LlamaGenConfig})
    vq, gpt = build_llamagen(vq_cfg, gpt_cfg)
    load_model_parts(directory, {"vq": vq, "gpt": gpt})
    vq.eval().requires_grad_(False)
    gpt.eval()
    return vq.to(device), gpt.to(device)
