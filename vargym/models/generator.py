"""The generator interface: what every model family gives the layers above `vargym.models`.

A `Generator` bundles a frozen tokenizer/decoder with the trainable policy network and speaks three small
types, so that envs, collectors, the trainer, evaluation and the CLI never learn which family they drive:

- `TokenLayout`: how the flat token sequence ``[N, T]`` splits into env steps (VAR: one scale per step;
  a raster model: one token, or a chunk of tokens, per step).
- `SamplingConfig`: the sampling distribution (temperature, guidance, top-k/top-p, family options),
  validated once and passed as one object from the configs down to the sampler and the log-prob pass.
- `Condition` (`vargym.models.conditions`): what an image is conditioned on. `ClassCondition` (labels
  ``[N]``) today; a text condition is another subclass. `Generator.condition_source` says which
  conditions a generator takes and how to draw them.

A family implements `Generator` (see `vargym.models.var.generator.VARGenerator`) and registers a loader in
`vargym.models.families`.
"""

from __future__ import annotations

import contextlib
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, NamedTuple

import torch
from torch import nn

from vargym.models.conditions import ClassCondition, ClassConditionSource, Condition, ConditionSource

if TYPE_CHECKING:
    from vargym.models.lora import LoRAConfig

__all__ = [
    "ClassCondition", "ClassConditionSource", "Condition", "ConditionSource", "Generator", "RLForward", "RasterSampler", "SamplingConfig", "StepSampler", "TokenLayout",
    "condition_from_batch", "raster_layout", "top_k_top_p_filter",
]


# ------------------------------------------------------------------------------------------------ layout
@dataclass(frozen=True)
class TokenLayout:
    """How T tokens split into K env steps: step k emits ``tokens_per_step[k]`` tokens, in order.

    Example:
        >>> layout = TokenLayout((1, 4, 9))      # VAR scales 1x1, 2x2, 3x3
        >>> layout.num_steps, layout.num_tokens, layout.max_step_tokens
        (3, 14, 9)
    """

    tokens_per_step: tuple[int, ...]
    """Tokens emitted at each env step."""

    def __post_init__(self) -> None:
        sizes = tuple(int(n) for n in self.tokens_per_step)
        if not sizes or min(sizes) < 1:
            raise ValueError(f"tokens_per_step must be a non-empty sequence of ints >= 1, got {self.tokens_per_step!r}")
        object.__setattr__(self, "tokens_per_step", sizes)

    @property
    def num_steps(self) -> int:
        """K: env steps per episode."""
        return len(self.tokens_per_step)

    @property
    def num_tokens(self) -> int:
        """T: tokens per image."""
        return sum(self.tokens_per_step)

    @property
    def max_step_tokens(self) -> int:
        """The largest step (actions are padded to it)."""
        return max(self.tokens_per_step)

    @cached_property
    def begin_ends(self) -> tuple[tuple[int, int], ...]:
        """Token range [begin, end) of each step in the flat sequence."""
        out, cur = [], 0
        for n in self.tokens_per_step:
            out.append((cur, cur + n))
            cur += n
        return tuple(out)

    def step_index(self, device: torch.device | str | None = None) -> torch.Tensor:
        """The step of each token: int64 ``[T]``."""
        sizes = torch.tensor(self.tokens_per_step, device=device)
        return torch.repeat_interleave(torch.arange(self.num_steps, device=device), sizes)

    def split(self, tokens: torch.Tensor) -> list[torch.Tensor]:
        """``[N, T]`` -> one ``[N, tokens_per_step[k]]`` view per step."""
        if tokens.ndim != 2 or tokens.shape[1] != self.num_tokens:
            raise ValueError(f"tokens must be [N, T={self.num_tokens}], got {tuple(tokens.shape)}")
        return [tokens[:, b:e] for b, e in self.begin_ends]

    def step_mean(self, values: torch.Tensor) -> torch.Tensor:
        """Mean of ``values`` ``[N, T]`` over the tokens of each step: ``[K]``."""
        if values.shape[-1] != self.num_tokens:
            raise ValueError(f"values must end in T={self.num_tokens}, got {tuple(values.shape)}")
        return torch.stack([values[..., b:e].mean() for b, e in self.begin_ends])


