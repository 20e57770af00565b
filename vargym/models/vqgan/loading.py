"""Loading the taming-transformers models: the released cIN checkpoint (a PyTorch-Lightning file whose
``state_dict`` holds ``first_stage_model.*`` and ``transformer.*``), its ``project.yaml``, and vargym's own
safetensors directories.

Official files load strictly with ``weights_only=True``: only the GPT's causal-mask buffers
(``transformer.blocks.{i}.attn.mask``, checked to be causal) and the VQGAN's training-loss modules
(``loss.*``, in standalone VQGAN files) are dropped by name.
"""

from __future__ import annotations

import re
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
from vargym.models.vqgan.presets import CIN_SOURCE, VQGAN_PRESETS, build_vqgan
from vargym.models.vqgan.transformer import MinGPT, MinGPTConfig
from vargym.models.vqgan.vq import VQGAN, VQGANConfig

__all__ = ["load_vqgan_checkpoint", "load_vqgan_official", "load_vqgan_pretrained", "read_project_yaml",
           "save_vqgan_checkpoint", "split_net2net_state"]

OPTION = "--model-file ckpt_path=PATH [--model-file config_path=PATH] (Python: ckpt_path=, config_path=)"
_MASK = re.compile(r"^blocks\.\d+\.attn\.mask$")
_UNPICKLABLE_HINT = (
    "Lightning checkpoints may hold Python objects besides tensors, which torch.load(weights_only=True) refuses. "
    "If you trust the file, extract its weights once:\n"
    "  python -c \"import torch, safetensors.torch as st; sd = torch.load('last.ckpt', map_location='cpu', "
    "weights_only=False)['state_dict']; st.save_file({k: v.contiguous() for k, v in sd.items()}, 'cin.safetensors')\"\n"
    "and pass ckpt_path=cin.safetensors."
)


def read_net2net_state(path: str | Path) -> dict[str, torch.Tensor]:
    """The ``state_dict`` of a Lightning checkpoint (or a flat ``.safetensors`` of the same keys)."""
    try:
        return read_state_dict(path, entries=("state_dict",))
    except CheckpointError as e:
        raise CheckpointError(f"{e}\n{_UNPICKLABLE_HINT}") from e


def split_net2net_state(state: dict[str, torch.Tensor], source: str) -> tuple[dict, dict]:
    """A ``Net2NetTransformer`` state dict -> (VQGAN keys, GPT keys), prefixes stripped, the causal-mask
    buffers and ``loss.*`` dropped; keys under any other prefix raise."""
    vq, gpt, other = {}, {}, []
    for key, value in state.items():
        if key.startswith("first_stage_model."):
            name = key.removeprefix("first_stage_model.")
            if not name.startswith("loss."):
                vq[name] = value
        elif key.startswith("transformer."):
            name = key.removeprefix("transformer.")
            if _MASK.match(name):
                n = value.shape[-1]
                if value.shape != (1, 1, n, n) or not torch.equal(value.bool(), torch.ones(n, n).tril().bool()[None, None]):
                    raise CheckpointError(f"{source}: {key} is not a causal mask (n_unmasked > 0 is not supported)")
            else:
                gpt[name] = value
        else:
            other.append(key)
    if other:
        raise CheckpointError(f"{source}: keys outside first_stage_model./transformer.: {sorted(other)[:8]} "
                              f"(is this a class-conditional Net2NetTransformer checkpoint?)")
    if not vq or not gpt:
        raise CheckpointError(f"{source}: expected first_stage_model.* and transformer.* keys (a Net2NetTransformer "
                              f"checkpoint), got {'no VQGAN' if not vq else 'no transformer'} keys")
    return vq, gpt


