"""Metric logging shared by the trainer and pretraining: a JSONL file (one flat object per step) and
optional TensorBoard.

The trainer's ``metrics.jsonl`` keys are flat and stable (``iteration``, ``samples``, ``reward_mean``,
``kl_ref``, ``wall_s``, ...); TensorBoard tags are namespaced (``reward/mean``, ``loss/policy``,
``policy/kl_ref``, ``perf/sample_s``). Pretraining writes ``pretrain_log.jsonl`` (``stage``, ``step``, ...).
"""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

__all__ = ["MetricsLogger", "read_metrics", "tensorboard_tag"]

logger = logging.getLogger(__name__)
_warned_no_tensorboard = False

_PERF = {"samples_per_s", "wall_s", "iteration_s"}
_POLICY = {
    "kl_ref",
    "clip_fraction",
    "approx_kl",
    "grad_norm",
    "advantage_mean",
    "advantage_std",
    "value_loss",
    "explained_variance",
}


def tensorboard_tag(key: str) -> str:
    """Namespace a flat metric key for TensorBoard (``reward_mean`` -> ``reward/mean``)."""
    if key.startswith("reward_"):
        return "reward/" + key.removeprefix("reward_")
    if key.startswith("eval_"):
        return "eval/" + key.removeprefix("eval_")
    if key.startswith("loss_"):
        return "loss/" + key.removeprefix("loss_")
    if key.startswith("entropy"):
        return "policy/" + key
    if key in ("gold", "hacking_flag") or key.startswith("diversity_") or key.endswith("_change"):
        return "monitor/" + key
    if key in _PERF or key.endswith("_s"):
        return "perf/" + key
    if key in _POLICY:
        return "policy/" + key
    if key == "lr":
        return "optim/lr"
    return "misc/" + key


def _clean(value: Any) -> Any:
    """JSON-safe scalar: floats stay floats, NaN/inf become None (strict JSON has no NaN); text stays."""
    if isinstance(value, (bool, int, str)) or value is None:
        return value
    value = float(value)
    return value if math.isfinite(value) else None


class MetricsLogger:
    """Append metrics to ``<out>/<filename>`` and, when possible, to TensorBoard under ``<out>/tb``.

    Args:
        out: run directory.
        tensorboard: try TensorBoard (a missing package logs one warning and is skipped).
        resume_iteration: on resume, drop lines whose ``step_key`` is past this value (written after the
            checkpoint by an interrupted run), so the file matches an uninterrupted run. None starts afresh.
        filename: the JSONL file.
        step_key: the key that numbers the records.
        keep: on resume, which other records to keep untouched (pretraining keeps the other stages' lines);
            only records for which it returns False are truncated by ``resume_iteration``.
    """

    def __init__(
        self,
        out: str | Path,
        tensorboard: bool = True,
        resume_iteration: int | None = None,
        filename: str = "metrics.jsonl",
        step_key: str = "iteration",
        keep: Callable[[dict[str, Any]], bool] | None = None,
    ) -> None:
        self.out = Path(out)
        self.out.mkdir(parents=True, exist_ok=True)
        self.path = self.out / filename
        self.step_key = step_key
        if resume_iteration is None:
            self.path.write_text("")
        else:
            kept = [
                r for r in read_metrics(self.path)
                if (keep is not None and keep(r)) or r.get(step_key, 0) <= resume_iteration
            ]
            self.path.write_text("".join(json.dumps(r) + "\n" for r in kept))
        self.writer = self._open_tensorboard() if tensorboard else None

    def _open_tensorboard(self):
        try:
            from torch.utils.tensorboard import SummaryWriter
        except ImportError:  # tensorboard is an optional extra: warn once per process
            global _warned_no_tensorboard
            if not _warned_no_tensorboard:
                _warned_no_tensorboard = True
                logger.warning(
                    "tensorboard is not installed: logging to metrics.jsonl only "
                    "(pip install tensorboard to get TensorBoard curves)"
                )
            return None
        return SummaryWriter(log_dir=str(self.out / "tb"))

    def log(self, metrics: dict[str, Any]) -> None:
        """Write one record (must hold ``step_key``)."""
        record = {k: _clean(v) for k, v in metrics.items()}
        with self.path.open("a") as f:
            f.write(json.dumps(record) + "\n")
        if self.writer is not None:
            step = int(metrics[self.step_key])
            for key, value in record.items():
                if key != self.step_key and isinstance(value, (int, float)) and not isinstance(value, bool):
                    self.writer.add_scalar(tensorboard_tag(key), value, step)

    def add_image(self, tag: str, image_chw: Any, iteration: int) -> None:
        """An image ``[3, H, W]`` in [0, 1] to TensorBoard (no-op without it)."""
        if self.writer is not None:
            self.writer.add_image(tag, image_chw, iteration)

    def flush(self) -> None:
        if self.writer is not None:
            self.writer.flush()

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
            self.writer = None


def read_metrics(path: str | Path) -> list[dict[str, Any]]:
    """Read a JSONL metrics file (a run directory works too: its ``metrics.jsonl``) into a list of dicts."""
    path = Path(path)
    if path.is_dir():
        path = path / "metrics.jsonl"
    if not path.is_file():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
