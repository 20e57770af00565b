"""Loading: official VAR checkpoints (Hugging Face ``FoundationVision/var``), our own safetensors checkpoints,
and the shipped tiny default.

Official files are flat ``torch.save`` state dicts; they load with ``weights_only=True`` and ``strict=True``.
Downloads go through huggingface_hub's cache. Offline (``HF_HUB_OFFLINE=1``, or the hub unreachable) an
uncached file raises ``WeightsNotAvailableError`` at once, naming the file, the repo and the local-path option.
"""

from __future__ import annotations

from pathlib import Path

import torch

from vargym.errors import CheckpointError, WeightsNotAvailableError
from vargym.models.files import (
    load_model_parts,
    load_state_strict,
    read_model_configs,
    read_state_dict,
    save_model_dir,
)
from vargym.models.presets import OWN_PRESETS, RELEASED_PRESETS, build, preset_configs
from vargym.models.var import VAR, VARConfig
from vargym.models.vqvae import VQVAE, VQVAEConfig
from vargym.netcheck import host_reachable, offline_mode

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
        configs = preset_configs(name)
    with torch.device("meta"):  # no random init of ~1 GB that is overwritten at once
        vqvae, var = build(*configs)
    vqvae.to_empty(device="cpu")
    var.to_empty(device="cpu")
    load_state_strict(vqvae, vae_state, str(vae_path))
    load_state_strict(var, var_state, str(var_path))
    vqvae.eval().requires_grad_(False)
    var.eval()
    return vqvae.to(device), var.to(device)


def hub_file(filename: str, repo_id: str = HF_REPO_ID, revision: str = HF_REVISION, option: str = "local paths",
             cache_dir: str | None = None) -> Path:
    """A file of a Hugging Face repo from the local cache, downloaded if needed and possible."""
    from huggingface_hub import hf_hub_download, try_to_load_from_cache

    cached = try_to_load_from_cache(repo_id, filename, revision=revision, cache_dir=cache_dir)
    if isinstance(cached, str):
        return Path(cached)
    offline = offline_mode()
    if offline or not host_reachable("huggingface.co"):
        why = "HF_HUB_OFFLINE is set" if offline else "huggingface.co is unreachable"
        raise WeightsNotAvailableError(
            f"{filename} from the Hugging Face repo {repo_id!r} is not cached and {why}. Download it on a machine "
            f"with network access (https://huggingface.co/{repo_id}/resolve/{revision}/{filename}) and pass {option}."
        )
    return Path(hf_hub_download(repo_id, filename, revision=revision, cache_dir=cache_dir))


def load_pretrained(name: str = "var-d16", vae_path: str | Path | None = None, var_path: str | Path | None = None,
                    device: torch.device | str | None = None, cache_dir: str | None = None, **files: str | Path):
    """The released models: ``"var-d16" | "var-d20" | "var-d24" | "var-d30"`` (256 px) -> (VQVAE, VAR), and
    ``"llamagen-b" | "llamagen-l"`` (256 px) ``| "llamagen-xl" | "llamagen-xxl" | "llamagen-3b"`` (384 px)
    -> (LlamaGenVQ, LlamaGen); ImageNet classes.

    Files come from ``vae_path`` / ``var_path`` (LlamaGen: ``vq_path`` / ``gpt_path``) when given, else from
    the Hugging Face cache (downloaded once).
    """
    from vargym.models.presets import preset_family

    if preset_family(name) == "llamagen":  # validates the name
        from vargym.models.llamagen_loading import load_llamagen_pretrained

        return load_llamagen_pretrained(name, device=device, cache_dir=cache_dir, **files)
    if files:
        raise TypeError(f"unexpected file argument(s) {sorted(files)} for {name!r}; VAR takes vae_path= and var_path=")
    if name in OWN_PRESETS:
        raise ValueError(f"{name!r} is one of vargym's own architectures, with no released weights: use "
                         f"load_model('tiny') for the shipped model, 'random:{name}', or a `vargym pretrain` output")
    depth = int(name.removeprefix("var-d"))
    option = "vae_path=/var_path= (CLI: --vae-path/--var-path)"
    vae_path = Path(vae_path) if vae_path else hub_file(VQVAE_FILE, option=option, cache_dir=cache_dir)
    var_path = Path(var_path) if var_path else hub_file(f"var_d{depth}.pth", option=option, cache_dir=cache_dir)
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


def model_dir(path: str | Path) -> Path:
    """A model directory (holding ``model.json``) itself, or the newest checkpoint of a training run
    (``<run>/checkpoints/<name>/model.json``, newest by name: names are zero-padded iterations)."""
    path = Path(path)
    if (path / "model.json").is_file():
        return path
    folder = path / "checkpoints" if (path / "checkpoints").is_dir() else path
    found = sorted(p for p in folder.iterdir() if (p / "model.json").is_file()) if folder.is_dir() else []
    if not found:
        raise WeightsNotAvailableError(f"{path} holds no model: expected {path}/model.json or a training run "
                                       f"with {path}/checkpoints/<iteration>/model.json")
    return found[-1]
