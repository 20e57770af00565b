"""RL fine-tuning of any registered generator: `TrainConfig`, `Trainer` (rollout -> advantages -> update),
logging, resume.

Example:
    >>> from vargym.train import TrainConfig, Trainer
    >>> trainer = Trainer(TrainConfig(algo="grpo", reward="luma", model="random:tiny", num_labels=2,
    ...                               group_size=4, minibatch_size=4, steps=3, out="runs/demo"))
    >>> history = trainer.train()
    >>> trainer = Trainer.from_checkpoint("runs/demo", steps=6)   # resume and train longer
    >>> trainer.train()

Names load lazily on first access, so ``import vargym.train`` stays cheap.
"""

from __future__ import annotations

from vargym.lazy import lazy_getattr

_LAZY = {
    "TrainConfig": "vargym.train.config",
    "load_config_file": "vargym.train.config",
    "resolve_config": "vargym.train.config",
    "Trainer": "vargym.train.trainer",
    "train": "vargym.train.trainer",
    "PolicyMismatchError": "vargym.train.rollout",
    "check_policy_consistency": "vargym.train.rollout",
    "MetricsLogger": "vargym.metrics_log",
    "read_metrics": "vargym.metrics_log",
    "find_checkpoint": "vargym.train.checkpoint",
}

__all__ = sorted(_LAZY)


__getattr__ = lazy_getattr("vargym.train", _LAZY)
