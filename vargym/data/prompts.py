"""Prompt sets for text-to-image training and evaluation: the shipped ones and the user's files.

`load_prompts(name_or_file)` reads a shipped set (``"parti"``: PartiPrompts, 1632 prompts with category and
challenge; ``"geneval"``: the 553 GenEval prompts with the metadata a GenEval-style reward needs; ``"coco"``: 1,000
COCO 2014 val captions, the head of the 30k sample LlamaGen's T2I evaluation uses; licences and
sources in ``vargym/assets/prompts/SOURCES.md``) or a file: text (one prompt per line), JSONL (a ``prompt``
field, every other field kept as metadata) or CSV/TSV (a prompt column, the other columns as metadata).
`PromptSet.split` makes a seeded, disjoint train/eval split. Bad files raise a `PromptFileError` that names the
file, the line and what is wrong.

Example:
    >>> parti = load_prompts("parti")
    >>> train, held_out = parti.split(eval_fraction=0.1, seed=0)
    >>> parti.prompts[0], parti.metadata[0]["Category"]
    ('bond', 'Abstract')
"""

from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from vargym.errors import VargymError
from vargym.naming import did_you_mean

__all__ = ["GENERATED_PROMPTS", "SHIPPED_PROMPTS", "PromptFileError", "PromptSet", "load_prompts", "procedural_prompts"]

_ASSETS = Path(__file__).resolve().parents[1] / "assets" / "prompts"
SHIPPED_PROMPTS = {"parti": "parti.tsv", "geneval": "geneval.jsonl", "coco": "coco.csv"}
"""Shipped prompt sets: name -> file under ``vargym/assets/prompts``."""
GENERATED_PROMPTS = {"procedural": (2000, 0, "seen"), "procedural-held-out": (200, 0, "held_out"),
                     "procedural-two-objects": (2000, 0, "seen", 2),
                     "procedural-two-objects-held-out": (200, 0, "held_out", 2)}
"""Prompt sets made on the fly: the procedural captions of the embedded text-to-image world (`vargym.data.captioned`;
``(count, seed, split[, objects])``): seen compositions and the held-out shape/colour pairs, of one object and of
two objects with a relation."""
PROMPT_COLUMNS = ("prompt", "Prompt", "text", "caption")
"""Column names a CSV/TSV prompt column may have (the first one present is used)."""


class PromptFileError(VargymError, ValueError):
    """A prompt file is missing, empty, not UTF-8 or malformed."""


@dataclass(frozen=True)
class PromptSet:
    """Prompts ``[P]`` and one metadata dict per prompt."""

    name: str
    prompts: tuple[str, ...]
    metadata: tuple[dict[str, Any], ...] = field(default=())

    def __post_init__(self) -> None:
        if not self.prompts:
            raise PromptFileError(f"prompt set {self.name!r} holds no prompts")
        if not self.metadata:
            object.__setattr__(self, "metadata", tuple({} for _ in self.prompts))
        if len(self.metadata) != len(self.prompts):
            raise ValueError(f"{len(self.prompts)} prompts but {len(self.metadata)} metadata entries")

    def __len__(self) -> int:
        return len(self.prompts)

    def subset(self, indices: list[int], name: str | None = None) -> PromptSet:
        """The prompts at ``indices``, in that order."""
        return PromptSet(name or self.name, tuple(self.prompts[i] for i in indices),
                         tuple(self.metadata[i] for i in indices))

    def split(self, eval_fraction: float = 0.1, seed: int = 0) -> tuple[PromptSet, PromptSet]:
        """A disjoint ``(train, eval)`` split: ``round(eval_fraction * P)`` prompts (at least one each side),
        chosen by a seeded permutation; each side keeps the set's order. The same seed gives the same split."""
        import torch

        if not 0.0 < eval_fraction < 1.0:
            raise ValueError(f"eval_fraction must be in (0, 1), got {eval_fraction!r}")
        if len(self) < 2:
            raise ValueError(f"prompt set {self.name!r} has {len(self)} prompt: a split needs at least 2")
        n_eval = min(max(round(eval_fraction * len(self)), 1), len(self) - 1)
        order = torch.randperm(len(self), generator=torch.Generator().manual_seed(int(seed))).tolist()
        held_out = sorted(order[:n_eval])
        train = sorted(order[n_eval:])
        return self.subset(train, f"{self.name}:train"), self.subset(held_out, f"{self.name}:eval")


