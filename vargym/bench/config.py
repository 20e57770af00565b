"""`BenchConfig`: which algorithms a benchmark compares, on which budget and seeds; named profiles.

Every (algorithm, seed) run gets the same `TrainConfig` apart from ``algo`` (and per-algorithm
``algo_kwargs``): same model, reward, labels, batch shape, number of iterations (so the same number of
sampled images), same evaluation labels and evaluation seed.

Example:
    >>> config = BenchConfig(algos=("grpo", "reinforce"), seeds=2, budget_samples=256,
    ...                      train={"model": "random:tiny", "num_labels": 2, "group_size": 4}, out="runs/b")
    >>> config.iterations, config.samples_per_run
    (32, 256)
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from typing import Any

from vargym.naming import did_you_mean

__all__ = ["PROFILES", "BenchConfig", "profile_values"]

# Budgets picked from measured seconds per iteration: `quick` (tiny model, 32 images per iteration, ~2.5 s per
# iteration on one CPU thread, 40 iterations) runs 3 algorithms x 3 seeds in about 15 minutes on the 2-core CPU.
# At lr 1e-4 the brightness reward rises from ~0.15 to ~0.6 within 14 iterations; 1e-3 diverges.
PROFILES: dict[str, dict[str, Any]] = {
    "quick": {
        "algos": ("grpo", "ppo", "reinforce"),
        "seeds": 3,
        "budget_samples": 1280,
        "eval_per_label": 8,
        "threads": 1,  # on a shared 2-core VM one thread is faster than two for these small ops
        "train": {
            "model": "tiny",
            "reward": "brightness",
            "num_labels": 4,
            "group_size": 8,
            "minibatch_size": 16,
            "lr": 1e-4,
        },
    },
}
# The GRPO variants on equal terms: 4 variants x 3 seeds x 640 images (20 iterations of 32), brightness, and the
# same on colorfulness, a reward that flat saturated images hack (watch class top-1 and diversity fall).
_VARIANTS = {
    "algos": ("grpo", "dr-grpo", "dapo", "gspo"),
    "seeds": 3,
    "budget_samples": 640,
    "eval_per_label": 8,
    "threads": 1,
    "train": {"model": "tiny", "reward": "brightness", "num_labels": 4, "group_size": 8, "minibatch_size": 16,
              "lr": 1e-4},
}
PROFILES["variants"] = _VARIANTS
# The three embedded generator families on equal terms: GRPO on brightness, the same labels, batches, seeds and
# sample budget for the tiny next-scale VAR (6 steps per image) and the tiny next-token LlamaGen and VQGAN
# transformer (64 tokens, one env step per token).
PROFILES["families"] = {
    "models": ("tiny", "tiny-llamagen", "tiny-vqgan"),
    "algos": ("grpo",),
    "seeds": 3,
    "budget_samples": 640,
    "eval_per_label": 8,
    "threads": 1,
    "train": {"reward": "brightness", "num_labels": 4, "group_size": 8, "minibatch_size": 16, "lr": 1e-4},
}
PROFILES["variants-colorfulness"] = {**_VARIANTS, "train": {**_VARIANTS["train"], "reward": "colorfulness"}}
# The GRPO variants on the embedded text-to-image world: the shipped tiny-t2i on the attr reward (its reward
# classifier reading the prompt's attributes), gold text fidelity from the other classifier; 8 prompts x 8.
PROFILES["t2i"] = {**_VARIANTS, "budget_samples": 1280, "eval_per_label": 4, "threads": 2,
                   "train": {"model": "tiny-t2i", "reward": "attr", "num_labels": 8, "group_size": 8,
                             "minibatch_size": 32, "lr": 1e-4}}


@dataclass(frozen=True)
class BenchConfig:
    """An equal-budget comparison of RL algorithms over several seeds."""

    algos: tuple[str, ...] = ("grpo", "ppo", "reinforce")
    """Algorithms to compare (`vargym.algos.algorithm_names()`: registered algorithms and presets)."""
    models: tuple[str, ...] = ()
    """Generators to compare (``--model`` specs, e.g. a VAR and a LlamaGen), each with every algorithm; empty:
    the one model of ``train``. A contender is then named ``<model>-<algo>``."""
    seeds: int = 3
    """Number of seeds per algorithm (seeds ``first_seed .. first_seed + seeds - 1``)."""
    first_seed: int = 0
    """The first seed."""
    budget_samples: int = 4096
    """Sampled images per run; iterations = budget_samples // (num_labels * group_size), equal for all."""
    threshold: float | None = None
    """Reward level for "samples to threshold" (None: halfway from the first-iteration reward to the best
    final reward over all algorithms)."""
    eval_per_label: int = 4
    """Samples per evaluation label in the final-policy evaluation (`vargym.evaluation.evaluate_model`)."""
    eval_labels: tuple[int, ...] | None = None
    """Evaluation labels, the same for every run (None: the first 8 training classes)."""
    eval_seed: int = 1234
    """Seed of the final evaluation's sampling, the same for every run."""
    train: dict[str, Any] = field(default_factory=dict)
    """`TrainConfig` fields shared by every run (model, reward, num_labels, group_size, lr, ...)."""
    algo_kwargs: dict[str, dict[str, Any]] = field(default_factory=dict)
    """Per-algorithm config fields, e.g. ``{"reinforce": {"baseline": "rloo"}}``."""
    threads: int | None = None
    """torch intra-op threads for the runs (None: torch's default); set explicitly for comparable timings."""
    checkpoints: int = 4
    """Resumable checkpoints per run (evenly spaced; only the newest is kept)."""
    monitor_evals: int = 4
    """Evaluations during each run for the reward-hacking monitor (gold metric, diversity, flag over a
    window of 2; plus the baseline before training); 0: none."""
    keep_checkpoints: bool = False
    """Keep each finished run's last checkpoint (the final policy; about 25 MB for the tiny model)."""
    out: str = "runs/bench"
    """Benchmark directory: bench.json, table.md, PNG figures and one sub-folder per (algo, seed) run."""

    def __post_init__(self) -> None:
        from vargym.train.config import SAMPLING_FIELDS, TrainConfig

        object.__setattr__(self, "algos", tuple(self.algos))
        object.__setattr__(self, "models", tuple(self.models))
        if len(set(self.models)) != len(self.models):
            raise ValueError(f"models must not repeat a spec, got {list(self.models)}")
        if self.models and "model" in self.train:
            raise ValueError("set the model either in models (a comparison) or in train (one model), not both")
        if not self.algos:
            raise ValueError("algos must name at least one algorithm")
        if len(set(self.algos)) != len(self.algos):
            raise ValueError(f"algos must not repeat a name, got {list(self.algos)}")
        if self.threads is not None and self.threads < 1:
            raise ValueError(f"threads must be >= 1 or None, got {self.threads}")
        for name in ("seeds", "budget_samples", "eval_per_label", "checkpoints"):
            if int(getattr(self, name)) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)!r}")
        reserved = sorted({"algo", "seed", "steps", "out", "algo_kwargs"} & set(self.train))
        if reserved:
            raise ValueError(f"train must not set {reserved}: the benchmark sets them for each run")
        names = {f.name for f in dataclasses.fields(TrainConfig)} | set(SAMPLING_FIELDS)  # flat: the old layout
        unknown = sorted(set(self.train) - names)
        if unknown:
            hint = "; ".join(f"{k!r}{did_you_mean(k, names)}" for k in unknown)
            raise ValueError(f"unknown TrainConfig fields in train: {hint}")
        stray = sorted(set(self.algo_kwargs) - set(self.algos))
        if stray:
            raise ValueError(f"algo_kwargs names algorithms {stray} that are not in algos {list(self.algos)}")
        if self.eval_labels is not None:
            object.__setattr__(self, "eval_labels", tuple(int(x) for x in self.eval_labels))
        if self.iterations < 1:
            raise ValueError(
                f"budget_samples ({self.budget_samples}) is smaller than one iteration's batch "
                f"(num_labels * group_size = {self.batch_size})"
            )
        for name, _, _ in self.contenders:  # checks every run's TrainConfig now, before any training starts
            self.train_config(name, self.first_seed)

    @property
    def batch_size(self) -> int:
        """Images per iteration (num_labels * group_size), the same for every run."""
        from vargym.train.config import TrainConfig

        defaults = TrainConfig.__dataclass_fields__
        num_labels = self.train.get("num_labels", defaults["num_labels"].default)
        group_size = self.train.get("group_size", defaults["group_size"].default)
        return int(num_labels) * int(group_size)

    @property
    def iterations(self) -> int:
        """Training iterations of every run."""
        return self.budget_samples // self.batch_size

    @property
    def samples_per_run(self) -> int:
        """Images actually sampled per run (the budget rounded down to whole iterations)."""
        return self.iterations * self.batch_size

    @property
    def seed_list(self) -> list[int]:
        return list(range(self.first_seed, self.first_seed + self.seeds))

    @property
    def contenders(self) -> list[tuple[str, str, str | None]]:
        """``(name, algo, model)`` of every compared setting: the algorithms, times the models when given."""
        if not self.models:
            return [(algo, algo, None) for algo in self.algos]
        safe = lambda spec: spec.replace("/", "_").replace(":", "_")  # noqa: E731 (a folder name)
        return [(f"{safe(model)}-{algo}", algo, model) for model in self.models for algo in self.algos]

    def run_name(self, contender: str, seed: int) -> str:
        return f"{contender}_seed{seed}"

    def train_config(self, contender: str, seed: int):
        """The `TrainConfig` of one run of a contender (an algorithm, or ``<model>-<algo>`` with ``models``);
        raises the TrainConfig's ValueError on a bad combination."""
        from vargym.train.config import TrainConfig

        found = [(algo, model) for name, algo, model in self.contenders if name == contender]
        if not found:
            raise ValueError(f"unknown contender {contender!r}; this benchmark has "
                             f"{[name for name, _, _ in self.contenders]}")
        algo, model = found[0]
        values = dict(self.train)
        if model is not None:
            values["model"] = model
        if "minibatch_size" not in values:  # the TrainConfig default (32) must divide the batch
            values["minibatch_size"] = 32 if self.batch_size % 32 == 0 else self.batch_size
        if algo == "reinforce":  # on-policy: one epoch (the others keep the asked number)
            values["epochs"] = 1
        every = max(1, self.iterations // self.checkpoints)
        values.setdefault("sample_every", 0)
        if self.monitor_evals:
            values.setdefault("eval_every", max(1, self.iterations // self.monitor_evals))
            values.setdefault("hacking_window", 2)
        values.setdefault("tensorboard", False)
        values.setdefault("eval_seed", self.eval_seed)
        if self.eval_labels is not None:
            values["eval_labels"] = self.eval_labels
        values.update(
            algo=algo,
            seed=seed,
            steps=self.iterations,
            out=f"{self.out}/runs/{self.run_name(contender, seed)}",
            algo_kwargs=dict(self.algo_kwargs.get(algo, {})),
            checkpoint_every=every,
            keep_checkpoints=1,
        )
        return TrainConfig.from_dict(values)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict (tuples become lists)."""
        return json.loads(json.dumps(dataclasses.asdict(self)))

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> BenchConfig:
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - names)
        if unknown:
            raise ValueError(f"unknown BenchConfig keys {unknown}; allowed: {sorted(names)}")
        data = dict(data)
        for key in ("algos", "models", "eval_labels"):
            if data.get(key) is not None:
                data[key] = tuple(data[key])
        train = dict(data.get("train", {}))
        for key in ("labels", "eval_labels"):
            if train.get(key) is not None:
                train[key] = tuple(train[key])
        data["train"] = train
        return cls(**data)


def profile_values(name: str) -> dict[str, Any]:
    """The `BenchConfig` values of a named profile (a deep copy); unknown names raise with a suggestion."""
    if name not in PROFILES:
        hint = did_you_mean(name, PROFILES)
        raise ValueError(f"unknown profile {name!r}; choose one of {sorted(PROFILES)}.{hint}")
    return json.loads(json.dumps(PROFILES[name]))
