"""Generator families and the one entry point that turns a ``--model`` spec into a `Generator`.

The layers above `vargym.models` call `as_generator` / `load_generator` and never import a family's
module. A new family adds its `Generator` subclass here and its specs to `load_generator`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from vargym.models.generator import Generator

__all__ = ["as_generator", "load_generator", "released_weight_files", "shipped_models"]


def load_generator(spec: str | Path = "tiny", device: torch.device | str | None = None, **kwargs: Any) -> Generator:
    """A `Generator` from a ``--model`` spec: ``"tiny"`` (shipped), a released preset (``"var-d16"``, downloaded
    or from local files given as ``vae_path=``/``var_path=``), ``"random:<preset>"``, a model directory
    written by vargym, or a training run directory (its newest checkpoint). A `pathlib.Path` is always
    read as a directory (its error says what the directory lacks)."""
    import json

    from vargym.models.files import TINY_DIR
    from vargym.models.loading import load_checkpoint, load_model, model_dir
    from vargym.models.presets import RELEASED_PRESETS
    from vargym.models.var_generator import VARGenerator

    named = isinstance(spec, str) and (spec == "tiny" or spec.startswith("random:") or spec in RELEASED_PRESETS)
    if isinstance(spec, Path) or (not named and Path(spec).is_dir()):
        directory = model_dir(spec)
        meta = json.loads((directory / "model.json").read_text())
        if "lora" in meta:
            return _load_adapters(directory, meta, device)
        generator = VARGenerator(*load_checkpoint(directory, device=device))
    else:
        generator = VARGenerator(*load_model(spec, device=device, **kwargs))
        directory = TINY_DIR if spec == "tiny" else None
    if directory is not None:
        names = json.loads((directory / "model.json").read_text()).get("class_names")
        if isinstance(names, list) and len(names) == generator.num_classes:
            generator.class_names = [str(n) for n in names]
    return generator


def _load_adapters(directory: Path, meta: dict, device: torch.device | str | None) -> Generator:
    """A LoRA checkpoint: rebuild the base generator as the run did (same spec and seed), add the adapters."""
    from safetensors.torch import load_file

    from vargym.errors import CheckpointError
    from vargym.models.lora import LoRAConfig, load_lora_state_dict

    with torch.random.fork_rng(devices=[]):  # a random:<preset> base is rebuilt from its seed
        torch.manual_seed(int(meta.get("base_seed", 0)))
        generator = load_generator(meta["base_model"], device=device, **meta.get("base_files", {}))
        config = meta["lora"]
        generator.apply_lora(LoRAConfig(rank=config["rank"], alpha=config["alpha"], targets=tuple(config["targets"])))
    try:
        adapters = load_file(str(directory / "lora.safetensors"), device=str(generator.device))
        load_lora_state_dict(generator.policy, adapters)
    except Exception as e:
        raise CheckpointError(f"the LoRA adapters in {directory} cannot be read or do not fit: {e}") from e
    return generator


def shipped_models() -> dict[str, bool]:
    """The models shipped inside the package, and whether their files are present."""
    from vargym.models.loading import TINY_DIR

    return {"tiny": (TINY_DIR / "model.json").is_file()}


def released_weight_files() -> list[tuple[str, str, str]]:
    """``(hub repo, file name, revision)`` of every released checkpoint the families can download."""
    from vargym.models.loading import HF_REPO_ID, HF_REVISION, VQVAE_FILE

    names = (VQVAE_FILE, "var_d16.pth", "var_d20.pth", "var_d24.pth", "var_d30.pth")
    return [(HF_REPO_ID, name, HF_REVISION) for name in names]


def as_generator(model: Any, device: torch.device | str | None = None, num_classes: int | None = None) -> Generator:
    """Accept what users pass as ``model=``: a `Generator`, a ``load_model`` spec string or path, a family's
    ``(tokenizer, network)`` tuple, its network alone (with the tokenizer attached), or a bare tokenizer
    (decode-only; then ``num_classes`` is needed). The result is moved to ``device`` when one is given."""
    from vargym.models.var import VAR
    from vargym.models.var_generator import VARGenerator
    from vargym.models.vqvae import VQVAE

    if isinstance(model, Generator):
        gen = model
    elif isinstance(model, (str, Path)):
        return load_generator(model, device=device)
    elif isinstance(model, tuple) and len(model) == 2 and isinstance(model[0], VQVAE):
        gen = VARGenerator(model[0], model[1])
    elif isinstance(model, VQVAE):
        gen = VARGenerator(model, None, num_classes=num_classes)
    elif isinstance(model, VAR):
        gen = VARGenerator(model.vqvae, model)
    else:
        raise TypeError(
            f"model must be a Generator, a (vqvae, var) tuple, a VQVAE, a VAR or a load_model spec string, "
            f"got {type(model).__name__}"
        )
    return gen.to(device)
