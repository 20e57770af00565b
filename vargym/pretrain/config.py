"""`PretrainConfig` and `TinyClipConfig`: everything one pretraining run depends on (torch-free, so the CLI imports
them cheaply)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = ["PretrainConfig", "TinyClipConfig"]


@dataclass(frozen=True)
class PretrainConfig:
    """Everything one pretraining run depends on (stored in ``model.json`` and the model card)."""

    out_dir: str = "runs/pretrain"
    """Directory the model, classifier, checkpoints, log and model card are written to."""
    data: str = "procedural"
    """``"procedural"`` (the 10 built-in classes, generated on the fly) or a folder ``root/<class>/*.png``."""
    preset: str = "tiny"
    """Architecture preset of ``vargym.models.presets``: ``"tiny"`` (VAR 1.3M parameters), ``"small"`` (4.2M,
    same VQ-VAE), ``"tiny-llamagen"`` or ``"tiny-vqgan"`` (next-token models with their own tokenizers; their
    stages use the ``vqvae_*`` settings for the tokenizer and the ``var_*`` ones for the GPT); the class count
    follows the data."""
    objects: int = 1
    """Objects per captioned image of the text-to-image preset (``tiny-t2i``): 1, or 2 (two shapes and their
    relation, "a red circle left of a blue square on a navy background": `vargym.data.captioned`'s second stage).
    Class-conditional presets take 1."""
    image_size: int = 64
    """Image side in pixels; must equal the preset VQ-VAE's image size."""
    seed: int = 0
    """Seeds the initial weights and every batch."""
    device: str | None = None
    """Torch device; ``None`` picks CUDA when available, else the CPU."""
    vqvae_steps: int = 1500
    """VQ-VAE optimiser steps (0 skips the stage; the VQ-VAE then stays random)."""
    vqvae_batch_size: int = 16
    """Images per VQ-VAE step."""
    vqvae_lr: float = 1e-3
    """Peak VQ-VAE learning rate (AdamW, linear warm-up then cosine to a tenth)."""
    edge_weight: float = 0.5
    """Weight of the L1 loss on image gradients (a perceptual-free sharpness aid); 0 disables it."""
    vqvae_ae_warmup: float = 0.3
    """Fraction of the VQ-VAE steps trained as a plain autoencoder (quantiser bypassed) before quantising."""
    codebook_decay: float = 0.9
    """EMA decay of the online k-means codebook (codes unused for ~40 steps are re-seeded from the data)."""
    decoder_steps: int = 0
    """Decoder fine-tuning steps after the VQ-VAE stage (0 skips it). Encoder, codebook and the phi convs stay
    frozen, so the tokens (and the VAR trained on them) do not change; only ``post_quant_conv`` and the
    decoder learn to draw the same tokens sharper."""
    decoder_batch_size: int = 32
    """Images per decoder fine-tuning step."""
    decoder_lr: float = 5e-4
    """Peak learning rate of the decoder fine-tuning (AdamW, warm-up then cosine to a tenth)."""
    var_steps: int = 2400
    """VAR optimiser steps (0 skips the stage)."""
    var_batch_size: int = 64
    """Images per VAR step (tokenised on the fly by the frozen VQ-VAE)."""
    var_lr: float = 1.5e-3
    """Peak VAR learning rate (AdamW, betas (0.9, 0.95), linear warm-up then cosine to a tenth)."""
    var_weight_decay: float = 0.05
    """AdamW weight decay of the VAR's matrices (biases, gains and embeddings get none)."""
    cond_drop_rate: float = 0.1
    """Class-label dropout of the VAR, so classifier-free guidance has an unconditional branch."""
    grad_clip: float = 2.0
    """Gradient-norm clip of both stages (0 disables it)."""
    warmup_fraction: float = 0.05
    """Fraction of each stage's steps spent warming up the learning rate."""
    classifier_steps: int = 400
    """Steps of the tiny classifier (procedural data only; 0 skips it and the sample evaluation)."""
    classifier_batch_size: int = 128
    """Images per classifier step."""
    classifier_input_size: int = 32
    """Side (>= 8 px) the classifiers resize images to; a larger one reads small shapes better, at more cost."""
    checkpoint_every: int = 100
    """Write a resumable checkpoint every this many steps (and always at the end of a stage)."""
    log_every: int = 10
    """Append a line to ``pretrain_log.jsonl`` every this many steps."""
    resume: bool = False
    """Continue from the checkpoints in ``out_dir``; finished stages are not retrained."""
    eval_per_class: int = 16
    """Samples per class for the quality figures and the grid (0 skips the evaluation)."""
    eval_cfgs: tuple[float, ...] = (0.0, 1.5)
    """Guidance scales evaluated (official convention; 0 is unguided)."""
    grid_path: str | None = None
    """Where the per-class sample grid PNG goes; ``None`` means ``out_dir/samples.png``."""

    def __post_init__(self) -> None:
        object.__setattr__(self, "eval_cfgs", tuple(float(c) for c in self.eval_cfgs))
        from vargym.models.presets import preset_configs  # lazy: keeps `vargym --help` free of torch

        tokenizer, network = preset_configs(self.preset)  # raises on an unknown preset, with a suggestion
        size = tokenizer.image_size if hasattr(tokenizer, "image_size") else network.grid * tokenizer.downsample
        if self.image_size != size:
            raise ValueError(
                f"image_size={self.image_size} does not match preset {self.preset!r}, "
                f"whose tokenizer takes {size} px images"
            )
        if self.objects not in (1, 2):
            raise ValueError(f"objects must be 1 or 2, got {self.objects!r}")
        if self.objects != 1 and getattr(network, "model_type", None) != "t2i":
            raise ValueError(f"objects={self.objects} needs a text-to-image preset (tiny-t2i): the captions name the "
                             f"objects and their relation; preset {self.preset!r} is class-conditional")
        for name in ("vqvae_steps", "decoder_steps", "var_steps", "classifier_steps", "eval_per_class"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must be >= 0, got {getattr(self, name)}")
        for name in (
            "vqvae_batch_size",
            "decoder_batch_size",
            "var_batch_size",
            "classifier_batch_size",
            "checkpoint_every",
            "log_every",
        ):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        for name in ("vqvae_lr", "decoder_lr", "var_lr"):
            if not getattr(self, name) > 0:
                raise ValueError(f"{name} must be > 0, got {getattr(self, name)}")
        if self.classifier_input_size < 8:
            raise ValueError(f"classifier_input_size must be >= 8, got {self.classifier_input_size}")
        if self.classifier_steps and self.classifier_batch_size < 2:
            raise ValueError(f"classifier_batch_size must be >= 2, got {self.classifier_batch_size}")
        if not 0.0 <= self.cond_drop_rate < 1.0:
            raise ValueError(f"cond_drop_rate must be in [0, 1), got {self.cond_drop_rate}")
        if not 0.0 <= self.vqvae_ae_warmup < 1.0:
            raise ValueError(f"vqvae_ae_warmup must be in [0, 1), got {self.vqvae_ae_warmup}")
        if not 0.0 <= self.codebook_decay < 1.0:
            raise ValueError(f"codebook_decay must be in [0, 1), got {self.codebook_decay}")
        if not 0.0 <= self.warmup_fraction < 1.0:
            raise ValueError(f"warmup_fraction must be in [0, 1), got {self.warmup_fraction}")
        if self.data != "procedural" and not Path(self.data).is_dir():
            raise ValueError(f"data must be 'procedural' or an existing image folder, got {self.data!r}")

    @property
    def procedural(self) -> bool:
        return self.data == "procedural"


IMAGE_SIZE = 64
"""Side of the tiny CLIP's images (the captioned renders')."""
VOCAB_SIZE = 49408
"""open_clip's BPE tokenizer's vocabulary."""


@dataclass(frozen=True)
class TinyClipConfig:
    """Everything one tiny-CLIP pretraining run depends on (stored in its ``open_clip_config.json``)."""

    out_dir: str = "runs/tiny-clip"
    """Directory the model, checkpoints, log and model card are written to."""
    steps: int = 2000
    """Optimiser steps."""
    batch_size: int = 256
    """Image-caption pairs per step."""
    lr: float = 1e-3
    """Peak learning rate (AdamW, betas (0.9, 0.98), linear warm-up then cosine to a tenth)."""
    weight_decay: float = 0.1
    """AdamW weight decay of the matrices (not of embeddings, norms, biases or the temperature)."""
    warmup_fraction: float = 0.05
    """Fraction of the steps spent warming the learning rate up."""
    seed: int = 0
    """Seeds the initial weights and every batch."""
    objects: int = 1
    """Objects per image: 1 (a shape on a background) or 2 (two shapes and their relation)."""
    embed_dim: int = 64
    """Width of the joint image-text embedding."""
    vision_width: int = 96
    """Width of the ViT (heads of 32 channels)."""
    vision_layers: int = 3
    """ViT blocks."""
    patch_size: int = 8
    """ViT patch side in pixels (the 64 px renders are 8 x 8 patches)."""
    text_width: int = 64
    """Width of the text transformer (heads of 16 channels)."""
    text_layers: int = 2
    """Text transformer blocks."""
    context_length: int = 32
    """Text tokens per caption (open_clip's tokenizer pads or cuts to it)."""
    checkpoint_every: int = 200
    """Steps between resumable checkpoints."""
    log_every: int = 20
    """Steps between log lines of ``pretrain_log.jsonl``."""
    resume: bool = True
    """Continue from ``out_dir``'s checkpoint when there is one."""
    eval_images: int = 512
    """Images per split (seen and held-out compositions) of the zero-shot figures (0 skips them)."""
    device: str | None = None
    """Torch device; ``None`` picks CUDA when available, else the CPU."""

    def __post_init__(self) -> None:
        positive = ("steps", "batch_size", "embed_dim", "vision_width", "vision_layers", "patch_size", "text_width",
                    "text_layers", "context_length", "checkpoint_every", "log_every")
        for name in positive:
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ValueError(f"{name} must be a positive integer, got {value!r}")
        if self.batch_size < 2:
            raise ValueError(f"batch_size must be at least 2 (a contrastive batch needs negatives), got {self.batch_size}")
        if self.objects not in (1, 2):
            raise ValueError(f"objects must be 1 or 2, got {self.objects!r}")
        if not 0 < self.lr < 1:
            raise ValueError(f"lr must be in (0, 1), got {self.lr!r}")
        if not 0 <= self.warmup_fraction < 1:
            raise ValueError(f"warmup_fraction must be in [0, 1), got {self.warmup_fraction!r}")
        if self.weight_decay < 0:
            raise ValueError(f"weight_decay must be >= 0, got {self.weight_decay!r}")
        if self.eval_images < 0:
            raise ValueError(f"eval_images must be >= 0, got {self.eval_images!r}")
        if IMAGE_SIZE % self.patch_size:
            raise ValueError(f"patch_size must divide the {IMAGE_SIZE} px images, got {self.patch_size}")
        for name, heads_of in (("vision_width", 32), ("text_width", 16)):
            if getattr(self, name) % heads_of:
                raise ValueError(f"{name} must be a multiple of {heads_of} (the head width), got {getattr(self, name)}")

    def model_cfg(self) -> dict[str, Any]:
        """open_clip's ``model_cfg`` of this architecture."""
        return {"embed_dim": self.embed_dim,
                "vision_cfg": {"image_size": IMAGE_SIZE, "layers": self.vision_layers, "width": self.vision_width,
                               "head_width": 32, "patch_size": self.patch_size},
                "text_cfg": {"context_length": self.context_length, "vocab_size": VOCAB_SIZE,
                             "width": self.text_width, "heads": self.text_width // 16, "layers": self.text_layers}}
