"""The run directory: what a run writes there, and the rule that two runs never share one."""

from __future__ import annotations

import shutil
from pathlib import Path

from vargym.errors import VargymError

__all__ = ["RUN_FILES", "RunExistsError", "prepare_run_dir"]

RUN_FILES = ("config.json", "metrics.jsonl", "checkpoints", "samples", "tb")
"""What a run writes into its directory (and ``overwrite`` deletes)."""


class RunExistsError(VargymError, FileExistsError):
    """The run directory already holds another run and neither resume nor overwrite was asked for."""


def prepare_run_dir(out: Path, resumed: bool, overwrite: bool) -> None:
    """Create ``out``; a fresh run needs it free of another run's files, or ``overwrite`` (which deletes
    them). A resumed run's directory is its own."""
    out.mkdir(parents=True, exist_ok=True)
    if resumed:
        return
    existing = [name for name in RUN_FILES if (out / name).exists()]
    if not existing:
        return
    if not overwrite:
        raise RunExistsError(
            f"{out} already holds a run ({', '.join(existing)}); continue it with --resume {out}, "
            f"replace it with --overwrite, or choose another --out"
        )
    for name in existing:
        path = out / name
        shutil.rmtree(path) if path.is_dir() else path.unlink()
