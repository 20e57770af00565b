"""`TrainConfig`: every knob of an RL fine-tuning run (GRPO on the embedded model by default).

A run's config is resolved once (defaults < config file < CLI flags), checked in ``__post_init__``, and
written to ``config.json`` in the run directory; a checkpoint stores it and resume rebuilds from it.

Example:
    >>> config = TrainConfig(algo="grpo", reward="luma", model="random:tiny", num_labels=2, group_size=4,
    ...                      minibatch_size=4, steps=3, out="runs/demo")
    >>> config.batch_size
    8
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from vargym import configdoc
from vargym.models.generator import SamplingConfig
from vargym.naming import did_you_mean

__all__ = ["SAMPLING_FIELDS", "TrainConfig", "field_help", "load_config_file", "resolve_config", "training_sampling",
           "with_model_defaults"]

SAMPLING_FIELDS = tuple(f.name for f in dataclasses.fields(SamplingConfig))
"""The fields of `SamplingConfig` (once flat fields of `TrainConfig`, still accepted there, deprecated)."""
TRAINING_SAMPLING = {"temperature": 0.7, "precision": "auto", "decode_precision": "auto", "draw": "inverse-cdf"}
"""Where training's distribution differs from `SamplingConfig`'s own defaults (the official samplers')."""


def training_sampling(**fields: Any) -> SamplingConfig:
    """Training's default `SamplingConfig`, with ``fields`` changed."""
    return SamplingConfig(**{**TRAINING_SAMPLING, **fields})

LR_SCHEDULES = ("constant", "cosine")


@dataclass(frozen=True)
class TrainConfig:
    """Configuration of `vargym.train.Trainer` (defaults: GRPO with KL weight 0.1 on the embedded model)."""

    algo: str = "grpo"
    """RL algorithm: "grpo", "ppo", "reinforce", or a preset: "var-grpo" (the seed paper's beta 0.2), "dr-grpo",
    "dapo", "gspo", "rloo"."""
    reward: str = "brightness"
    """Reward name, expression ("aesthetic+0.5*clip") or entry point ("pkg.module:fn")."""
    prompt: str | None = None
    """Text prompt handed to prompt-based rewards (e.g. "clip") through the reward context."""
    reward_steps: tuple[int, ...] | None = None
    """Intermediate rewards: env steps (0-based) after which the partial canvas is decoded and scored, so
    ``step_reward`` is not zero before the end (PPO's GAE uses them; GRPO with algo_kwargs
    step_advantages=true normalises returns-to-go per step). None: the final image only."""
    reward_preset: str | None = None
    """A paper's reward recipe instead of ``reward`` (`vargym.rewards.presets`: "ar-grpo-t2i"); ``reward_kwargs``
    then holds one dict per term of the recipe."""
    reward_normalization: str = "none"
    """How the terms of a reward expression are scaled before weighting: "none", "running" (each term's running
    mean/std) or "group" (each term standardised within its group, GDPO's decoupled normalisation: an easy
    term cannot drown a hard one). Each term's raw value is logged as reward_<term>_mean either way."""
    reward_kwargs: dict[str, Any] = field(default_factory=dict)
    """Constructor arguments of the reward (for an expression: one dict per term name)."""
    model: str = "tiny"
    """Policy to fine-tune: a shipped model ("tiny", the default), a released preset (`vargym info` lists every
    family's), "random:<preset>" or a model or run directory."""
    model_files: dict[str, str] = field(default_factory=dict)
    """Local weight files of a released model, so nothing is downloaded; the keys are the family's (its registry
    entry's weight_files)."""
    tokens_per_step: int | None = None
    """Tokens per env step of a next-token model (LlamaGen; None: 1, one token per step). VAR's steps are its
    scales and refuse it."""
    device: str | None = None
    """torch device ("cpu", "cuda", "cuda:1"); None picks CUDA when available, else CPU."""
    seed: int = 0
    """Seed of label drawing, sampling, minibatch shuffling and any random model init."""
    steps: int = 16
    """Number of training iterations (one rollout batch and its update each); the default suits the embedded
    model (README "Quick start" has its measured run)."""
    target_reward: float | None = None
    """Stop early once an iteration's mean reward reaches this value (None: run all steps)."""
    num_labels: int = 32
    """Class labels drawn per iteration (groups per batch). Global: under torchrun each of the W processes
    samples num_labels / W of them (a group never spans processes)."""
    group_size: int = 16
    """Samples per label (GRPO/RLOO normalise rewards within a group)."""
    labels: tuple[int, ...] | None = None
    """Restrict training to these class labels (None: all classes)."""
    prompts: str | None = None
    """Prompts of a text-conditional model: a shipped set ("parti", "geneval") or a prompt file (text, JSONL,
    CSV/TSV). A seeded split (``prompt_eval_fraction``) keeps some of them for evaluation only."""
    prompt_eval_fraction: float = 0.1
    """Share of ``prompts`` held out for evaluation and sample grids (0: evaluate on training prompts)."""
    text_encoder: str | None = None
    """Text encoder of a text-conditional model: a T5 folder or Hugging Face repo id (None: the model's own,
    FLAN-T5-XL for LlamaGen t2i), or a ``.safetensors`` features file written by `vargym encode-prompts`."""
    minibatch_size: int = 32
    """Episodes per gradient step; must divide num_labels * group_size. Global: under torchrun each process
    computes minibatch_size / W of them and DDP averages the gradients."""
    micro_batch_size: int | None = None
    """Rows per forward/backward within a minibatch (gradient accumulation: less activation memory, the
    same update); must divide this process's share of the minibatch. None: the whole share at once."""
    gradient_checkpointing: bool = False
    """Recompute the policy's transformer blocks in backward (activation checkpointing): less memory, more
    update compute (README "Multiple GPUs and nodes" says how much)."""
    reward_chunks: int = 1
    """Sample each batch in this many chunks of whole groups, scoring each chunk once it is finished."""
    async_rewards: bool = False
    """Score each chunk in a worker thread while the next one samples (pays off with a slow or remote
    reward; the results equal those without it). Use with reward_chunks > 1."""
    group_seeds: bool = False
    """Draw each group's samples from its own generator, seeded by (seed, iteration, group): a run's images
    then do not depend on how the batch is split over processes. Always on under torchrun with more than
    one process; turn it on in a one-process run to reproduce such a run exactly."""
    epochs: int = 1
    """Passes over each rollout batch (REINFORCE is on-policy: 1)."""
    lr: float = 1e-4
    """AdamW learning rate."""
    weight_decay: float = 0.0
    """AdamW weight decay (decoupled)."""
    lr_schedule: str = "constant"
    """Learning-rate schedule over the iterations: "constant" or "cosine" (decays to 10% of lr)."""
    warmup_steps: int = 0
    """Iterations of linear learning-rate warm-up."""
    grad_clip: float = 1.0
    """Clip the global gradient norm to this value (0: no clipping; the norm is logged either way)."""
    sampling: SamplingConfig | dict[str, Any] = field(default_factory=lambda: training_sampling())
    """The training distribution, a `vargym.models.SamplingConfig` (flags: --temperature, --cfg, --top-k, ...).
    Training's defaults: temperature 0.7, unguided, no filters, "auto" precisions (bfloat16 where the
    device runs it natively), inverse-CDF draws. A dict overrides these defaults field by field."""
    beta: float | None = None
    """KL-to-reference weight; None keeps the algorithm's default (GRPO 0.1, var-grpo 0.2, PPO/REINFORCE 0)."""
    clip_epsilon: float | None = None
    """Ratio clipping for GRPO/PPO; None keeps the algorithm's default (0.2)."""
    algo_kwargs: dict[str, Any] = field(default_factory=dict)
    """Further fields of the algorithm's config (e.g. {"baseline": "rloo"} for REINFORCE)."""
    log_kl_ref: bool = True
    """Keep a frozen reference even when beta = 0, to log kl_ref (one extra no-grad pass per iteration)."""
    ratio_check_tol: float | None = None
    """Start-up check: max |teacher-forced - sampled log-prob| allowed on the first batch (0: skip; None:
    by precision, 1e-3 in float32 and the measured bound in bfloat16, see README "Precision")."""
    lora_rank: int = 0
    """LoRA rank on the policy's attention and FFN projections (0: fine-tune every weight). With LoRA the
    reference policy is the network with its adapters off (no second copy) and checkpoints hold the adapters."""
    lora_alpha: float | None = None
    """LoRA scale numerator (the update is scaled by alpha / rank; None: alpha = rank)."""
    recompute_old_log_prob: bool = False
    """Recompute the behaviour log-probs with a teacher-forced pass each iteration instead of reusing the ones
    the sampler recorded (the start-up check proves them equal); costs one extra pass."""
    compile: bool = False
    """``torch.compile`` the network for the teacher-forced passes (start-up check, reference, update); the
    sampler stays eager (its shapes change every step). Off by default: see README "Precision, LoRA and
    speed" for what it costs and saves. On CPU it needs a C++ compiler."""
    eval_every: int = 0
    """Evaluate the reward on the fixed eval labels every N iterations (0: never)."""
    sample_every: int = 10
    """Write a PNG grid of fixed-label, fixed-seed samples every N iterations (0: never)."""
    eval_labels: tuple[int, ...] | None = None
    """Labels for evaluation and sample grids (None: the first 8 training classes)."""
    eval_per_label: int = 4
    """Samples per eval label (one grid row each)."""
    eval_seed: int = 1234
    """Seed of evaluation / grid sampling (fixed, so grids are comparable over iterations)."""
    gold: str = "auto"
    """Held-out metric logged beside the proxy reward at every evaluation, with within- and across-group
    diversity: "auto" (the tiny classifier's class fidelity for the 10-class procedural models, else none),
    "class_fidelity", a reward spec (e.g. "aesthetic" when training on "clip"), or "none"."""
    diversity_space: str = "auto"
    """Where the monitor measures within-group diversity: "classifier" (a tiny classifier's features: the
    procedural models', or the text world's attribute classifier), "pixels", or "auto" (a classifier where one
    fits the model, else pixels). Pixel distances fall whenever a reward darkens or brightens the images, a
    classifier's features only when the images show less variety. Both are logged."""
    hacking_window: int = 3
    """Reward-hacking monitor: evaluations to look back (it flags a rising reward with a falling gold metric
    or within-group diversity)."""
    hacking_threshold: float = 0.1
    """Reward-hacking monitor: the relative fall of the gold metric or diversity that raises the flag."""
    hacking_noise_z: float = 1.5
    """Reward-hacking monitor: the fall must also exceed this many standard errors of the difference between
    the two evaluations (their per-image gold scores' and per-condition diversities' spread); 0: the relative
    threshold alone."""
    stop_on_hacking: bool = False
    """Stop training (with a checkpoint) when the reward-hacking flag is raised."""
    checkpoint_every: int = 5
    """Write a resumable checkpoint every N iterations (0: only at the end). A stop (Ctrl-C, SIGTERM) always
    checkpoints the last finished iteration."""
    keep_checkpoints: int = 3
    """Keep only the newest N checkpoints (0: keep all)."""
    out: str = "runs/train"
    """Run directory: config.json, metrics.jsonl, samples/, checkpoints/, TensorBoard events."""
    overwrite: bool = False
    """Replace a run already in ``out`` (its files are deleted first); without it such a run is refused."""
    tensorboard: bool = True
    """Also log to TensorBoard when the tensorboard package is installed."""

    def __post_init__(self) -> None:
        from vargym.algos import algorithm_class

        algo_class = algorithm_class(self.algo)  # raises with the allowed names and a suggestion
        positive = ("steps", "num_labels", "group_size", "minibatch_size", "epochs", "eval_per_label")
        for name in positive:
            if int(getattr(self, name)) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)!r}")
        for name in (
            "warmup_steps",
            "eval_every",
            "sample_every",
            "checkpoint_every",
            "keep_checkpoints",
            "lora_rank",
            "hacking_window",
        ):
            if int(getattr(self, name)) < 0:
                raise ValueError(f"{name} must be >= 0, got {getattr(self, name)!r}")
        if not self.hacking_noise_z >= 0:
            raise ValueError(f"hacking_noise_z must be >= 0 (0: the relative threshold alone), got {self.hacking_noise_z!r}")
        if self.batch_size % self.minibatch_size:
            raise ValueError(
                f"minibatch_size ({self.minibatch_size}) must divide num_labels * group_size "
                f"({self.num_labels} * {self.group_size} = {self.batch_size})"
            )
        if self.lr <= 0 or self.weight_decay < 0 or self.grad_clip < 0 or (self.ratio_check_tol or 0) < 0:
            raise ValueError(
                f"lr must be > 0 and weight_decay, grad_clip, ratio_check_tol >= 0; got lr={self.lr}, "
                f"weight_decay={self.weight_decay}, grad_clip={self.grad_clip}, ratio_check_tol={self.ratio_check_tol}"
            )
        if not isinstance(self.sampling, SamplingConfig):
            object.__setattr__(self, "sampling", training_sampling(**dict(self.sampling)))
        if self.sampling.more_smooth:
            raise ValueError("sampling more_smooth must be False for training (its soft codes are not the "
                             "sampled tokens, so the recorded log-probs would not describe the policy)")
        if self.micro_batch_size is not None and (self.micro_batch_size < 1
                                                  or self.minibatch_size % self.micro_batch_size):
            raise ValueError(f"micro_batch_size must be None or an int >= 1 dividing minibatch_size "
                             f"({self.minibatch_size}), got {self.micro_batch_size!r}")
        if self.tokens_per_step is not None and self.tokens_per_step < 1:
            raise ValueError(f"tokens_per_step must be None or an int >= 1, got {self.tokens_per_step!r}")
        if self.lr_schedule not in LR_SCHEDULES:
            raise ValueError(f"lr_schedule must be one of {LR_SCHEDULES}, got {self.lr_schedule!r}")
        if algo_class.on_policy and self.epochs != 1:
            raise ValueError(
                f"epochs must be 1 for {self.algo} (it has no importance ratio, so later epochs would be "
                f"off-policy), got {self.epochs}"
            )
        fields_without_groups = {k: v for k, v in self.algo_overrides(None).items() if k != "group_size"}
        if algo_class.config_class(**fields_without_groups).needs_groups and self.group_size < 2:
            raise ValueError(
                f"group_size must be >= 2 for {self.algo} (group baselines compare samples of one label), "
                f"got {self.group_size}"
            )
        for name in ("labels", "eval_labels"):
            value = getattr(self, name)
            if value is not None and (len(value) == 0 or min(value) < 0):
                raise ValueError(f"{name} must be None or a non-empty list of labels >= 0, got {value!r}")
        from vargym.train.monitor import DIVERSITY_SPACES

        if self.diversity_space not in DIVERSITY_SPACES:
            raise ValueError(f"diversity_space must be one of {DIVERSITY_SPACES}, got {self.diversity_space!r}")
        if self.prompts is not None and (self.labels is not None or self.eval_labels is not None):
            raise ValueError("give either prompts (a text model) or labels / eval_labels (a class model), not both")
        from vargym.rewards.presets import REWARD_PRESETS
        from vargym.rewards.registry import NORMALIZATIONS

        if self.reward_preset is not None:
            if self.reward_preset not in REWARD_PRESETS:
                raise ValueError(f"reward_preset must be one of {sorted(REWARD_PRESETS)}, got {self.reward_preset!r}")
            if self.reward != "brightness":
                raise ValueError(f"give either reward ({self.reward!r}) or reward_preset ({self.reward_preset!r}), "
                                 f"not both")

        if self.reward_normalization not in NORMALIZATIONS:
            raise ValueError(f"reward_normalization must be one of {NORMALIZATIONS}, got {self.reward_normalization!r}")
        if self.reward_normalization == "group" and self.group_size < 2:
            raise ValueError("reward_normalization 'group' standardises each term within groups: group_size must be >= 2")
        if not 0.0 <= self.prompt_eval_fraction < 1.0:
            raise ValueError(f"prompt_eval_fraction must be in [0, 1), got {self.prompt_eval_fraction!r}")
        algo_class.config_class(**self.algo_overrides(num_conditions=None))  # range checks of the algorithm

    def condition_pools(self, default_prompts: str | None = None) -> tuple[Any, Any]:
        """The pools training and evaluation draw conditions from, as ``generator.condition_source`` takes them:
        ``labels`` and ``eval_labels``, or the seeded train/eval split of ``prompts`` (else of the model's
        ``default_prompts``). None: the model's default (every class; evaluation: the first conditions of the
        training pool)."""
        spec = self.prompts if self.prompts is not None else (
            default_prompts if self.labels is None and self.eval_labels is None else None)
        if spec is None:
            return self.labels, self.eval_labels
        from vargym.data.prompts import load_prompts

        prompts = load_prompts(spec)
        if self.prompt_eval_fraction == 0 or len(prompts) < 2:
            return prompts, None
        return prompts.split(self.prompt_eval_fraction, seed=self.seed)

    @property
    def batch_size(self) -> int:
        """N = num_labels * group_size episodes per iteration."""
        return self.num_labels * self.group_size

    def algo_overrides(self, num_conditions: int | None = None, *, num_classes: int | None = None) -> dict[str, Any]:
        """The algorithm config fields this run sets (group_size, beta, clip_epsilon, then algo_kwargs);
        ``num_conditions`` sizes REINFORCE's per-condition baseline (``num_classes`` is its deprecated name)."""
        if num_classes is not None:
            import warnings

            warnings.warn("algo_overrides(num_classes=) is deprecated: pass num_conditions=", DeprecationWarning,
                          stacklevel=2)
            num_conditions = num_classes
        from vargym.algos import config_class, preset_fields

        names = {f.name for f in dataclasses.fields(config_class(self.algo))}
        unknown = sorted(set(self.algo_kwargs) - names)
        if unknown:
            raise ValueError(f"algo_kwargs {unknown} are not fields of {self.algo}; allowed: {sorted(names)}")
        out: dict[str, Any] = preset_fields(self.algo)
        if "group_size" in names and self.group_size >= 2:  # G = 1 only where no group baseline is used
            out["group_size"] = self.group_size
        if self.beta is not None:
            out["beta"] = self.beta
        if self.clip_epsilon is not None:
            if "clip_epsilon" not in names:
                raise ValueError(
                    f"clip_epsilon does not apply to {self.algo} (it has no ratio); leave it unset"
                )
            out["clip_epsilon"] = self.clip_epsilon
        if num_conditions is not None and "num_conditions" in names:  # REINFORCE's per-condition EMA table
            out["num_conditions"] = num_conditions
        out.update(self.algo_kwargs)
        return out

    def merged(self, changes: dict[str, Any]) -> TrainConfig:
        """A copy with the fields of ``changes`` (a dict as `from_dict` takes it) changed; a ``sampling`` dict
        changes only the sampling fields it names."""
        data = _fold_sampling(dict(changes))
        if isinstance(data.get("sampling"), dict):
            data["sampling"] = {**dataclasses.asdict(self.sampling), **data["sampling"]}
        return TrainConfig.from_dict({**self.to_dict(), **data})

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (tuples become lists)."""
        return json.loads(json.dumps(dataclasses.asdict(self)))

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TrainConfig:
        """Build from a dict (e.g. ``config.json``); unknown keys raise a ValueError naming them."""
        names = {f.name for f in dataclasses.fields(cls)}
        data = _fold_sampling(dict(data))
        unknown = sorted(set(data) - names)
        if unknown:
            hint = "; ".join(f"{k!r}{did_you_mean(k, names | set(SAMPLING_FIELDS))}" for k in unknown)
            raise ValueError(f"unknown TrainConfig keys: {hint}")
        if isinstance(data.get("sampling"), dict):
            unknown = sorted(set(data["sampling"]) - set(SAMPLING_FIELDS))
            if unknown:
                hint = "; ".join(f"{k!r}{did_you_mean(k, SAMPLING_FIELDS)}" for k in unknown)
                raise ValueError(f"unknown sampling keys: {hint}")
        for name in ("labels", "eval_labels", "reward_steps"):
            if data.get(name) is not None:
                data[name] = tuple(int(x) for x in data[name])
        return cls(**data)

    @classmethod
    def for_model(cls, **fields: Any) -> TrainConfig:
        """``fields`` over the model's own training defaults (`with_model_defaults`): what ``vargym train``
        builds. ``TrainConfig(...)`` itself uses only the dataclass defaults."""
        return cls.from_dict(with_model_defaults(fields))

    def replace(self, **changes: Any) -> TrainConfig:
        """A copy with some fields changed (checked again)."""
        return dataclasses.replace(self, **changes)


def _fold_sampling(data: dict[str, Any]) -> dict[str, Any]:
    """Move flat sampling keys (the old layout of config files and checkpoints) into ``data["sampling"]``."""
    flat = {k: data.pop(k) for k in SAMPLING_FIELDS if k in data}
    if flat:
        base = data.get("sampling") or {}
        base = dataclasses.asdict(base) if isinstance(base, SamplingConfig) else dict(base)
        data["sampling"] = {**base, **flat}
    return data


def _deprecated_flat_init(init: Any) -> Any:
    """``TrainConfig(temperature=0.7, ...)``: the flat sampling keywords of earlier releases, folded into
    ``sampling`` with a DeprecationWarning."""

    def __init__(self: TrainConfig, *args: Any, **kwargs: Any) -> None:
        flat = sorted(k for k in SAMPLING_FIELDS if k in kwargs)
        if flat:
            import warnings

            warnings.warn(f"TrainConfig({', '.join(f'{k}=' for k in flat)}) is deprecated: pass "
                          f"sampling={{{', '.join(repr(k) + ': ...' for k in flat)}}}", DeprecationWarning,
                          stacklevel=2)
            kwargs = _fold_sampling(kwargs)
        init(self, *args, **kwargs)

    return __init__


def _deprecated_flat_property(name: str) -> property:
    def get(self: TrainConfig) -> Any:
        import warnings

        warnings.warn(f"TrainConfig.{name} is deprecated: read TrainConfig.sampling.{name}", DeprecationWarning,
                      stacklevel=2)
        return getattr(self.sampling, name)

    return property(get, doc=f"Deprecated: ``sampling.{name}``.")


TrainConfig.__init__ = _deprecated_flat_init(TrainConfig.__init__)  # type: ignore[method-assign]
for _name in SAMPLING_FIELDS:
    setattr(TrainConfig, _name, _deprecated_flat_property(_name))


def field_help() -> dict[str, str]:
    """Each TrainConfig field's docstring plus its default (the CLI's ``--help``); no torch import."""
    return configdoc.field_help(TrainConfig)


def load_config_file(path: str | Path) -> dict[str, Any]:
    """Read a TOML (``.toml``) or YAML (``.yaml``/``.yml``) file of TrainConfig fields into a dict.

    A ``[train]`` table (or ``train:`` mapping) is used when present, else the top level.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"config file {path} does not exist")
    suffix = path.suffix.lower()
    if suffix == ".toml":
        import tomllib

        data = tomllib.loads(path.read_text())
    elif suffix in (".yaml", ".yml"):
        import yaml

        data = yaml.safe_load(path.read_text()) or {}
    elif suffix == ".json":
        data = json.loads(path.read_text())
    else:
        raise ValueError(f"config file must end in .toml, .yaml, .yml or .json, got {path.name!r}")
    if not isinstance(data, dict):
        raise ValueError(f"config file {path} must hold a table of TrainConfig fields")
    return dict(data.get("train", data))