def raster_layout(num_tokens: int, tokens_per_step: int) -> TokenLayout:
    """``num_tokens`` in chunks of ``tokens_per_step`` (the last chunk takes the remainder)."""
    if int(tokens_per_step) != tokens_per_step or not 1 <= tokens_per_step <= num_tokens:
        raise ValueError(f"tokens_per_step must be an int in [1, {num_tokens}] (tokens per image), "
                         f"got {tokens_per_step!r}")
    full, rest = divmod(num_tokens, int(tokens_per_step))
    return TokenLayout((int(tokens_per_step),) * full + ((rest,) if rest else ()))


# ---------------------------------------------------------------------------------------------- sampling
PRECISIONS = ("float32", "bfloat16")
DRAWS = ("multinomial", "inverse-cdf")
SAMPLING_PRECISIONS = ("auto", *PRECISIONS)


@dataclass(frozen=True)
class SamplingConfig:
    """The distribution tokens are drawn from; one object from the CLI down to the sampler and log-prob pass.

    Example:
        >>> SamplingConfig(temperature=0.7)                 # the seed paper's training temperature
        >>> SamplingConfig(cfg=1.5, top_k=900, top_p=0.96)  # VAR's official inference settings
    """

    temperature: float = 1.0
    """Softmax temperature (> 0); the policy's distribution is the tempered one."""
    cfg: float = 0.0
    """Classifier-free guidance scale (>= 0; 0 = unguided, which runs half the rows). Its meaning is the
    family's own: VAR guides ``(1 + t_k) * cond - t_k * uncond`` with ``t_k = cfg * k / (K - 1)``; LlamaGen
    guides ``uncond + (cond - uncond) * cfg`` and only when cfg > 1."""
    cfg_interval: int = -1
    """LlamaGen: guide only the first ``cfg_interval + 2`` tokens (-1 = every token); VAR ignores it."""
    top_k: int = 0
    """Keep the k most likely tokens (0 = off)."""
    top_p: float = 0.0
    """Nucleus filtering: keep the smallest set with this much mass (0 = off)."""
    more_smooth: bool = False
    """VAR's visualisation option: Gumbel-softmax soft codes drive the next scale (sampling only; the
    recorded log-probs then do not describe the next scale's input, so never train with it)."""
    precision: str = "float32"
    """Compute dtype of the policy network while sampling and in the teacher-forced pass: "float32",
    "bfloat16" (autocast; weights stay float32) or "auto" (bfloat16 where the device runs it natively, else
    float32; `resolve` decides, once, for a device). Both passes use it, so the recorded log-probs stay the
    policy's."""
    decode_precision: str = "float32"
    """Compute dtype of the decoder that turns the tokens into images: "float32", "bfloat16" (faster where
    the device runs bf16 natively; pixels move slightly, see README "Precision") or "auto" (as precision)."""
    draw: str = "multinomial"
    """How a token is drawn from its distribution: "multinomial" (``torch.multinomial``, as the official
    samplers: a seeded generator gives their tokens) or "inverse-cdf" (the same distribution from one
    uniform number per token; much cheaper on CPU, see README "Precision"; other tokens for the same seed)."""

    def __post_init__(self) -> None:
        for name in ("precision", "decode_precision"):
            if getattr(self, name) not in SAMPLING_PRECISIONS:
                raise ValueError(f"sampling {name} must be one of {SAMPLING_PRECISIONS}, got {getattr(self, name)!r}")
        if self.draw not in DRAWS:
            raise ValueError(f"sampling draw must be one of {DRAWS}, got {self.draw!r}")
        for name, ok, allowed in (
            ("temperature", self.temperature > 0, "> 0"),
            ("cfg", self.cfg >= 0, ">= 0 (0 = unguided)"),
            ("top_k", int(self.top_k) == self.top_k and self.top_k >= 0, "an int >= 0 (0 = off)"),
            ("top_p", 0.0 <= self.top_p <= 1.0, "in [0, 1] (0 = off)"),
            ("cfg_interval", int(self.cfg_interval) == self.cfg_interval and self.cfg_interval >= -1,
             "an int >= -1 (-1 = guide every token)"),
        ):
            if not ok or self.__dict__[name] != self.__dict__[name]:  # NaN fails too
                raise ValueError(f"sampling {name} must be {allowed}, got {self.__dict__[name]!r}")
        object.__setattr__(self, "temperature", float(self.temperature))
        object.__setattr__(self, "cfg", float(self.cfg))
        object.__setattr__(self, "top_k", int(self.top_k))
        object.__setattr__(self, "top_p", float(self.top_p))
        object.__setattr__(self, "more_smooth", bool(self.more_smooth))
        object.__setattr__(self, "cfg_interval", int(self.cfg_interval))

    def as_kwargs(self) -> dict[str, Any]:
        """The fields as keyword arguments (``var.sample(labels, **sampling.as_kwargs())``)."""
        return {"temperature": self.temperature, "cfg": self.cfg, "top_k": self.top_k, "top_p": self.top_p,
                "more_smooth": self.more_smooth, "draw": self.draw}

    def autocast(self, device: torch.device | str) -> contextlib.AbstractContextManager:
        """The autocast context of ``precision`` on ``device`` (a no-op for float32)."""
        return autocast(self.precision, device)

    def resolve(self, device: torch.device | str | None) -> SamplingConfig:
        """This config with "auto" precisions decided for ``device`` (the one place that decides them)."""
        import dataclasses

        from vargym.devices import resolve_device, resolve_precision

        if "auto" not in (self.precision, self.decode_precision):
            return self
        device = resolve_device(device)
        return dataclasses.replace(self, precision=resolve_precision(self.precision, device),
                                   decode_precision=resolve_precision(self.decode_precision, device))


