"""LlamaGen as a `Generator`: raster next-token sampling, one token (or a chunk of tokens) per env step."""

from __future__ import annotations

import copy
from pathlib import Path

import torch
from torch import nn

from vargym.models.generator import (
    ClassCondition,
    Condition,
    Generator,
    RLForward,
    SamplingConfig,
    StepSampler,
    TokenLayout,
    autocast,
)
from vargym.models.llamagen.transformer import LlamaGen, TokenSampler
from vargym.models.llamagen.vq import LlamaGenVQ

__all__ = ["LlamaGenGenerator"]


_NO_TEXT_GENERATOR = ("this GPT is text-conditional (t2i): its Generator, with prompts through a text encoder, is "
                      "not available yet; use vargym.models.load_pretrained(name) or build_preset(name) for the "
                      "(vq, gpt) pair and call gpt.sample(captions, caption_mask=...)")


def _refuse_text(preset: str) -> None:
    """Refuse a t2i preset before building or downloading it (the Generator would refuse it anyway)."""
    if preset_configs(preset)[1].model_type != "c2i":
        raise ValueError(f"{preset}: {_NO_TEXT_GENERATOR}")


def _labels_of(condition: Condition) -> torch.Tensor:
    if not isinstance(condition, ClassCondition):
        raise TypeError(f"LlamaGen c2i is class-conditional: condition must be a ClassCondition, "
                        f"got {type(condition).__name__}")
    return condition.labels


def raster_layout(num_tokens: int, tokens_per_step: int) -> TokenLayout:
    """``num_tokens`` in chunks of ``tokens_per_step`` (the last chunk takes the remainder)."""
    if int(tokens_per_step) != tokens_per_step or not 1 <= tokens_per_step <= num_tokens:
        raise ValueError(f"tokens_per_step must be an int in [1, {num_tokens}] (tokens per image), "
                         f"got {tokens_per_step!r}")
    full, rest = divmod(num_tokens, int(tokens_per_step))
    return TokenLayout((int(tokens_per_step),) * full + ((rest,) if rest else ()))


class LlamaGenGenerator(Generator):
    """A LlamaGen VQ tokenizer (frozen decoder) and GPT (the policy).

    Args:
        vq: the tokenizer; decodes raster-order tokens.
        gpt: the c2i GPT.
        tokens_per_step: tokens emitted per env step (1: one token per step, as the model samples).

    Example:
        >>> gen = LlamaGenGenerator(*build_preset("tiny-llamagen"), tokens_per_step=8)
        >>> gen.layout.num_steps   # 64 tokens in 8 steps
        8
    """

    family = "llamagen"

    def __init__(self, vq: LlamaGenVQ, gpt: LlamaGen, tokens_per_step: int = 1):
        if not isinstance(vq, LlamaGenVQ) or not isinstance(gpt, LlamaGen):
            raise TypeError(f"LlamaGenGenerator takes a LlamaGenVQ and a LlamaGen, got {type(vq).__name__}, "
                            f"{type(gpt).__name__}")
        if gpt.vocab_size != vq.vocab_size:
            raise ValueError(f"GPT vocab_size={gpt.vocab_size} must equal the codebook size {vq.vocab_size}")
        if gpt.cfg.model_type != "c2i":
            raise ValueError(_NO_TEXT_GENERATOR)
        self.vq, self.gpt = vq, gpt
        self.set_tokens_per_step(tokens_per_step)

    def set_tokens_per_step(self, tokens_per_step: int) -> None:
        self._layout = raster_layout(self.gpt.block_size, tokens_per_step)
        self.tokens_per_step = int(tokens_per_step)

    # -- what it is ---------------------------------------------------------------------------------------
    @property
    def layout(self) -> TokenLayout:
        return self._layout

    @property
    def num_classes(self) -> int:
        return self.gpt.num_classes

    @property
    def vocab_size(self) -> int:
        return self.gpt.vocab_size

    @property
    def hidden_size(self) -> int:
        return self.gpt.cfg.dim

    @property
    def policy(self) -> nn.Module:
        return self.gpt

    @property
    def decoder(self) -> nn.Module:
        return self.vq

    # -- sampling -----------------------------------------------------------------------------------------
    def make_sampler(self, condition: Condition, sampling: SamplingConfig,
                     generator: torch.Generator | None = None) -> StepSampler:
        s = sampling
        return TokenSampler(self.gpt, _labels_of(condition), cfg=s.cfg, cfg_interval=s.cfg_interval, top_k=s.top_k,
                            top_p=s.top_p or 1.0, temperature=s.temperature, generator=generator,
                            precision=s.precision, tokens_per_step=self.tokens_per_step, draw=s.draw)

    @torch.no_grad()
    def sample(self, condition: Condition, sampling: SamplingConfig, generator: torch.Generator | None = None,
               return_log_probs: bool = False):
        """All tokens at once (`TokenSampler.run`: one autocast region for the whole loop)."""
        tokens, log_probs = self.make_sampler(condition, sampling, generator).run()
        return (tokens, log_probs) if return_log_probs else tokens

    def forward_rl(self, condition: Condition, tokens: torch.Tensor, sampling: SamplingConfig) -> RLForward:
        s = sampling
        with s.autocast(self.device):
            out = self.gpt.forward_rl(_labels_of(condition), tokens, s.temperature, s.cfg, s.cfg_interval, s.top_k,
                                      s.top_p or 1.0, network=self.forward_module)
        return RLForward(out.log_probs.float(), out.entropy.float(), out.hidden)

    # -- images -------------------------------------------------------------------------------------------
    @torch.no_grad()
    def decode(self, tokens: torch.Tensor, precision: str = "float32") -> torch.Tensor:
        tokens = self.check_tokens(tokens)
        with autocast(precision, self.device):
            return self.vq.decode_code(tokens).float().add(1).mul(0.5).clamp(0, 1)

    # -- copies, devices, files ---------------------------------------------------------------------------
    def frozen_copy(self) -> LlamaGenGenerator:
        return LlamaGenGenerator(self.vq, copy.deepcopy(self.gpt).requires_grad_(False), self.tokens_per_step)

    def to(self, device: torch.device | str | None) -> LlamaGenGenerator:
        if device is not None:
            self.vq.to(device)
            self.gpt.to(device)
        return self

    def save(self, directory: str | Path, extra: dict | None = None) -> Path:
        """Full weights (``vq``/``gpt.safetensors``); with adapters, the adapters alone (see `save_adapters`)."""
        from vargym.models.llamagen.loading import save_llamagen_checkpoint

        if self.lora is not None:
            return self.save_adapters(directory, extra or {})
        return save_llamagen_checkpoint(directory, self.vq, self.gpt, extra)

    def _set_policy(self, policy: nn.Module) -> None:
        self.gpt = policy

    def __repr__(self) -> str:
        return (f"LlamaGenGenerator(num_classes={self.num_classes}, tokens={self.gpt.block_size}, "
                f"tokens_per_step={self.tokens_per_step}, vocab_size={self.vocab_size}, gpt={self.gpt.cfg})")


