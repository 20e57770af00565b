"""The one entry point that turns a ``--model`` spec into a `Generator`, dispatching through the family
registry (`vargym.models.registry`).

The layers above `vargym.models` call `as_generator` / `load_generator` and never import a family's
module. A new family registers a `vargym.models.registry.Family` and needs no change here.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from vargym.models.generator import Generator
from vargym.models.registry import families, family_of_preset, get_family

__all__ = ["as_generator", "load_generator", "load_pretrained", "model_names", "released_weight_files",
           "shipped_models", "training_defaults"]


def model_names() -> list[str]:
    """Every named ``--model`` (shipped models and released presets of every family)."""
    return sorted(n for family in families() for n in family.names())


def load_generator(spec: str | Path = "tiny", device: torch.device | str | None = None,
                   tokens_per_step: int | None = None, text_encoder: Any = None, **files: Any) -> Generator:
    """A `Generator` from a ``--model`` spec: a shipped model (``"tiny"``, ``"tiny-llamagen"``), a released
    preset (``"var-d16"``, ``"llamagen-b"``: downloaded, or from local weight files given by their family's
    keys, e.g. ``vae_path=``/``var_path=`` for VAR and ``vq_path=``/``gpt_path=`` for LlamaGen),
    ``"random:<preset>"``, a model directory written by vargym, or a training run directory (its newest
    checkpoint). A `pathlib.Path` is always read as a directory (its error says what the directory lacks).
    ``tokens_per_step`` sets a raster model's env step (VAR's steps are its scales). ``text_encoder`` gives a
    text-conditional model its encoder (a `vargym.models.text.TextEncoder`, a T5 folder or repo id, or a
    ``.safetensors`` features file from ``vargym encode-prompts``); a class-conditional model refuses one."""
    import json

    from vargym.models.files import ASSETS, model_dir
    from vargym.naming import did_you_mean

    named = {n: f for f in families() for n in f.names()}
    is_name = isinstance(spec, str) and (spec in named or spec.startswith("random:"))
    directory = None
    if isinstance(spec, Path) or (not is_name and Path(spec).is_dir()):
        directory = model_dir(spec)
    elif spec in named and spec in named[spec].shipped:
        directory = _shipped(ASSETS / named[spec].shipped[spec], spec)
    if files and (directory is not None or not is_name or spec.startswith("random:")):
        raise ValueError(f"weight files {sorted(files)} apply to a released preset only, not to {str(spec)!r}")
    if directory is not None:
        meta = json.loads((directory / "model.json").read_text())
        if "lora" in meta:
            generator = _load_adapters(directory, meta, device, text_encoder)
        else:
            family = _directory_family(directory, meta.get("family", "var"))
            generator = family.module.load_directory(directory, device, **_text(family, text_encoder, spec))
        names = meta.get("class_names")
        if isinstance(names, list) and len(names) == generator.num_classes:
            generator.class_names = [str(n) for n in names]
    elif spec.startswith("random:"):
        preset = spec.removeprefix("random:")
        family = family_of_preset(preset)
        generator = family.module.build(preset, **_text(family, text_encoder, spec))
        generator.policy.eval()
        generator.to(device)
    elif spec in named:
        family = named[spec]
        unknown = sorted(set(files) - set(family.weight_files))
        if unknown:
            raise ValueError(f"{spec} ({family.name}) takes the weight files {list(family.weight_files)}, "
                             f"got {unknown}")
        generator = family.module.load_released(spec, device=device, **_text(family, text_encoder, spec), **files)
    else:
        choices = model_names()
        raise ValueError(f"unknown model {spec!r}: use one of {choices}, 'random:<preset>', or a checkpoint "
                         f"directory.{did_you_mean(str(spec), choices)}")
    if tokens_per_step is not None:
        generator.set_tokens_per_step(tokens_per_step)
    return generator


def training_defaults(spec: str | Path) -> dict[str, Any]:
    """The training settings a model recommends for itself: the ``"training"`` table of its ``model.json``
    (a shipped model or a model directory; ``{}`` for released presets, ``random:`` models and directories
    without one), as `vargym.train.TrainConfig` fields. ``vargym train`` applies them under ``--config`` and
    its flags, as transformers applies a model's ``generation_config.json``. Reads no weights."""
    import json

    from vargym.models.files import ASSETS, model_dir

    named = {n: f for f in families() for n in f.names()}
    if isinstance(spec, str) and spec in named:
        shipped = named[spec].shipped.get(spec)
        path = ASSETS / shipped / "model.json" if shipped else None
    elif isinstance(spec, str) and spec.startswith("random:"):
        path = None
    else:
        try:
            path = model_dir(spec) / "model.json"
        except (FileNotFoundError, ValueError, OSError):
            return {}  # load_generator says what is wrong with the spec
    if path is None or not path.is_file():
        return {}
    table = json.loads(path.read_text()).get("training", {})
    if not isinstance(table, dict):
        raise ValueError(f"{path}: 'training' must be a table of TrainConfig fields, got {table!r}")
    return dict(table)


