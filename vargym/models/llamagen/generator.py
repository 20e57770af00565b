"""LlamaGen as a `Generator`: raster next-token sampling, one token (or a chunk of tokens) per env step."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import torch
from torch import nn

from vargym.models.conditions import PromptCondition, PromptSource, PromptTable
from vargym.models.generator import (
    ClassCondition,
    Condition,
    ConditionSource,
    Generator,
    RLForward,
    SamplingConfig,
    StepSampler,
    TokenLayout,
    autocast,
    decode_in_passes,
    raster_layout,
)
from vargym.models.llamagen.transformer import LlamaGen, LlamaGenConfig, TokenSampler
from vargym.models.llamagen.vq import LlamaGenVQ
from vargym.models.text.encoders import DEFAULT_T5, TextEncoder, TextFeatures, load_text_encoder

__all__ = ["LlamaGenGenerator", "LlamaGenTextGenerator"]

TEXT_ENCODER_OPTION = "text_encoder= (CLI: --text-encoder FOLDER_OR_REPO, or --text-features FILE)"


def _labels_of(condition: Condition) -> torch.Tensor:
    if not isinstance(condition, ClassCondition):
        raise TypeError(f"LlamaGen c2i is class-conditional: condition must be a ClassCondition, "
                        f"got {type(condition).__name__}")
    return condition.labels


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
        if gpt.cfg.model_type != "c2i" and not isinstance(self, LlamaGenTextGenerator):
            raise ValueError("this GPT is text-conditional (t2i): use LlamaGenTextGenerator(vq, gpt, text_encoder)")
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

        def decode(rows: torch.Tensor) -> torch.Tensor:
            with autocast(precision, self.device):
                return self.vq.decode_code(rows).float().add(1).mul(0.5).clamp(0, 1)

        return decode_in_passes(decode, tokens, tokens.shape[1] * self.vq.downsample ** 2)

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


class LlamaGenTextGenerator(LlamaGenGenerator):
    """A t2i LlamaGen: the VQ tokenizer, the t2i GPT (the policy) and a frozen text encoder.

    Conditions are prompts (`vargym.models.PromptCondition`); the encoder turns each unique prompt into
    left-padded caption features once (cached), and the GPT samples and scores tokens against them with the
    caption mask, as the official t2i sampler does.

    Args:
        vq, gpt: the tokenizer and a ``model_type="t2i"`` GPT.
        text_encoder: a `vargym.models.text.TextEncoder` (or a spec `load_text_encoder` takes) whose features
            fit the GPT: ``dim == caption_dim`` and ``max_length == cls_token_num``.
        tokens_per_step: tokens emitted per env step.

    Example:
        >>> gen = load_generator("llamagen-t2i-xl")                     # + FLAN-T5-XL
        >>> condition = gen.condition_source().coerce(["a red apple on a table"])
        >>> images = gen.decode(gen.sample(condition, SamplingConfig(cfg=7.5, top_k=1000)))
    """

    def __init__(self, vq: LlamaGenVQ, gpt: LlamaGen, text_encoder: TextEncoder | str, tokens_per_step: int = 1,
                 prompt_table: PromptTable | None = None):
        if not isinstance(gpt, LlamaGen) or gpt.cfg.model_type != "t2i":
            raise ValueError(f"LlamaGenTextGenerator takes a t2i GPT, got "
                             f"{getattr(getattr(gpt, 'cfg', None), 'model_type', type(gpt).__name__)!r}")
        super().__init__(vq, gpt, tokens_per_step)
        encoder = load_text_encoder(text_encoder, device=self.device)
        encoder.check_fits(gpt.cfg.caption_dim, gpt.cfg.cls_token_num, TEXT_ENCODER_OPTION)
        self.text_encoder = encoder
        self.prompt_table = prompt_table if prompt_table is not None else PromptTable()
        """Every prompt this generator was given: rollouts store ids into it."""

    @property
    def num_classes(self) -> int:
        return 0

    def condition_source(self, pool: Any = None) -> ConditionSource:
        """Prompts: ``pool`` is a list of prompts or a prompt set (`vargym.data.load_prompts`); None = every
        prompt given so far. Prompts the text encoder cannot encode (a features file without them) raise here."""
        source = PromptSource(self.prompt_table, pool)
        if source.pool is not None:
            self.text_encoder.check_available([self.prompt_table.prompts[i] for i in source.pool.tolist()],
                                              TEXT_ENCODER_OPTION)
        return source

    def captions(self, condition: Condition) -> TextFeatures:
        """Caption features and mask of each row's prompt, on the generator's device."""
        if not isinstance(condition, PromptCondition):
            raise TypeError(f"LlamaGen t2i is text-conditional: condition must be prompts (a PromptCondition), "
                            f"got {type(condition).__name__}")
        return self.text_encoder.encode(condition.prompts, device=self.device)

    def make_sampler(self, condition: Condition, sampling: SamplingConfig,
                     generator: torch.Generator | None = None) -> StepSampler:
        s, text = sampling, self.captions(condition)
        return TokenSampler(self.gpt, text.features, cfg=s.cfg, cfg_interval=s.cfg_interval, top_k=s.top_k,
                            top_p=s.top_p or 1.0, temperature=s.temperature, generator=generator,
                            precision=s.precision, tokens_per_step=self.tokens_per_step, draw=s.draw,
                            caption_mask=text.mask)

    def forward_rl(self, condition: Condition, tokens: torch.Tensor, sampling: SamplingConfig) -> RLForward:
        s, text = sampling, self.captions(condition)
        with s.autocast(self.device):
            out = self.gpt.forward_rl(text.features, tokens, s.temperature, s.cfg, s.cfg_interval, s.top_k,
                                      s.top_p or 1.0, network=self.forward_module, caption_mask=text.mask)
        return RLForward(out.log_probs.float(), out.entropy.float(), out.hidden)

    def frozen_copy(self) -> LlamaGenTextGenerator:
        return LlamaGenTextGenerator(self.vq, copy.deepcopy(self.gpt).requires_grad_(False), self.text_encoder,
                                     self.tokens_per_step, self.prompt_table)

    def to(self, device: torch.device | str | None) -> LlamaGenTextGenerator:
        super().to(device)
        if device is not None and hasattr(self, "text_encoder"):
            self.text_encoder.to(device)
        return self

    def save(self, directory: str | Path, extra: dict | None = None) -> Path:
        """As `LlamaGenGenerator.save`; ``model.json`` also names the text encoder (its spec), which is not copied."""
        extra = dict(extra or {})
        if self.text_encoder.spec is not None:
            extra.setdefault("text_encoder", self.text_encoder.spec)
        return super().save(directory, extra)

    def describe(self) -> dict[str, Any]:
        return {**super().describe(), "text_encoder": self.text_encoder.spec, "caption_slots": self.gpt.cfg.cls_token_num}

    def __repr__(self) -> str:
        return (f"LlamaGenTextGenerator(text_encoder={self.text_encoder.spec!r}, tokens={self.gpt.block_size}, "
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


def _text_encoder(cfg: LlamaGenConfig, text_encoder: Any, name: str, device: Any = None) -> TextEncoder | None:
    """The text encoder of a t2i GPT (None for c2i), loaded before the GPT is built or read, so that a missing
    one fails at once: ``text_encoder`` as `load_text_encoder` takes it; None: FLAN-T5-XL when the caption input
    is FLAN-T5-XL's (2048 wide, 120 slots), else the error says what to pass."""
    if cfg.model_type == "c2i":
        if text_encoder is not None:
            raise ValueError(f"{name} is class-conditional: it takes no text encoder (text_encoder={text_encoder!r})")
        return None
    if text_encoder is None:
        if (cfg.caption_dim, cfg.cls_token_num) != (2048, 120):
            raise ValueError(f"{name} is text-conditional with {cfg.caption_dim}-wide caption features in "
                             f"{cfg.cls_token_num} slots: give it a text encoder, {TEXT_ENCODER_OPTION}")
        text_encoder = DEFAULT_T5
    return load_text_encoder(text_encoder, device=device, max_length=cfg.cls_token_num)