def draw(probs: torch.Tensor, generator: torch.Generator | Sequence[torch.Generator] | None,
         replacement: bool = False, method: str = "multinomial") -> torch.Tensor:
    """One draw per row of ``probs`` [R, V] -> int64 [R, 1].

    ``method="multinomial"`` calls ``torch.multinomial`` as the official samplers do, so a seeded generator
    gives their tokens. ``"inverse-cdf"`` draws the same distribution from one uniform number per row and a
    binary search in the cumulative sums; ``torch.multinomial`` draws one exponential per vocabulary entry
    instead, which on CPU costs about ten times more (the cumulative sums are float32: a token's probability
    moves by at most 6e-8, and a zero-probability token is never drawn).

    ``generator`` may be a sequence of G generators: the rows then split into G equal consecutive blocks
    (one per group of samples), each drawn from its own generator. A sample's tokens then depend only on
    its group's generator, not on which other groups share the batch, which is what makes a run on several
    processes draw the same images as one process.
    """
    if method not in DRAWS:
        raise ValueError(f"draw method must be one of {DRAWS}, got {method!r}")
    if generator is None or isinstance(generator, torch.Generator):
        return _draw_block(probs, generator, replacement, method)
    if probs.shape[0] % len(generator):
        raise ValueError(f"{probs.shape[0]} rows do not split into {len(generator)} equal groups")
    blocks = probs.split(probs.shape[0] // len(generator))
    return torch.cat([_draw_block(b, g, replacement, method) for b, g in zip(blocks, generator)])


def _draw_block(probs: torch.Tensor, generator: torch.Generator | None, replacement: bool, method: str) -> torch.Tensor:
    if method == "multinomial":
        return torch.multinomial(probs, 1, replacement=replacement, generator=generator)
    cdf = probs.float().cumsum(dim=-1)  # [R, V]
    total = cdf[:, -1:]  # [R, 1]
    valid = (total > 0).all()  # also false for NaN; torch.multinomial refuses such rows too
    message = "probability rows must be finite, non-negative and not all zero"
    if probs.device.type == "cpu":
        if not bool(valid):
            raise ValueError(message)
    else:  # checked on the device: a host sync per step would stall an accelerator's sampling loop
        torch._assert_async(valid, message)
    u = torch.rand(probs.shape[0], 1, device=probs.device, generator=generator) * total
    u = torch.minimum(u, total.nextafter(torch.zeros_like(total)))  # u < total even where rounding reached it
    return torch.searchsorted(cdf, u, right=True)  # the first index with cdf > u: a token of probability > 0


def check_ids(ids: torch.Tensor, high: int, what: str, note: str) -> None:
    """Raise a ValueError naming ``what`` unless every id lies in [0, high) (meta tensors: shapes only)."""
    if ids.numel() and not ids.is_meta and (int(ids.min()) < 0 or int(ids.max()) >= high):
        raise ValueError(f"{what} must lie in [0, {high}) ({note}), got min {int(ids.min())} max {int(ids.max())}")


def check_labels(labels: Any, num_classes: int, device: torch.device | str, allow_null: bool = False) -> torch.Tensor:
    """Class labels as int64 ``[N]`` on ``device``; ``allow_null`` admits the null class ``num_classes``.

    The rule of both families: the networks' ``logits``, ``log_probs`` / ``forward_rl`` and samplers accept
    the null class (the unconditional model that guidance mixes in; sampling it draws unconditional images),
    so a log-prob can be recomputed for anything that was sampled. Training draws conditions from
    ``[0, num_classes)`` only, and pretraining's ``teacher_forcing_loss`` takes real labels (it drops them to
    the null class itself)."""
    labels = torch.as_tensor(labels, device=device)
    if labels.ndim != 1 or labels.dtype.is_floating_point or labels.dtype == torch.bool:
        raise ValueError(f"labels must be a 1-D integer tensor, got {labels.dtype} of shape {tuple(labels.shape)}")
    check_ids(labels, num_classes + (1 if allow_null else 0), "labels", f"num_classes={num_classes}")
    return labels.long()


def top_k_top_p_filter(logits: torch.Tensor, top_k: int = 0, top_p: float = 1.0) -> torch.Tensor:
    """transformers' ``top_k_top_p_filtering`` as LlamaGen and taming-transformers call it (a new tensor):
    top-k keeps ties at the k-th value; top-p drops tokens whose cumulative probability (sorted descending)
    exceeds ``top_p``, keeping the first one that crosses it. ``top_p`` >= 1 (or 0) is off."""
    V = logits.shape[-1]
    if top_k > 0:
        kth = logits.topk(min(top_k, V), dim=-1)[0][..., -1:]
        logits = logits.masked_fill(logits < kth, -torch.inf)
    if 0 < top_p < 1.0:
        sorted_logits, sorted_idx = logits.sort(dim=-1, descending=True)
        remove = sorted_logits.softmax(dim=-1).cumsum(dim=-1) > top_p
        remove[..., 1:] = remove[..., :-1].clone()
        remove[..., 0] = False
        logits = logits.masked_fill(remove.scatter(-1, sorted_idx, remove), -torch.inf)
    return logits


def keep_taken(filtered: torch.Tensor, logits: torch.Tensor, tokens: torch.Tensor) -> torch.Tensor:
    """``filtered`` logits [..., V] with the taken ``tokens`` [...] restored to their unfiltered value.

    A token the sampler drew lies in its top-k/top-p set by construction; a teacher-forced pass in another
    kernel order (bf16 above all) can round it just outside, which would give it a log-prob of -inf and
    the update an infinite ratio. Where the filters agree this returns ``filtered`` unchanged.
    """
    index = tokens.unsqueeze(-1)
    return filtered.scatter(-1, index, logits.gather(-1, index))


def autocast(precision: str, device: torch.device | str) -> contextlib.AbstractContextManager:
    """``torch.autocast`` to bfloat16 on ``device``'s type, or a no-op for "float32"."""
    if precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {PRECISIONS} here, got {precision!r} (resolve \"auto\" first: "
                         f"SamplingConfig.resolve(device))")
    if precision == "float32":
        return contextlib.nullcontext()
    return torch.autocast(torch.device(device).type, dtype=torch.bfloat16)


CPU_DECODE_PIXELS = 16 * 64 * 64
"""Output pixels a decoder draws per pass on CPU. A conv decoder's activations for a large batch outgrow the
CPU's caches, and a pass then costs more per image (`benchmarks/decode_speed.py`); other devices decode the
whole batch in one pass."""


def decode_in_passes(decode: Callable[[torch.Tensor], torch.Tensor], tokens: torch.Tensor,
                     pixels_per_image: int) -> torch.Tensor:
    """``decode(tokens)`` [B, ...] -> images [B, 3, H, W], on CPU in passes of about `CPU_DECODE_PIXELS`
    output pixels (each image is decoded on its own either way: the result is the same up to rounding)."""
    rows = max(1, CPU_DECODE_PIXELS // pixels_per_image)
    if tokens.device.type != "cpu" or tokens.shape[0] <= rows:
        return decode(tokens)
    return torch.cat([decode(chunk) for chunk in tokens.split(rows)])


def condition_from_batch(batch: Any) -> Condition:
    """Rebuild the class `Condition` a rollout TensorDict holds. Deprecated: use
    ``generator.condition_source().from_batch(batch)``, which works for every kind of condition."""
    from vargym.deprecation import warn_renamed

    warn_renamed("vargym.models.condition_from_batch", "generator.condition_source().from_batch(batch)")
    return ClassConditionSource(0).from_batch(batch)


# --------------------------------------------------------------------------------------------- generator
class RLForward(NamedTuple):
    """The teacher-forced pass of the RL update."""

    log_probs: torch.Tensor
    """[N, T] log-prob of each given token under the sampling distribution."""
    entropy: torch.Tensor
    """[N, T] entropy of that distribution."""
    hidden: torch.Tensor
    """[N, T, C] last hidden states of the conditional branch (a value head reads them)."""


class StepSampler(ABC):
    """One batch of episodes in progress: owns the KV cache. ``tokens_k, log_probs_k = sampler.step()``."""

    batch_size: int
    """N."""
    step_count: int
    """Steps taken so far (the index of the next step)."""

    @property
    @abstractmethod
    def done(self) -> bool: ...

    @abstractmethod
    def step(self, tokens: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """Sample (or, given ``tokens``, force) the next step: int64 ``[N, n_k]`` and log-probs ``[N, n_k]``."""


class RasterSampler(StepSampler):
    """Raster sampling with a KV cache: ``step()`` emits ``tokens_per_step`` tokens (the last step fewer).

    The loop the next-token families share. A family implements ``token(forced)``: the next token's draw
    (or the ``forced`` one) and its log-prob, advancing ``position`` and its caches by one.
    """

    def __init__(self, batch_size: int, num_tokens: int, vocab_size: int, device: torch.device, *,
                 top_k: int = 0, top_p: float = 1.0, temperature: float = 1.0,
                 generator: torch.Generator | None = None, precision: str = "float32", tokens_per_step: int = 1,
                 draw: str = "multinomial"):
        if temperature <= 0:
            raise ValueError(f"temperature must be > 0, got {temperature}")
        if top_k < 0 or not 0.0 <= top_p <= 1.0:
            raise ValueError(f"top_k must be >= 0 and top_p in [0, 1], got top_k={top_k}, top_p={top_p}")
        if tokens_per_step < 1:
            raise ValueError(f"tokens_per_step must be >= 1, got {tokens_per_step}")
        if draw not in DRAWS:
            raise ValueError(f"draw must be one of {DRAWS}, got {draw!r}")
        self.B, self.L, self.vocab_size, self.device = batch_size, num_tokens, vocab_size, device
        self.top_k, self.top_p, self.temperature = top_k, top_p, temperature
        self.generator, self.precision, self.tokens_per_step = generator, precision, tokens_per_step
        self.draw = draw  # "multinomial" (the official RNG stream) or "inverse-cdf" (see `draw`)
        self.position = 0  # tokens drawn so far

    @property
    def done(self) -> bool:
        return self.position >= self.L

    @property
    def batch_size(self) -> int:
        return self.B

    @property
    def step_count(self) -> int:
        return -(-self.position // self.tokens_per_step)

    @abstractmethod
    def token(self, forced: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """Draw (or force) one token: int64 [B] and its log-prob [B]."""

    @torch.no_grad()
    def step(self, tokens: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """Sample (or, given ``tokens`` [B, n], force) the next chunk: int64 [B, n] and float32 log-probs."""
        if self.done:
            raise RuntimeError(f"all {self.L} tokens are sampled; make a new sampler for a new episode")
        n = min(self.tokens_per_step, self.L - self.position)
        if tokens is not None:
            tokens = torch.as_tensor(tokens, device=self.device)
            if tuple(tokens.shape) != (self.B, n) or tokens.dtype.is_floating_point:
                raise ValueError(f"tokens for this step must be integers of shape ({self.B}, {n}), got "
                                 f"{tokens.dtype} {tuple(tokens.shape)}")
            check_ids(tokens, self.vocab_size, "tokens", "vocab size")
            tokens = tokens.long()
        out, lps = [], []
        with autocast(self.precision, self.device):
            for i in range(n):
                t, lp = self.token(None if tokens is None else tokens[:, i])
                out.append(t)
                lps.append(lp.float())
        return torch.stack(out, 1), torch.stack(lps, 1)

    def run(self) -> tuple[torch.Tensor, torch.Tensor]:
        """Every remaining token: int64 [B, L - position] and their log-probs."""
        tokens, log_probs = [], []
        # One autocast region for the whole loop: its cache keeps the bf16 copies of the weights across
        # tokens (each step's own region would re-cast every weight for every token, which costs more than
        # the bf16 matmul saves at a few rows per step).
        with autocast(self.precision, self.device):
            while not self.done:
                t, lp = self.step()
                tokens.append(t)
                log_probs.append(lp)
        return torch.cat(tokens, 1), torch.cat(log_probs, 1)


class Generator(ABC):
    """A conditional token generator: frozen tokenizer/decoder + trainable policy network.

    Everything above `vargym.models` uses only this class. A family sets ``family`` and implements the
    abstract members; ``policy`` is the ``nn.Module`` whose parameters RL trains.

    Example:
        >>> gen = load_generator("tiny")
        >>> sampling = SamplingConfig(temperature=0.7)
        >>> tokens, log_probs = gen.sample(ClassCondition(torch.tensor([0, 1])), sampling, return_log_probs=True)
        >>> gen.forward_rl(ClassCondition(torch.tensor([0, 1])), tokens, sampling).log_probs  # == log_probs
        >>> images = gen.decode(tokens)   # [2, 3, H, W] in [0, 1]
    """

    family: ClassVar[str] = ""
    """Registered family name (``"var"``)."""
    class_names: list[str] | None = None
    """Names of the classes when the checkpoint records them (the shipped model does), else None."""
    default_prompts: str | None = None
    """A text model's prompt set when the user gives none (a `vargym.data.load_prompts` name; the embedded
    ``tiny-t2i`` names its procedural captions): training, evaluation and sampling load it themselves."""
    supports_guidance: bool = True
    """Whether the model has an unconditional branch, so that ``SamplingConfig.cfg`` can guide it (a model
    without one refuses cfg > 1; `vargym sample` then leaves its guidance default out)."""
    gold_metric: str | tuple[str, dict] | None = None
    """The held-out metric a training run logs beside its reward when ``--gold auto``: a reward spec its
    checkpoint recommends, with the reward's keyword arguments (``("text-fidelity", {"classifier": DIR})`` for
    ``tiny-t2i``), else None."""

    # -- what the generator is -------------------------------------------------------------------------
    @property
    @abstractmethod
    def layout(self) -> TokenLayout: ...

    @property
    @abstractmethod
    def num_classes(self) -> int:
        """Class conditions lie in [0, num_classes); ``num_classes`` itself is the null class."""

    @property
    @abstractmethod
    def vocab_size(self) -> int: ...

    @property
    @abstractmethod
    def hidden_size(self) -> int:
        """Width C of ``RLForward.hidden``."""

    @property
    @abstractmethod
    def policy(self) -> nn.Module:
        """The trainable network (what an optimiser, LoRA or DDP/FSDP wraps)."""

    @property
    @abstractmethod
    def decoder(self) -> nn.Module:
        """The frozen tokenizer/decoder."""

    @property
    def device(self) -> torch.device:
        return next(self.decoder.parameters()).device

    def trainable_parameters(self) -> Iterator[nn.Parameter]:
        """The parameters RL updates (all of the policy's by default; LoRA narrows this)."""
        return (p for p in self.policy.parameters() if p.requires_grad)

    lora: LoRAConfig | None = None
    """The adapters' config once `apply_lora` ran."""
    forward_module: nn.Module | None = None
    """The module `forward_rl` calls for the network pass: a ``DistributedDataParallel`` wrapper of ``policy``
    under torchrun (its reducer needs the forward to go through it); None: the policy itself."""

    def apply_lora(self, config: LoRAConfig) -> list[str]:
        """Add LoRA adapters to the policy and freeze the rest (`vargym.models.lora`); returns adapted layers."""
        import dataclasses

        from vargym.models.lora import apply_lora
        from vargym.models.registry import get_family

        if config.targets is None:
            config = dataclasses.replace(config, targets=get_family(self.family).lora_targets)
        names = apply_lora(self.policy, config)
        self.lora = config
        return names

    def base_policy(self) -> contextlib.AbstractContextManager:
        """Inside the block the policy is the network without its adapters (the LoRA reference policy)."""
        from vargym.models.lora import lora_disabled

        return lora_disabled(self.policy)

    def export(self, directory: str | Path) -> Path:
        """Write the generator with any adapters merged into its weights (the family's own keys)."""
        import copy

        from vargym.models.lora import merge_lora

        if self.lora is None:
            return self.save(directory)
        merged = copy.copy(self)
        merged.lora, merged.forward_module = None, None
        merged._set_policy(merge_lora(copy.deepcopy(self.policy)))
        return merged.save(directory)

    def save_adapters(self, directory: str | Path, extra: dict) -> Path:
        """Write the LoRA adapters alone (``lora.safetensors``) and a ``model.json`` whose ``base_model`` /
        ``base_seed`` (from ``extra``) say how to rebuild the base network they sit on."""
        import dataclasses
        import json

        from safetensors.torch import save_file

        from vargym.models.lora import lora_state_dict

        if "base_model" not in extra:
            raise ValueError("saving LoRA adapters needs extra={'base_model': <load_generator spec>, 'base_seed': int}")
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        tensors = {k: v.detach().contiguous().cpu() for k, v in lora_state_dict(self.policy).items()}
        save_file(tensors, str(directory / "lora.safetensors"))
        meta = {"family": self.family, "lora": dataclasses.asdict(self.lora), **extra}
        (directory / "model.json").write_text(json.dumps(meta, indent=2))
        return directory

    def set_gradient_checkpointing(self, enabled: bool) -> None:
        """Recompute the policy's transformer blocks in backward (activation checkpointing): less memory for
        the update, about a third more compute. Sampling is unaffected."""
        if not hasattr(self.policy, "gradient_checkpointing"):
            raise ValueError(f"{type(self.policy).__name__} does not support activation checkpointing")
        self.policy.gradient_checkpointing = bool(enabled)

    def set_tokens_per_step(self, tokens_per_step: int) -> None:
        """Emit this many tokens per env step (raster families); families with fixed steps raise."""
        raise ValueError(f"the {self.family or type(self).__name__} family has fixed steps "
                         f"{self.layout.tokens_per_step}; tokens_per_step applies to raster (next-token) models")

    def _set_policy(self, policy: nn.Module) -> None:
        raise NotImplementedError(f"{type(self).__name__} cannot swap its policy network")

    # -- conditions --------------------------------------------------------------------------------------
    def condition_source(self, pool: Any = None) -> ConditionSource:
        """The conditions this generator takes, narrowed to ``pool`` when given (class labels by default:
        ``pool`` is a list of labels; a text family takes prompts)."""
        return ClassConditionSource(self.num_classes, pool, self.class_names)

    # -- sampling ----------------------------------------------------------------------------------------
    @abstractmethod
    def make_sampler(self, condition: Condition, sampling: SamplingConfig,
                     generator: torch.Generator | None = None) -> StepSampler:
        """A step-wise sampler with a KV cache for ``condition`` [N]."""

    @torch.no_grad()
    def sample(self, condition: Condition, sampling: SamplingConfig, generator: torch.Generator | None = None,
               return_log_probs: bool = False):
        """All steps at once: tokens int64 ``[N, T]`` (and their log-probs ``[N, T]``)."""
        sampler = self.make_sampler(condition, sampling, generator)
        tokens, log_probs = [], []
        while not sampler.done:
            t, lp = sampler.step()
            tokens.append(t)
            log_probs.append(lp)
        tokens = torch.cat(tokens, dim=1)
        return (tokens, torch.cat(log_probs, dim=1)) if return_log_probs else tokens

    # -- teacher forcing ---------------------------------------------------------------------------------
    @abstractmethod
    def forward_rl(self, condition: Condition, tokens: torch.Tensor, sampling: SamplingConfig) -> RLForward:
        """One teacher-forced pass through ``policy.forward`` (so module hooks, DDP and FSDP see it)."""

    def log_probs(self, condition: Condition, tokens: torch.Tensor, sampling: SamplingConfig) -> torch.Tensor:
        """``[N, T]`` log-probs of ``tokens`` under ``sampling`` (equal to what the sampler recorded)."""
        return self.forward_rl(condition, tokens, sampling).log_probs

    # -- images ------------------------------------------------------------------------------------------
    @abstractmethod
    def decode(self, tokens: torch.Tensor, precision: str = "float32") -> torch.Tensor:
        """Tokens ``[N, T]`` -> images ``[N, 3, H, W]`` float32 in [0, 1] (no grad); ``precision`` is the
        decoder's compute dtype (`SamplingConfig.decode_precision`)."""

    def decode_partial(self, tokens: torch.Tensor, num_steps: int, precision: str = "float32") -> torch.Tensor:
        """The image of an unfinished canvas: the tokens of the first ``num_steps`` steps ``[N, t]`` ->
        ``[N, 3, H, W]`` in [0, 1] (for intermediate rewards). Families that cannot do this raise."""
        raise NotImplementedError(f"{type(self).__name__} cannot decode a partial canvas")

    def check_tokens(self, tokens: torch.Tensor, what: str = "tokens") -> torch.Tensor:
        """Raise a ValueError unless ``tokens`` is an integer ``[N, T]`` tensor of ids in [0, V)."""
        T, V = self.layout.num_tokens, self.vocab_size
        if tokens.ndim != 2 or tokens.shape[1] != T or tokens.dtype.is_floating_point or tokens.dtype == torch.bool:
            raise ValueError(f"{what} must be an integer tensor [N, T={T}], got {tokens.dtype} {tuple(tokens.shape)}")
        check_ids(tokens, V, what, f"vocab size {V}")
        return tokens.long()

    # -- copies, devices, files ---------------------------------------------------------------------------
    @abstractmethod
    def frozen_copy(self) -> Generator:
        """A frozen copy of the policy sharing this generator's decoder (the KL reference)."""

    @abstractmethod
    def to(self, device: torch.device | str | None) -> Generator: ...

    @abstractmethod
    def save(self, directory: str | Path, extra: dict | None = None) -> Path:
        """Write the generator as safetensors + ``model.json`` (``family`` included) to ``directory``."""

    def describe(self) -> dict[str, Any]:
        """A few facts about the generator, as a dict (family, classes, vocabulary, steps, parameters)."""
        n = sum(p.numel() for p in self.policy.parameters())
        return {"family": self.family, "num_classes": self.num_classes, "vocab_size": self.vocab_size,
                "num_steps": self.layout.num_steps, "num_tokens": self.layout.num_tokens, "policy_parameters": n}
