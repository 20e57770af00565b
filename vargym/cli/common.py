"""Helpers shared by CLI commands: device choice, generator loading with friendly errors, label parsing."""

from __future__ import annotations

import typer


def pick_device(device: str | None):
    """`vargym.devices.resolve_device`, with its error as a one-line ``--device`` message."""
    from vargym.devices import resolve_device

    try:
        return resolve_device(device)
    except ValueError as e:
        raise typer.BadParameter(str(e), param_hint="--device") from e


def parse_labels(text: str | None, num_classes: int | None = None) -> list[int] | None:
    """"0,3,5-7" -> [0, 3, 5, 6, 7]; None/"" -> None. Checks the range when ``num_classes`` is given."""
    if not text:
        return None
    labels: list[int] = []
    try:
        for part in filter(None, (p.strip() for p in text.split(","))):
            lo, _, hi = part.partition("-")
            labels.extend(range(int(lo), int(hi) + 1) if hi else [int(lo)])
    except ValueError as e:
        raise ValueError(f"labels must be comma-separated integers or ranges like '0,3,5-7', got {text!r}") from e
    if num_classes is not None:
        bad = [x for x in labels if not 0 <= x < num_classes]
        if bad:
            raise ValueError(f"labels {bad} are outside [0, {num_classes})")
    return labels


MODEL_FILE_HELP = ("Local weight file of a released model, KEY=PATH (repeatable; nothing is downloaded); the keys "
                   "are the family's: {keys}.")
OLD_FILE_FLAGS = ("vae_path", "var_path", "vq_path", "gpt_path")
"""The per-family weight-file flags of earlier releases: aliases of --model-file KEY=PATH."""


def model_help() -> str:
    """The help of --model, naming every registered family's models (no torch import)."""
    from vargym.models.registry import families

    shipped = [n for f in families() for n in f.shipped]
    released = [n for f in families() for n in f.released]
    return (f"A shipped model ({', '.join(shipped)}), a released preset ({', '.join(released)}; downloaded, or "
            f"--model-file), 'random:<preset>', or a model or run directory.")


def model_file_help() -> str:
    """The help of --model-file, with every registered family's keys (no torch import)."""
    from vargym.models.registry import families

    keys = "; ".join(f"{f.name}: {', '.join(f.weight_files)}" for f in families() if f.weight_files)
    return MODEL_FILE_HELP.format(keys=keys)


def model_files(pairs: list[str] | None, **old_flags: str | None) -> dict[str, str]:
    """``--model-file KEY=PATH`` pairs (and the old ``--vae-path`` style flags) as a dict; a key no registered
    family takes raises a ValueError that lists the keys (with a suggestion)."""
    from vargym.models.registry import families
    from vargym.naming import did_you_mean

    known = sorted({k for f in families() for k in f.weight_files})
    out = {k: v for k, v in old_flags.items() if v}
    for pair in pairs or []:
        key, sep, path = pair.partition("=")
        if not sep or not key or not path:
            raise ValueError(f"--model-file takes KEY=PATH, got {pair!r}")
        if key not in known:
            raise ValueError(f"--model-file key {key!r} is not a weight file of any model family; keys: {known}."
                             f"{did_you_mean(key, known)}")
        out[key] = path
    return out


PROMPTS_HELP = ("Prompts of a text-conditional model: a shipped set (parti, geneval) or a file (.txt one per line, "
                ".jsonl with a 'prompt' field, .csv/.tsv with a prompt column).")
PROMPT_HELP = "A prompt for a text-conditional model (repeatable)."
TEXT_ENCODER_HELP = ("Text encoder of a text-conditional model: a T5 folder or Hugging Face repo id (default: the "
                     "model's own, FLAN-T5-XL for LlamaGen t2i).")
TEXT_FEATURES_HELP = ("Caption features written by `vargym encode-prompts` (.safetensors): the model then runs "
                      "without its text encoder.")


def text_encoder_spec(text_encoder: str | None, text_features: str | None) -> str | None:
    """The ``text_encoder`` spec of --text-encoder / --text-features (at most one of them)."""
    if text_encoder and text_features:
        raise typer.BadParameter("give --text-encoder or --text-features, not both", param_hint="--text-features")
    if text_features and not str(text_features).endswith(".safetensors"):
        raise typer.BadParameter(f"expected a .safetensors file written by `vargym encode-prompts`, got "
                                 f"{text_features!r}", param_hint="--text-features")
    return str(text_features) if text_features else text_encoder


def condition_pool(labels: str | None, prompts: str | None, prompt: list[str] | None,
                   num_classes: int | None = None):
    """The conditions a command was given: class labels (--labels), a prompt set (--prompts) or prompts
    (--prompt); None when none was. More than one kind, or a bad value, raises a ``BadParameter``."""
    given_kinds = [name for name, value in (("--labels", labels), ("--prompts", prompts), ("--prompt", prompt))
                   if value]
    if len(given_kinds) > 1:
        raise typer.BadParameter(f"give one of {' / '.join(given_kinds)}, not several", param_hint=given_kinds[1])
    if prompts:
        from vargym.data.prompts import PromptFileError, load_prompts

        try:
            return load_prompts(prompts)
        except PromptFileError as e:
            raise typer.BadParameter(str(e), param_hint="--prompts") from e
    if prompt:
        from vargym.models.conditions import check_prompts

        try:
            return check_prompts(list(prompt), "--prompt")
        except (TypeError, ValueError) as e:
            raise typer.BadParameter(str(e), param_hint="--prompt") from e
    try:
        return parse_labels(labels, num_classes or None)
    except ValueError as e:
        raise typer.BadParameter(str(e), param_hint="--labels") from e


def load_generator_or_exit(spec: str, device, text_encoder: str | None = None, **files: str | None):
    """``vargym.models.load_generator`` with errors turned into a clean CLI message (no traceback).
    ``files``: the local weight files of a released model (see `model_files`)."""
    from vargym.errors import VargymError
    from vargym.models import load_generator

    kwargs = {k: v for k, v in files.items() if v}
    try:
        return load_generator(spec, device=device, text_encoder=text_encoder, **kwargs)
    except (VargymError, ValueError) as e:
        typer.secho(f"error: {e}", fg=typer.colors.RED, err=True)
        raise typer.Exit(code=2) from e
