"""The taming-transformers model as a `Generator`: raster next-token sampling, one token (or a chunk of tokens)
per env step, no classifier-free guidance."""

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
    decode_in_passes,
    raster_layout,
)
from vargym.models.vqgan.transformer import MinGPT, MinGPTSampler
from vargym.models.vqgan.vq import VQGAN

__all__ = ["VQGANGenerator"]


def _labels_of(condition: Condition) -> torch.Tensor:
    if not isinstance(condition, ClassCondition):
        raise TypeError(f"the VQGAN transformer is class-conditional: condition must be a ClassCondition, "
                        f"got {type(condition).__name__}")
    return condition.labels


def _unguided(sampling: SamplingConfig) -> SamplingConfig:
    if sampling.cfg > 1:
        raise ValueError(f"sampling cfg={sampling.cfg}: the taming-transformers class-conditional model has no "
                         f"unconditional branch, so classifier-free guidance does not exist for it; use cfg 0 "
                         f"(--cfg 0)")
    return sampling


class VQGANGenerator(Generator):
    """A VQGAN (frozen decoder) and the class-conditional minGPT (the policy).

    Args:
        vq: the tokenizer; decodes raster-order tokens.
        gpt: the class-conditional transformer.
        tokens_per_step: tokens emitted per env step (1: one token per step, as the model samples).

    Example:
        >>> gen = load_generator("random:tiny-vqgan", tokens_per_step=8)
        >>> gen.layout.num_steps   # 64 tokens in 8 steps
        8
    """

    family = "vqgan"
    supports_guidance = False

    def __init__(self, vq: VQGAN, gpt: MinGPT, tokens_per_step: int = 1):
        if not isinstance(vq, VQGAN) or not isinstance(gpt, MinGPT):
            raise TypeError(f"VQGANGenerator takes a VQGAN and a MinGPT, got {type(vq).__name__}, {type(gpt).__name__}")
        if gpt.vocab_size != vq.vocab_size:
            raise ValueError(f"GPT vocab_size={gpt.vocab_size} must equal the codebook size {vq.vocab_size}")
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
        return self.gpt.cfg.n_embd

    @property
    def policy(self) -> nn.Module:
        return self.gpt

    @property
    def decoder(self) -> nn.Module:
        return self.vq

    # -- sampling -----------------------------------------------------------------------------------------
    def make_sampler(self, condition: Condition, sampling: SamplingConfig,
                     generator: torch.Generator | None = None) -> StepSampler:
        s = _unguided(sampling)
        return MinGPTSampler(self.gpt, _labels_of(condition), top_k=s.top_k, top_p=s.top_p or 1.0,
                             temperature=s.temperature, generator=generator, precision=s.precision,
                             tokens_per_step=self.tokens_per_step, draw=s.draw)

    @torch.no_grad()
    def sample(self, condition: Condition, sampling: SamplingConfig, generator: torch.Generator | None = None,
               return_log_probs: bool = False):
        """All tokens at once (`MinGPTSampler.run`: one autocast region for the whole loop)."""
        tokens, log_probs = self.make_sampler(condition, sampling, generator).run()
        return (tokens, log_probs) if return_log_probs else tokens

    def forward_rl(self, condition: Condition, tokens: torch.Tensor, sampling: SamplingConfig) -> RLForward:
        s = _unguided(sampling)
        with s.autocast(self.device):
            out = self.gpt.forward_rl(_labels_of(condition), tokens, s.temperature, s.top_k, s.top_p or 1.0,
                                      network=self.forward_module)
        return RLForward(out.log_probs.float(), out.entropy.float(), out.hidden)

    # -- images -------------------------------------------------------------------------------------------
    @torch.no_grad()
    def decode(self, tokens: torch.Tensor, precision: str = "float32") -> torch.Tensor:
        tokens = self.check_tokens(tokens)

        def decode(rows: torch.Tensor) -> torch.Tensor:
            with autocast(precision, self.device):
                return self.vq.decode_code(rows).float().add(1).mul(0.5).clamp(0, 1)

        return decode_in_passes(decode, tokens, tokens.shape[1] * self.vq.cfg.downsample ** 2)

    # -- copies, devices, files ---------------------------------------------------------------------------
    def frozen_copy(self) -> VQGANGenerator:
        return VQGANGenerator(self.vq, copy.deepcopy(self.gpt).requires_grad_(False), self.tokens_per_step)

    def to(self, device: torch.device | str | None) -> VQGANGenerator:
        if device is not None:
            self.vq.to(device)
            self.gpt.to(device)
        return self

    def save(self, directory: str | Path, extra: dict | None = None) -> Path:
        """Full weights (``vq``/``gpt.safetensors``); with adapters, the adapters alone (see `save_adapters`)."""
        from vargym.models.vqgan.loading import save_vqgan_checkpoint

        if self.lora is not None:
            return self.save_adapters(directory, extra or {})
        return save_vqgan_checkpoint(directory, self.vq, self.gpt, extra)

    def _set_policy(self, policy: nn.Module) -> None:
        self.gpt = policy

    def __repr__(self) -> str:
        return (f"VQGANGenerator(num_classes={self.num_classes}, tokens={self.gpt.block_size}, "
                f"tokens_per_step={self.tokens_per_step}, vocab_size={self.vocab_size}, gpt={self.gpt.cfg})")