def load_pretrained(name: str = "var-d16", device: torch.device | str | None = None, cache_dir: str | None = None,
                    **files: Any) -> tuple:
    """A released model of any family as its (tokenizer, network): ``"var-d16"`` .. ``"var-d30"`` ->
    (VQVAE, VAR), ``"llamagen-b"`` .. ``"llamagen-3b"`` -> (LlamaGenVQ, LlamaGen). Files come from the
    family's local-file keywords (VAR: ``vae_path``/``var_path``; LlamaGen: ``vq_path``/``gpt_path``) when
    given, else from the Hugging Face cache (downloaded once)."""
    from vargym.naming import did_you_mean

    family = next((f for f in families() if name in f.released), None)
    if family is None:
        if any(name in f.presets for f in families()):
            raise ValueError(f"{name!r} is one of vargym's own architectures, with no released weights: use "
                             f"load_generator('{name}') for a shipped model, 'random:{name}', or a `vargym pretrain` "
                             f"output")
        released = sorted(n for f in families() for n in f.released)
        raise ValueError(f"unknown release {name!r}; choose one of {released}.{did_you_mean(name, released)}")
    unknown = sorted(k for k, v in files.items() if v is not None and k not in family.weight_files)
    if unknown:
        raise TypeError(f"unexpected file argument(s) {unknown} for {name!r}; {family.name} takes "
                        f"{' and '.join(f'{k}=' for k in family.weight_files)}")
    return family.module.load_released_parts(name, device=device, cache_dir=cache_dir, **files)


def _text(family: Any, text_encoder: Any, spec: Any) -> dict[str, Any]:
    """``{"text_encoder": ...}`` for a family that takes one; a text encoder for one that does not raises."""
    if text_encoder is None:
        return {}
    import inspect

    if "text_encoder" not in inspect.signature(family.module.build).parameters:
        raise ValueError(f"{spec} ({family.name}) is class-conditional: it takes no text encoder "
                         f"(text_encoder={text_encoder!r})")
    return {"text_encoder": text_encoder}


def _directory_family(directory: Path, name: str):
    from vargym.errors import CheckpointError

    try:
        return get_family(name)
    except ValueError as e:
        raise CheckpointError(f"{directory}/model.json names the family {name!r}: {e}") from e


def _shipped(directory: Path, name: str) -> Path:
    from vargym.errors import WeightsNotAvailableError

    if not (directory / "model.json").is_file():
        raise WeightsNotAvailableError(f"the shipped {name} model is missing from {directory}; reinstall vargym or "
                                       f"run `vargym pretrain` and pass its output directory as --model")
    return directory


def _load_adapters(directory: Path, meta: dict, device: torch.device | str | None,
                   text_encoder: Any = None) -> Generator:
    """A LoRA checkpoint: rebuild the base generator as the run did (same spec and seed), add the adapters."""
    from safetensors.torch import load_file

    from vargym.errors import CheckpointError
    from vargym.models.lora import LoRAConfig, load_lora_state_dict

    with torch.random.fork_rng(devices=[]):  # a random:<preset> base is rebuilt from its seed
        torch.manual_seed(int(meta.get("base_seed", 0)))
        generator = load_generator(meta["base_model"], device=device, text_encoder=text_encoder or meta.get("text_encoder"),
                                   **meta.get("base_files", {}))
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
    from vargym.models.files import ASSETS

    return {name: (ASSETS / folder / "model.json").is_file() for f in families() for name, folder in f.shipped.items()}


def released_weight_files() -> list[tuple[str, str, str]]:
    """``(hub repo, file name, revision)`` of every released checkpoint the families can download."""
    return [entry for family in families() for entry in family.module.released_files()]


def as_generator(model: Any, device: torch.device | str | None = None, num_classes: int | None = None) -> Generator:
    """Accept what users pass as ``model=``: a `Generator`, a ``load_generator`` spec string or path, or a
    family's own objects (a ``(tokenizer, network)`` tuple, a network with its tokenizer attached, a bare
    tokenizer for decode-only use with ``num_classes``: each family's ``wrap``). The result is moved to
    ``device`` when one is given."""
    if isinstance(model, Generator):
        return model.to(device)
    if isinstance(model, (str, Path)):
        return load_generator(model, device=device)
    for family in families():
        gen = family.module.wrap(model, num_classes)
        if gen is not None:
            return gen.to(device)
    raise TypeError(
        f"model must be a Generator, a model spec string, or a family's (tokenizer, network) tuple "
        f"({', '.join(f.name for f in families())}), got {type(model).__name__}"
    )