def read_project_yaml(path: str | Path) -> tuple[VQGANConfig, MinGPTConfig]:
    """The (VQGAN, GPT) configs of a released ``configs/*-project.yaml`` (``model.params``: the transformer,
    first-stage and conditioning-stage configs)."""
    import yaml

    path = Path(path)
    if not path.is_file():
        raise WeightsNotAvailableError(f"config file {path} does not exist")
    try:
        params = yaml.safe_load(path.read_text())["model"]["params"]
        gpt = dict(params["transformer_config"]["params"])
        first = params["first_stage_config"]["params"]
        cond = params.get("cond_stage_config", {})
        dd = dict(first["ddconfig"])
    except (yaml.YAMLError, KeyError, TypeError) as e:
        raise CheckpointError(f"{path} is not a taming-transformers project.yaml with model.params."
                              f"transformer_config/first_stage_config: {e}") from e
    if not isinstance(cond, dict) or not str(cond.get("target", "")).endswith("Labelator"):
        raise CheckpointError(f"{path}: only class-conditional models (cond_stage_config: Labelator) are supported, "
                              f"got {cond if isinstance(cond, str) else cond.get('target')!r}")
    try:
        vq_cfg = VQGANConfig(n_embed=first["n_embed"], embed_dim=first["embed_dim"], **dd)
        gpt_cfg = MinGPTConfig(num_classes=cond.get("params", {}).get("n_classes", 1000), **gpt)
    except TypeError as e:
        raise CheckpointError(f"{path}: unknown configuration field: {e}") from e
    return vq_cfg, gpt_cfg


def load_vqgan_official(ckpt_path: str | Path, preset: str = "vqgan-cin", config_path: str | Path | None = None,
                        device: torch.device | str | None = None,
                        configs: tuple[VQGANConfig, MinGPTConfig] | None = None) -> tuple[VQGAN, MinGPT]:
    """Load an official ``last.ckpt`` (strict) into the architecture of ``config_path`` (its project.yaml),
    else ``configs``, else the ``preset``'s."""
    if config_path is not None:
        configs = read_project_yaml(config_path)
    elif configs is None:
        if preset not in VQGAN_PRESETS:
            raise ValueError(f"preset must be one of {sorted(VQGAN_PRESETS)}, got {preset!r}")
        configs = VQGAN_PRESETS[preset]
    vq_state, gpt_state = split_net2net_state(read_net2net_state(ckpt_path), str(ckpt_path))
    with torch.device("meta"):  # no random init of weights that are overwritten at once
        vq, gpt = build_vqgan(*configs)
    vq.to_empty(device="cpu")
    gpt.to_empty(device="cpu")
    load_state_strict(vq, vq_state, f"{ckpt_path} (first_stage_model)")
    load_state_strict(gpt, gpt_state, f"{ckpt_path} (transformer)")
    vq.eval().requires_grad_(False)
    gpt.eval()
    return vq.to(device), gpt.to(device)


def load_vqgan_pretrained(name: str = "vqgan-cin", ckpt_path: str | Path | None = None,
                          config_path: str | Path | None = None, device: torch.device | str | None = None,
                          cache_dir: str | None = None) -> tuple[VQGAN, MinGPT]:
    """The released cIN model from its local files. The weights are not on the Hugging Face hub, so nothing is
    downloaded: without ``ckpt_path`` this raises at once, saying where the files come from."""
    if name != "vqgan-cin":
        raise ValueError(f"unknown taming-transformers release {name!r}; the released one is 'vqgan-cin'")
    if ckpt_path is None:
        folder, url = CIN_SOURCE
        raise WeightsNotAvailableError(
            f"the {name} weights (taming-transformers' {folder}, about 6 GB) are not on the Hugging Face hub, so "
            f"vargym cannot fetch them: download the folder from {url} (the taming-transformers README's link), "
            f"then pass {OPTION} with ckpt_path=<folder>/checkpoints/last.ckpt and "
            f"config_path=<folder>/configs/2021-04-03T19-39-50-project.yaml")
    return load_vqgan_official(ckpt_path, name, config_path, device)


def save_vqgan_checkpoint(directory: str | Path, vq: VQGAN, gpt: MinGPT, extra: dict | None = None) -> Path:
    """Write ``vq.safetensors``, ``gpt.safetensors`` and ``model.json`` (configs + ``extra``)."""
    return save_model_dir(directory, "vqgan", {"vq": vq, "gpt": gpt}, extra)


def load_vqgan_checkpoint(directory: str | Path, device: torch.device | str | None = None) -> tuple[VQGAN, MinGPT]:
    """Load a directory written by `save_vqgan_checkpoint` (strict keys and shapes)."""
    vq_cfg, gpt_cfg = read_model_configs(directory, "vqgan", "VQGAN", {"vq": VQGANConfig, "gpt": MinGPTConfig})
    vq, gpt = build_vqgan(vq_cfg, gpt_cfg)
    load_model_parts(directory, {"vq": vq, "gpt": gpt})
    vq.eval().requires_grad_(False)
    gpt.eval()
    return vq.to(device), gpt.to(device)
