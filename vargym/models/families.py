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


def load_generator(spec: str | Path = "tiny", device: torch.device | str | None = None,
                   tokens_per_step: int | None = None, **kwargs: Any) -> Generator:
    """A `Generator` from a ``--model`` spec: ``"tiny"`` / ``"tiny-llamagen"`` (shipped), a released preset
    (``"var-d16"``, ``"llamagen-b"``: downloaded, or from local files given as ``vae_path=``/``var_path=``
    for VAR and ``vq_path=``/``gpt_path=`` for LlamaGen), ``"random:<preset>"``, a model directory written
    by vargym, or a training run directory (its newest checkpoint). A `pathlib.Path` is always read as a
    directory (its error says what the directory lacks). ``tokens_per_step`` sets a raster model's env step
    (VAR's steps are its scales)."""
    import json

    from vargym.models.files import TINY_DIR, TINY_LLAMAGEN_DIR
    from vargym.models.llamagen_presets import RELEASED_LLAMAGEN
    from vargym.models.loading import model_dir
    from vargym.models.presets import RELEASED_PRESETS, build_preset, preset_family

    named = isinstance(spec, str) and (spec in ("tiny", "tiny-llamagen") or spec.startswith("random:")
                                       or spec in RELEASED_PRESETS or spec in RELEASED_LLAMAGEN)
    directory = None
    if isinstance(spec, Path) or (not named and Path(spec).is_dir()):
        directory = model_dir(spec)
    elif spec == "tiny":
        directory = _shipped(TINY_DIR, spec)
    elif spec == "tiny-llamagen":
        directory = _shipped(TINY_LLAMAGEN_DIR, spec)
    if directory is not None:
        meta = json.loads((directory / "model.json").read_text())
        if "lora" in meta:
            generator = _load_adapters(directory, meta, device)
        else:
            generator = _from_directory(directory, meta.get("family", "var"), device)
        names = meta.get("class_names")
        if isinstance(names, list) and len(names) == generator.num_classes:
            generator.class_names = [str(n) for n in names]
    elif spec.startswith("random:"):
        preset = spec.removeprefix("random:")
        generator = _wrap(preset_family(preset), *build_preset(preset))
        generator.policy.eval()
        generator.to(device)
    elif spec in RELEASED_LLAMAGEN:
        from vargym.models.llamagen_loading import load_llamagen_pretrained

        generator = _wrap("llamagen", *load_llamagen_pretrained(spec, device=device, **kwargs))
    elif named:
        from vargym.models.loading import load_pretrained

        generator = _wrap("var", *load_pretrained(spec, device=device, **kwargs))
    else:
        choices = sorted({"tiny", "tiny-llamagen", *RELEASED_PRESETS, *RELEASED_LLAMAGEN})
        raise ValueError(f"unknown model {spec!r}: use one of {choices}, 'random:<preset>', or a checkpoint "
                         f"directory")
    if tokens_per_step is not None:
        generator.set_tokens_per_step(tokens_per_step)
    return generator


def _shipped(directory: Path, name: str) -> Path:
    from vargym.errors import WeightsNotAvailableError

    if not (directory / "model.json").is_file():
        raise WeightsNotAvailableError(f"the shipped {name} model is missing from {directory}; reinstall vargym or "
                                       f"run `vargym pretrain` and pass its output directory as --model")
    return directory


def _wrap(family: str, tokenizer: Any, network: Any) -> Generator:
    if family == "llamagen":
        from vargym.models.llamagen_generator import LlamaGenGenerator

        return LlamaGenGenerator(tokenizer, network)
    from vargym.models.var_generator import VARGenerator

    return VARGenerator(tokenizer, network)


def _from_directory(directory: Path, family: str, device: torch.device | str | None) -> Generator:
    if family == "llamagen":
        from vargym.models.llamagen_loading import load_llamagen_checkpoint

        return _wrap(family, *load_llamagen_checkpoint(directory, device=device))
    if family == "var":
        from vargym.models.loading import load_checkpoint

        return _wrap(family, *load_checkpoint(directory, device=device))
    from vargym.errors import CheckpointError

    raise CheckpointError(f"{directory}/model.json names the family {family!r}; known: ['llamagen', 'var']")


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
    from vargym.models.files import TINY_DIR, TINY_LLAMAGEN_DIR

    return {"tiny": (TINY_DIR / "model.json").is_file(),
            "tiny-llamagen": (TINY_LLAMAGEN_DIR / "model.json").is_file()}


def released_weight_files() -> list[tuple[str, str, str]]:
    """``(hub repo, file name, revision)`` of every released checkpoint the families can download."""
    from vargym.models import llamagen_loading as lg
    from vargym.models.llamagen_presets import RELEASED_FILES
    from vargym.models.loading import HF_REPO_ID, HF_REVISION, VQVAE_FILE

    names = (VQVAE_FILE, "var_d16.pth", "var_d20.pth", "var_d24.pth", "var_d30.pth")
    return ([(HF_REPO_ID, name, HF_REVISION) for name in names]
            + [(lg.HF_REPO_ID, name, lg.HF_REVISION) for name in (lg.VQ_FILE, *RELEASED_FILES.values())])


def as_generator(model: Any, device: torch.device | str | None = None, num_classes: int | None = None) -> Generator:
    """Accept what users pass as ``model=``: a `Generator`, a ``load_model`` spec string or path, a family's
    ``(tokenizer, network)`` tuple, its network alone (with the tokenizer attached), or a bare tokenizer
    (decode-only; then ``num_classes`` is needed). The result is moved to ``device`` when one is given."""
    from vargym.models.llamagen import LlamaGen
    from vargym.models.llamagen_generator import LlamaGenGenerator
    from vargym.models.llamagen_vq import LlamaGenVQ
    from vargym.models.var import VAR
    from vargym.models.var_generator import VARGenerator
    from vargym.models.vqvae import VQVAE

    if isinstance(model, Generator):
        gen = model
    elif isinstance(model, (str, Path)):
        return load_generator(model, device=device)
    elif isinstance(model, tuple) and len(model) == 2 and isinstance(model[0], VQVAE):
        gen = VARGenerator(model[0], model[1])
    elif isinstance(model, tuple) and len(model) == 2 and isinstance(model[0], LlamaGenVQ):
        gen = LlamaGenGenerator(model[0], model[1])
    elif isinstance(model, LlamaGen):
        raise TypeError("a LlamaGen GPT alone cannot decode images: pass (vq, gpt)")
    elif isinstance(model, VQVAE):
        gen = VARGenerator(model, None, num_classes=num_classes)
    elif isinstance(model, VAR):
        gen = VARGenerator(model.vqvae, model)
    else:
        raise TypeError(
            f"model must be a Generator, a (vqvae, var) or (vq, gpt) tuple, a VQVAE, a VAR or a model spec string, "
            f"got {type(model).__name__}"
        )
    return gen.to(device)