def resolve_config(file: str | Path | None = None, **overrides: Any) -> TrainConfig:
    """Defaults < the model's training defaults < ``file`` values < ``overrides`` (None values in ``overrides``
    mean "not given")."""
    data = load_config_file(file) if file is not None else {}
    data.update({k: v for k, v in overrides.items() if v is not None})
    return TrainConfig.for_model(**data)


_ALGORITHM_FIELDS = ("beta", "clip_epsilon")
"""`TrainConfig` fields that set a field of the algorithm's config."""


def _fields_a_model_may_set(algo: str) -> set[str]:
    """The `_ALGORITHM_FIELDS` a model's recommendation may set for ``algo``: those its config takes and its
    preset leaves alone (an unknown algorithm: all, so that `TrainConfig` names the bad algorithm)."""
    from vargym.algos import config_class, preset_fields

    try:
        fields = {f.name for f in dataclasses.fields(config_class(algo))}
        preset = preset_fields(algo)
    except (KeyError, ValueError):
        return set(_ALGORITHM_FIELDS)
    return {name for name in _ALGORITHM_FIELDS if name in fields and name not in preset}


def with_model_defaults(data: dict[str, Any]) -> dict[str, Any]:
    """``data`` (`TrainConfig` fields) over the training defaults its ``model`` recommends for itself (the
    ``"training"`` table of its ``model.json``, `vargym.models.training_defaults`; sampling fields merge field
    by field). Whatever ``data`` sets wins. A recommended algorithm hyper-parameter (``beta``, ``clip_epsilon``)
    applies only to an algorithm that takes it and whose preset does not set it: ``--algo dapo`` keeps DAPO's
    clip-higher and ``--algo var-grpo`` its KL weight, ``--algo reinforce`` has no ratio to clip."""
    from vargym.models.families import training_defaults

    model = data.get("model", TrainConfig.model)
    defaults = _fold_sampling(training_defaults(model))
    dropped = set(_ALGORITHM_FIELDS) - _fields_a_model_may_set(data.get("algo", TrainConfig.algo))
    defaults = {k: v for k, v in defaults.items() if k not in dropped}
    names = {f.name for f in dataclasses.fields(TrainConfig)} - {"model", "out", "overwrite"}
    unknown = sorted(set(defaults) - names)
    if unknown:
        raise ValueError(f"the training defaults of model {model!r} (its model.json's 'training') name fields that "
                         f"TrainConfig does not take or a model cannot set: {unknown}")
    given = _fold_sampling(dict(data))
    merged = {**defaults, **given}
    if isinstance(defaults.get("sampling"), dict) and isinstance(given.get("sampling"), dict):
        merged["sampling"] = {**defaults["sampling"], **given["sampling"]}
    return merged
