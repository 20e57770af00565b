"""Loading: official VAR checkpoints (Hugging Face ``FoundationVision/var``), our own safetensors checkpoints,
and the shipped tiny default.

Official files are flat ``torch.save`` state dicts; they load with ``weights_only=True`` and ``strict=True``.
Downloads go through huggingface_hub's cache. Offline (``HF_HUB_OFFLINE=1``, or the hub unreachable) an
uncached file raises ``WeightsNotAvailableError`` at once, naming the file, the repo and the local-path option.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from vargym.errors import CheckpointError
from vargym.models.files import (
    load_model_parts,
    load_state_strict,
    read_model_configs,
    read_state_dict,
    save_model_dir,
)
from vargym.models.var.presets import OWN_PRESETS, PRESETS, RELEASED_PRESETS, build
from vargym.models.var.transformer import VAR, VARConfig
from vargym.models.var.vqvae import VQVAE, VQVAEConfig

HF_REPO_ID = "FoundationVision/var"
# The hub's main branch; the d16/d20/d30 files were last updated in April 2024 (commit 367386c for d20),
# matching the current key names (`attn_l2_norm` era). Pin a full commit hash here once verified online.
HF_REVISION = "main"
VQVAE_FILE = "vae_ch160v4096z32.pth"


def _depth_of(state: dict[str, torch.Tensor]) -> int:
    blocks = {int(k.split(".")[1]) for k in state if k.startswith("blocks.")}
    if not blocks:
        raise CheckpointError("VAR checkpoint has no `blocks.*` keys")
    return max(blocks) + 1


def load_official(vae_path: str | Path, var_path: str | Path, depth: int | None = None,
                  device: torch.device | str | None = None,
                  configs: tuple[VQVAEConfig, VARConfig] | None = None) -> tuple[VQVAE, VAR]:
    """Load official-format ``vae_ch160v4096z32.pth`` and ``var_d{depth}.pth`` state dicts (strict).

    ``depth`` is read from the checkpoint when omitted; ``configs`` overrides the preset for models of other
    shapes saved in the same format. Returns (VQVAE, VAR) in eval mode on ``device``.
    """
    var_state = read_state_dict(var_path)
    vae_state = read_state_dict(vae_path)
    if configs is None:
        depth = depth or _depth_of(var_state)
        name = f"var-d{depth}"
        if name not in RELEASED_PRESETS:
            raise ValueError(f"depth must be one of 16, 20, 24, 30 for official checkpoints, got {depth}")
        configs = PRESETS[name]
    with torch.device("meta"):  # no random init of ~1 GB that is overwritten at once
        vqvae, var = build(*configs)
    vqvae.to_empty(device="cpu")
    var.to_empty(device="cpu")
    load_state_strict(vqvae, vae_state, str(vae_path))
    load_state_strict(var, var_state, str(var_path))
    vqvae.eval().requires_grad_(False)
    var.eval()
    return vqvae.to(device), var.to(device)


def _hub(filename: str, option: str, cache_dir: str | None) -> Path:
    from vargym.netcheck import hub_file

    return Path(hub_file(HF_REPO_ID, (filename,), f"the VAR weights {filename}", f"pass {option}", cache_dir,
                         revision=HF_REVISION))


def load_var_pretrained(name: str = "var-d16", vae_path: str | Path | None = None, var_path: str | Path | None = None,
                        device: torch.device | str | None = None, cache_dir: str | None = None) -> tuple[VQVAE, VAR]:
    """A released VAR (``"var-d16" | "var-d20" | "var-d24" | "var-d30"``, 256 px, ImageNet classes) as
    (VQVAE, VAR), from ``vae_path`` / ``var_path`` when given, else from the Hugging Face cache (downloaded
    once). `vargym.models.load_pretrained` reaches every family's releases."""
    if name in OWN_PRESETS:
        raise ValueError(f"{name!r} is one of vargym's own architectures, with no released weights: use "
                         f"load_generator('tiny') for the shipped model, 'random:{name}', or a `vargym pretrain` output")
    if name not in RELEASED_PRESETS:
        raise ValueError(f"unknown VAR release {name!r}; choose one of {sorted(RELEASED_PRESETS)}")
    depth = int(name.removeprefix("var-d"))
    option = "vae_path=/var_path= (CLI: --model-file vae_path=PATH --model-file var_path=PATH)"
    vae_path = Path(vae_path) if vae_path else _hub(VQVAE_FILE, option, cache_dir)
    var_path = Path(var_path) if var_path else _hub(f"var_d{depth}.pth", option, cache_dir)
    return load_official(vae_path, var_path, depth=depth, device=device)


# ------------------------------------------------------------------------------------------- our checkpoints
def save_checkpoint(directory: str | Path, vqvae: VQVAE, var: VAR, extra: dict | None = None) -> Path:
    """Write ``vqvae.safetensors``, ``var.safetensors`` and ``model.json`` (configs + ``extra``) to ``directory``."""
    return save_model_dir(directory, "var", {"vqvae": vqvae, "var": var}, extra)


def load_checkpoint(directory: str | Path, device: torch.device | str | None = None) -> tuple[VQVAE, VAR]:
    """Load a directory written by ``save_checkpoint`` (strict keys and shapes)."""
    vqvae_cfg, var_cfg = read_model_configs(directory, "var", "VAR", {"vqvae": VQVAEConfig, "var": VARConfig})
    vqvae, var = build(vqvae_cfg, var_cfg)
    load_model_parts(directory, {"vqvae": vqvae, "var": var})
    vqvae.eval().requires_grad_(False)
    var.eval()
    return vqvae.to(device), var.to(device)


def load_model(spec: str | Path = "tiny", device: torch.device | str | None = None, **kwargs) -> tuple[VQVAE, VAR]:
    """A VAR-family ``--model`` spec as ``(vqvae, var)``: `vargym.models.load_generator` (the one entry point,
    for every family) with the VAR family's parts unpacked."""
    generator = load_generator_of_family(spec, "var", device, **kwargs)
    return generator.vqvae, generator.var


def load_generator_of_family(spec: str | Path, family: str, device: torch.device | str | None = None, **kwargs):
    """`vargym.models.load_generator`, refusing a model of another family by name."""
    from vargym.models.families import load_generator

    generator = load_generator(spec, device=device, **kwargs)
    if generator.family != family:
        raise ValueError(f"{str(spec)!r} is a {generator.family} model; this function loads {family} models only")
    return generator


def load_pretrained(name: str = "var-d16", device: torch.device | str | None = None, **files: Any):
    """Deprecated here: `vargym.models.load_pretrained`, which reaches every family's releases."""
    from vargym.deprecation import warn_renamed
    from vargym.models.families import load_pretrained as load_any

    warn_renamed("vargym.models.var.loading.load_pretrained", "vargym.models.load_pretrained")
    return load_any(name, device=device, **files)


def hub_file(filename: str, repo_id: str = HF_REPO_ID, revision: str = HF_REVISION, option: str = "local paths",
             cache_dir: str | None = None) -> Path:
    """Deprecated: `vargym.netcheck.hub_file`, the one download helper (several candidate files, a ``what``)."""
    from vargym.deprecation import warn_renamed
    from vargym.netcheck import hub_file as fetch

    warn_renamed("vargym.models.var.loading.hub_file", "vargym.netcheck.hub_file")
    return Path(fetch(repo_id, (filename,), filename, f"pass {option}", cache_dir, revision=revision))