StepSampler.register(TokenSampler)


# -- the family's glue (`vargym.models.registry`) --------------------------------------------------------
def preset_configs(preset: str) -> tuple:
    """The (tokenizer config, network config) of a preset."""
    from vargym.models.llamagen.presets import LLAMAGEN_PRESETS

    return LLAMAGEN_PRESETS[preset]


def build_parts(preset: str) -> tuple:
    """Random-init (tokenizer, network) of a preset."""
    from vargym.models.llamagen.presets import build_llamagen

    return build_llamagen(*preset_configs(preset))


def build(preset: str) -> LlamaGenGenerator:
    """A random-init preset (``random:<preset>``)."""
    _refuse_text(preset)
    vq, gpt = build_parts(preset)
    return LlamaGenGenerator(vq, gpt.eval())


def load_released_parts(name: str, device: torch.device | str | None = None, **files) -> tuple[LlamaGenVQ, LlamaGen]:
    """The official release ``name`` as (LlamaGenVQ, LlamaGen), downloaded or from ``vq_path``/``gpt_path``."""
    from vargym.models.llamagen.loading import load_llamagen_pretrained

    return load_llamagen_pretrained(name, device=device, **files)


def load_released(name: str, device: torch.device | str | None = None, **files) -> LlamaGenGenerator:
    """The official release ``name``, downloaded or from ``vq_path``/``gpt_path``."""
    _refuse_text(name)
    return LlamaGenGenerator(*load_released_parts(name, device=device, **files))


def load_directory(directory: Path, device: torch.device | str | None = None) -> LlamaGenGenerator:
    """A model directory written by `LlamaGenGenerator.save`."""
    from vargym.models.llamagen.loading import load_llamagen_checkpoint

    return LlamaGenGenerator(*load_llamagen_checkpoint(directory, device=device))


def wrap(obj: object, num_classes: int | None = None) -> LlamaGenGenerator | None:
    """A ``(LlamaGenVQ, LlamaGen)`` tuple as a generator; None for anything else (a GPT alone cannot decode)."""
    if isinstance(obj, tuple) and len(obj) == 2 and isinstance(obj[0], LlamaGenVQ):
        return LlamaGenGenerator(obj[0], obj[1])
    if isinstance(obj, LlamaGen):
        raise TypeError("a LlamaGen GPT alone cannot decode images: pass (vq, gpt)")
    return None


def released_files() -> list[tuple[str, str, str]]:
    """``(hub repo, file name, revision)`` of every released checkpoint."""
    from vargym.models.llamagen import loading as lg
    from vargym.models.llamagen.presets import RELEASE_SOURCES, RELEASED_FILES

    files = {(repo, vq) for repo, vq in RELEASE_SOURCES.values()}
    files |= {(RELEASE_SOURCES[name][0], gpt) for name, gpt in RELEASED_FILES.items()}
    return [(repo, name, lg.HF_REVISION) for repo, name in sorted(files)]