def _generator(vq: LlamaGenVQ, gpt: LlamaGen, text_encoder: TextEncoder | None) -> LlamaGenGenerator:
    if text_encoder is None:
        return LlamaGenGenerator(vq, gpt)
    return LlamaGenTextGenerator(vq, gpt, text_encoder)


def build(preset: str, text_encoder: Any = None) -> LlamaGenGenerator:
    """A random-init preset (``random:<preset>``); t2i presets take a text encoder."""
    encoder = _text_encoder(preset_configs(preset)[1], text_encoder, f"random:{preset}")
    vq, gpt = build_parts(preset)
    return _generator(vq, gpt.eval(), encoder)


def load_released_parts(name: str, device: torch.device | str | None = None, **files) -> tuple[LlamaGenVQ, LlamaGen]:
    """The official release ``name`` as (LlamaGenVQ, LlamaGen), downloaded or from ``vq_path``/``gpt_path``."""
    from vargym.models.llamagen.loading import load_llamagen_pretrained

    return load_llamagen_pretrained(name, device=device, **files)


def load_released(name: str, device: torch.device | str | None = None, text_encoder: Any = None,
                  **files) -> LlamaGenGenerator:
    """The official release ``name``, downloaded or from ``vq_path``/``gpt_path`` (t2i: with its text encoder,
    FLAN-T5-XL unless ``text_encoder`` says otherwise; checked before the GPT is read)."""
    encoder = _text_encoder(preset_configs(name)[1], text_encoder, name, device)
    return _generator(*load_released_parts(name, device=device, **files), encoder)