def procedural_prompts(num: int, seed: int = 0, split: str = "seen", objects: int = 1) -> PromptSet:
    """``num`` distinct captions of the embedded text-to-image world with their attribute metadata
    (`vargym.data.captioned`), seeded; ``split`` "seen", "held_out" or "all"; ``objects`` 1 or 2 (two shapes
    and their relation)."""
    from vargym.data.captioned import captioned_prompts

    prompts, metadata = captioned_prompts(num, seed, split, objects)
    return PromptSet(f"procedural:{split}" + ("" if objects == 1 else ":two-objects"), prompts, metadata)


def load_prompts(name_or_file: str | Path) -> PromptSet:
    """A shipped prompt set by name (`SHIPPED_PROMPTS`) or a prompt file (``.txt``, ``.jsonl``, ``.csv``, ``.tsv``)."""
    spec = str(name_or_file)
    if spec in GENERATED_PROMPTS:
        return procedural_prompts(*GENERATED_PROMPTS[spec])
    if spec in SHIPPED_PROMPTS:
        return _read(_ASSETS / SHIPPED_PROMPTS[spec], spec)
    path = Path(spec)
    if not path.is_file():
        names = [*SHIPPED_PROMPTS, *GENERATED_PROMPTS]
        hint = did_you_mean(spec, names) if path.suffix == "" else ""
        raise PromptFileError(f"prompts {spec!r} is neither a shipped set ({', '.join(names)}) nor an "
                              f"existing file.{hint}")
    return _read(path, path.stem)


def _read(path: Path, name: str) -> PromptSet:
    suffix = path.suffix.lower()
    if suffix not in (".txt", ".jsonl", ".csv", ".tsv"):
        raise PromptFileError(f"{path}: prompt files end in .txt, .jsonl, .csv or .tsv, got {path.suffix!r}")
    raw = path.read_bytes()
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        line = raw[: e.start].count(b"\n") + 1
        raise PromptFileError(f"{path}: not UTF-8 text (byte {e.start}, line {line}); save it as UTF-8") from e
    if not text.strip():
        raise PromptFileError(f"{path} is empty: it holds no prompts")
    if suffix == ".txt":
        prompts = [line.strip() for line in text.splitlines() if line.strip()]
        return PromptSet(name, tuple(prompts))
    if suffix == ".jsonl":
        return _read_jsonl(path, name, text)
    return _read_table(path, name, text, "\t" if suffix == ".tsv" else ",")


def _read_jsonl(path: Path, name: str, text: str) -> PromptSet:
    prompts, metadata = [], []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as e:
            raise PromptFileError(f"{path}, line {number}: not a JSON object ({e.msg})") from e
        if not isinstance(row, dict) or not isinstance(row.get("prompt"), str) or not row["prompt"].strip():
            raise PromptFileError(f"{path}, line {number}: each line must be a JSON object with a non-empty "
                                  f"string \"prompt\" field")
        prompts.append(row["prompt"].strip())
        metadata.append({k: v for k, v in row.items() if k != "prompt"})
    return PromptSet(name, tuple(prompts), tuple(metadata))


def _read_table(path: Path, name: str, text: str, delimiter: str) -> PromptSet:
    reader = csv.DictReader(io.StringIO(text), delimiter=delimiter)
    columns = reader.fieldnames or []
    column = next((c for c in PROMPT_COLUMNS if c in columns), None)
    if column is None:
        raise PromptFileError(f"{path}: no prompt column; the header must name one of {list(PROMPT_COLUMNS)}, "
                              f"got {columns}")
    prompts, metadata = [], []
    for number, row in enumerate(reader, start=2):
        prompt = (row.get(column) or "").strip()
        if not prompt:
            raise PromptFileError(f"{path}, line {number}: empty {column!r}")
        prompts.append(prompt)
        metadata.append({k: v for k, v in row.items() if k != column and k is not None})
    return PromptSet(name, tuple(prompts), tuple(metadata))
