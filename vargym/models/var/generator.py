"""`VARGenerator`: the VAR family behind the `Generator` interface (one env step = one scale)."""

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
)
from vargym.models.var.sampling import ScaleSampler
from vargym.models.var.transformer import VAR
from vargym.models.var.vqvae import VQVAE

__all__ = ["VARGenerator"]


def _labels_of(condition: Condition) -> torch.Tensor:
    if not isinstance(condition, ClassCondition):
        raise TypeError(f"VAR is class-conditional: condition must be a ClassCondition, got {type(condition).__name__}")
    return condition.labels


class VARGenerator(Generator):
    """A multi-scale VQ-VAE (frozen decoder) and a VAR transformer (the policy).

    Args:
        vqvae: the VQ-VAE; decodes tokens and builds each next scale's input.
        var: the transformer; None for a decode-only generator (an env needs only the decoder).
        num_classes: required when ``var`` is None.

    Example:
        >>> gen = VARGenerator(*build_preset("tiny"))
        >>> gen.layout.tokens_per_step   # (1, 4, 9, 16, 36, 64)
    """

    family = "var"

    def __init__(self, vqvae: VQVAE, var: VAR | None = None, num_classes: int | None = None):
        if not isinstance(vqvae, VQVAE) or not (var is None or isinstance(var, VAR)):
            raise TypeError(f"VARGenerator takes a VQVAE and a VAR, got {type(vqvae).__name__}, {type(var).__name__}")
        if var is None and num_classes is None:
            raise ValueError("num_classes is needed when no VAR is given (pass the VAR's num_classes)")
        if var is not None and (not var._vqvae or var.vqvae is not vqvae):
            var.attach(vqvae)
        self.vqvae, self.var = vqvae, var
        self._num_classes = int(var.num_classes if var is not None else num_classes)
        self._layout = TokenLayout(tuple(pn * pn for pn in vqvae.v_patch_nums))

    # -- what it is ---------------------------------------------------------------------------------------
    @property
    def layout(self) -> TokenLayout:
        return self._layout

    @property
    def num_classes(self) -> int:
        return self._num_classes

    @property
    def vocab_size(self) -> int:
        return int(self.vqvae.vocab_size)

    @property
    def hidden_size(self) -> int:
        return self._policy().C

    @property
    def policy(self) -> nn.Module:
        return self._policy()

    @property
    def decoder(self) -> nn.Module:
        return self.vqvae

    def _policy(self) -> VAR:
        if self.var is None:
            raise ValueError("this generator holds only a VQ-VAE (decode-only); build it with a VAR to sample or train")
        return self.var

    # -- sampling -----------------------------------------------------------------------------------------
    def make_sampler(self, condition: Condition, sampling: SamplingConfig,
                     generator: torch.Generator | None = None) -> StepSampler:
        return self._policy().make_sampler(_labels_of(condition), generator=generator, precision=sampling.precision,
                                           **sampling.as_kwargs())

    def forward_rl(self, condition: Condition, tokens: torch.Tensor, sampling: SamplingConfig) -> RLForward:
        s = sampling
        with s.autocast(self.device):
            out = self._policy().forward_rl(_labels_of(condition), tokens, s.temperature, s.cfg, s.top_k, s.top_p,
                                            network=self.forward_module)
        return RLForward(out.log_probs.float(), out.entropy.float(), out.hidden)

    # -- images -------------------------------------------------------------------------------------------
    @torch.no_grad()
    def decode(self, tokens: torch.Tensor, precision: str = "float32") -> torch.Tensor:
        return self.decode_partial(self.check_tokens(tokens), self.layout.num_steps, precision)

    @torch.no_grad()
    def decode_partial(self, tokens: torch.Tensor, num_steps: int, precision: str = "float32") -> torch.Tensor:
        """The coarse image of the first ``num_steps`` scales: f_hat summed over those scales, decoded."""
        sizes = self.layout.tokens_per_step[:num_steps]
        if not 1 <= num_steps <= self.layout.num_steps or tokens.shape[1] != sum(sizes):
            raise ValueError(f"tokens must hold the {sum(sizes) if 1 <= num_steps else '?'} tokens of the first "
                             f"num_steps={num_steps} steps (1..{self.layout.num_steps}), got {tuple(tokens.shape)}")

        def decode(rows: torch.Tensor) -> torch.Tensor:
            f_hat = self.vqvae.quantize.tokens_to_fhat(list(rows.long().split(list(sizes), dim=1)))
            with autocast(precision, self.device):
                return self.vqvae.fhat_to_img(f_hat).float()

        return decode_in_passes(decode, tokens, self.vqvae.image_size ** 2)

    # -- copies, devices, files ---------------------------------------------------------------------------
    def frozen_copy(self) -> VARGenerator:
        var = copy.deepcopy(self._policy(), memo={id(self.vqvae): self.vqvae}).requires_grad_(False)
        return VARGenerator(self.vqvae, var)

    def to(self, device: torch.device | str | None) -> VARGenerator:
        if device is not None:
            self.vqvae.to(device)
            if self.var is not None:
                self.var.to(device)
        return self

    def save(self, directory: str | Path, extra: dict | None = None) -> Path:
        """Full weights (``vqvae``/``var.safetensors``); with adapters, the adapters alone (``lora.safetensors``)
        plus ``base_model``/``base_seed`` from ``extra``, which say how to rebuild the base network."""
        from vargym.models.var.loading import save_checkpoint

        if self.lora is None:
            return save_checkpoint(directory, self.vqvae, self._policy(), extra)
        return self.save_adapters(Path(directory), extra or {})

    def _set_policy(self, policy: nn.Module) -> None:
        policy.attach(self.vqvae)
        self.var = policy

    def __repr__(self) -> str:
        return (f"VARGenerator(num_classes={self.num_classes}, patch_nums={tuple(self.vqvae.v_patch_nums)}, "
                f"vocab_size={self.vocab_size}, var={'None' if self.var is None else self.var.cfg})")