def load_directory(directory: Path, device: torch.device | str | None = None,
                   text_encoder: Any = None) -> LlamaGenGenerator:
    """A model directory written by `LlamaGenGenerator.save` (a t2i one names its text encoder in
    ``model.json``; ``text_encoder`` replaces it)."""
    import json

    from vargym.models.llamagen.loading import load_llamagen_checkpoint

    vq, gpt = load_llamagen_checkpoint(directory, device=device)
    meta = json.loads((Path(directory) / "model.json").read_text())
    if gpt.cfg.model_type == "t2i" and text_encoder is None:
        text_encoder = meta.get("text_encoder")
        if isinstance(text_encoder, str) and (Path(directory) / text_encoder).exists():  # shipped beside the weights
            text_encoder = str(Path(directory) / text_encoder)
    generator = _generator(vq, gpt, _text_encoder(gpt.cfg, text_encoder, str(directory), device))
    generator.default_prompts = meta.get("default_prompts")
    gold = meta.get("gold")
    if isinstance(gold, dict):  # {"reward": spec, "kwargs": {...}}, directory-relative paths resolved here
        kwargs = {k: str(Path(directory) / v) if isinstance(v, str) and (Path(directory) / v).exists() else v
                  for k, v in gold.get("kwargs", {}).items()}
        gold = (gold["reward"], kwargs)
    generator.gold_metric = gold
    return generator


def wrap(obj: object, num_classes: int | None = None) -> LlamaGenGenerator | None:
    """A ``(LlamaGenVQ, LlamaGen)`` tuple (a t2i one: ``(vq, gpt, text_encoder)``) as a generator; None for
    anything else (a GPT alone cannot decode)."""
    if isinstance(obj, tuple) and len(obj) == 3 and isinstance(obj[0], LlamaGenVQ):
        return LlamaGenTextGenerator(*obj)
    if isinstance(obj, tuple) and len(obj) == 2 and isinstance(obj[0], LlamaGenVQ):
        if isinstance(obj[1], LlamaGen) and obj[1].cfg.model_type == "t2i":
            raise TypeError("a t2i GPT needs a text encoder: pass (vq, gpt, text_encoder)")
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