StepSampler.register(MinGPTSampler)


# -- the family's glue (`vargym.models.registry`) --------------------------------------------------------
def preset_configs(preset: str) -> tuple:
    """The (tokenizer config, network config) of a preset."""
    from vargym.models.vqgan.presets import VQGAN_PRESETS

    return VQGAN_PRESETS[preset]


def build_parts(preset: str) -> tuple[VQGAN, MinGPT]:
    """Random-init (tokenizer, network) of a preset."""
    from vargym.models.vqgan.presets import build_vqgan

    return build_vqgan(*preset_configs(preset))


def build(preset: str) -> VQGANGenerator:
    """A random-init preset (``random:<preset>``)."""
    vq, gpt = build_parts(preset)
    return VQGANGenerator(vq.eval().requires_grad_(False), gpt.eval())


def load_released_parts(name: str, device: torch.device | str | None = None, **files) -> tuple[VQGAN, MinGPT]:
    """The released ``name`` as (VQGAN, MinGPT) from ``ckpt_path`` (and ``config_path``)."""
    from vargym.models.vqgan.loading import load_vqgan_pretrained

    return load_vqgan_pretrained(name, device=device, **files)


def load_released(name: str, device: torch.device | str | None = None, **files) -> VQGANGenerator:
    """The released ``name`` from local files (``ckpt_path``, ``config_path``): they are not on the hub."""
    return VQGANGenerator(*load_released_parts(name, device=device, **files))


def load_directory(directory: Path, device: torch.device | str | None = None) -> VQGANGenerator:
    """A model directory written by `VQGANGenerator.save`."""
    from vargym.models.vqgan.loading import load_vqgan_checkpoint

    return VQGANGenerator(*load_vqgan_checkpoint(directory, device=device))


def wrap(obj: object, num_classes: int | None = None) -> VQGANGenerator | None:
    """A ``(VQGAN, MinGPT)`` tuple as a generator; None for anything else (a GPT alone cannot decode)."""
    if isinstance(obj, tuple) and len(obj) == 2 and isinstance(obj[0], VQGAN):
        return VQGANGenerator(obj[0], obj[1])
    if isinstance(obj, MinGPT):
        raise TypeError("a MinGPT alone cannot decode images: pass (vqgan, gpt)")
    return None


def released_files() -> list[tuple[str, str, str]]:
    """None on the Hugging Face hub: the cIN files come from the taming-transformers README's link."""
    return []