# ScaleSampler is the VAR family's StepSampler.
StepSampler.register(ScaleSampler)


# -- the family's glue (`vargym.models.registry`) --------------------------------------------------------
def preset_configs(preset: str) -> tuple:
    """The (tokenizer config, network config) of a preset."""
    from vargym.models.var.presets import PRESETS

    return PRESETS[preset]


def build_parts(preset: str) -> tuple:
    """Random-init (tokenizer, network) of a preset."""
    from vargym.models.var.presets import build

    return build(*preset_configs(preset))


def build(preset: str) -> VARGenerator:
    """A random-init preset (``random:<preset>``)."""
    vqvae, var = build_parts(preset)
    return VARGenerator(vqvae, var.eval())


def load_released_parts(name: str, device: torch.device | str | None = None, **files) -> tuple[VQVAE, VAR]:
    """The official release ``name`` as (VQVAE, VAR), downloaded or from ``vae_path``/``var_path``."""
    from vargym.models.var.loading import load_var_pretrained

    return load_var_pretrained(name, device=device, **files)


def load_released(name: str, device: torch.device | str | None = None, **files) -> VARGenerator:
    """The official release ``name``, downloaded or from ``vae_path``/``var_path``."""
    return VARGenerator(*load_released_parts(name, device=device, **files))


def load_directory(directory: Path, device: torch.device | str | None = None) -> VARGenerator:
    """A model directory written by `VARGenerator.save`."""
    from vargym.models.var.loading import load_checkpoint

    return VARGenerator(*load_checkpoint(directory, device=device))


def wrap(obj: object, num_classes: int | None = None) -> VARGenerator | None:
    """A ``(VQVAE, VAR)`` tuple, a VAR with its VQ-VAE attached, or a bare VQVAE (decode-only, with
    ``num_classes``) as a generator; None for anything else."""
    if isinstance(obj, tuple) and len(obj) == 2 and isinstance(obj[0], VQVAE):
        return VARGenerator(obj[0], obj[1])
    if isinstance(obj, VQVAE):
        return VARGenerator(obj, None, num_classes=num_classes)
    if isinstance(obj, VAR):
        return VARGenerator(obj.vqvae, obj)
    return None


def released_files() -> list[tuple[str, str, str]]:
    """``(hub repo, file name, revision)`` of every released checkpoint."""
    from vargym.models.var.loading import HF_REPO_ID, HF_REVISION, VQVAE_FILE

    names = (VQVAE_FILE, "var_d16.pth", "var_d20.pth", "var_d24.pth", "var_d30.pth")
    return [(HF_REPO_ID, name, HF_REVISION) for name in names]
