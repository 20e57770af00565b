"""LlamaGen presets (the official GPT sizes with the VQ-16 tokenizer) and construction from official kwargs."""

from __future__ import annotations

from dataclasses import fields

from vargym.models.llamagen.transformer import LlamaGen, LlamaGenConfig
from vargym.models.llamagen.vq import LlamaGenVQ, LlamaGenVQConfig

__all__ = ["LLAMAGEN_PRESETS", "OFFICIAL_VQ16", "RELEASE_SOURCES", "build_llamagen", "llamagen_from_official_kwargs",
           "official_t2i_config"]

OFFICIAL_VQ16 = LlamaGenVQConfig()
"""``vq_ds16_c2i.pt``: 16384 codes of dim 8, ch 128, ch_mult (1, 1, 2, 2, 4), z 256; used by every c2i GPT."""


def official_gpt_config(n_layer: int, n_head: int, dim: int, image_size: int) -> LlamaGenConfig:
    """The released c2i GPTs: 1000 classes, VQ-16 vocabulary, ``(image_size / 16)^2`` tokens."""
    return LlamaGenConfig(dim=dim, n_layer=n_layer, n_head=n_head, num_classes=1000, vocab_size=16384,
                          block_size=(image_size // 16) ** 2)


def official_t2i_config(image_size: int) -> LlamaGenConfig:
    """The released t2i GPT-XL (``sample_t2i.py``): 120 caption slots of FLAN-T5-XL features (2048 wide),
    ``(image_size / 16)^2`` tokens; stage 1 at 256 px, stage 2 at 512 px (the same weights' keys)."""
    return LlamaGenConfig(dim=1280, n_layer=36, n_head=20, vocab_size=16384, block_size=(image_size // 16) ** 2,
                          model_type="t2i", cls_token_num=120, caption_dim=2048)


RELEASED_LLAMAGEN: dict[str, tuple[LlamaGenVQConfig, LlamaGenConfig]] = {
    "llamagen-b": (OFFICIAL_VQ16, official_gpt_config(12, 12, 768, 256)),
    "llamagen-l": (OFFICIAL_VQ16, official_gpt_config(24, 16, 1024, 256)),
    "llamagen-xl": (OFFICIAL_VQ16, official_gpt_config(36, 20, 1280, 384)),
    "llamagen-xxl": (OFFICIAL_VQ16, official_gpt_config(48, 24, 1536, 384)),
    "llamagen-3b": (OFFICIAL_VQ16, official_gpt_config(24, 32, 3200, 384)),
    "llamagen-t2i-xl": (OFFICIAL_VQ16, official_t2i_config(256)),
    "llamagen-t2i-xl-512": (OFFICIAL_VQ16, official_t2i_config(512)),
}
"""Released architectures (the t2i VQ-16 has the c2i architecture, with its own weights)."""
RELEASED_FILES: dict[str, str] = {
    "llamagen-b": "c2i_B_256.pt", "llamagen-l": "c2i_L_256.pt", "llamagen-xl": "c2i_XL_384.pt",
    "llamagen-xxl": "c2i_XXL_384.pt", "llamagen-3b": "c2i_3B_384.pt",
    "llamagen-t2i-xl": "t2i_XL_stage1_256.pt", "llamagen-t2i-xl-512": "t2i_XL_stage2_512.pt",
}
"""The GPT weight file of each release."""
RELEASE_SOURCES: dict[str, tuple[str, str]] = {
    **{name: ("FoundationVision/LlamaGen", "vq_ds16_c2i.pt") for name in RELEASED_FILES if "-t2i-" not in name},
    "llamagen-t2i-xl": ("peizesun/llamagen_t2i", "vq_ds16_t2i.pt"),
    "llamagen-t2i-xl-512": ("peizesun/llamagen_t2i", "vq_ds16_t2i.pt"),
}
"""The Hugging Face repo of each release and the tokenizer file it pairs with (t2i and c2i have their own)."""

# vargym's own 64 px LlamaGen: the procedural classes of the tiny VAR, 8x8 tokens (downsample 8).
TINY_LLAMAGEN_VQ = LlamaGenVQConfig(codebook_size=512, codebook_embed_dim=8, encoder_ch_mult=(1, 1, 2, 2),
                                    decoder_ch_mult=(1, 1, 2, 2), z_channels=64, ch=32, num_res_blocks=1,
                                    norm_groups=8)
TINY_LLAMAGEN = LlamaGenConfig(dim=128, n_layer=4, n_head=4, num_classes=10, vocab_size=512, block_size=64,
                               token_dropout_p=0.0, resid_dropout_p=0.0, ffn_dropout_p=0.0)
TINY_LLAMAGEN_T2I = LlamaGenConfig(dim=128, n_layer=4, n_head=4, vocab_size=512, block_size=64, model_type="t2i",
                                   cls_token_num=24, caption_dim=64, token_dropout_p=0.0, resid_dropout_p=0.0,
                                   ffn_dropout_p=0.0)
"""The tiny LlamaGen's size with the official t2i layout: 24 caption slots of 64-wide features."""
TINY_T2I = LlamaGenConfig(dim=128, n_layer=6, n_head=4, vocab_size=512, block_size=64, model_type="t2i",
                          cls_token_num=16, caption_dim=64, token_dropout_p=0.0, resid_dropout_p=0.0,
                          ffn_dropout_p=0.0)
"""The embedded text-to-image model (``vargym pretrain --preset tiny-t2i``): 16 caption slots of a tiny T5."""
OWN_LLAMAGEN: dict[str, tuple[LlamaGenVQConfig, LlamaGenConfig]] = {
    "tiny-llamagen": (TINY_LLAMAGEN_VQ, TINY_LLAMAGEN),
    "tiny-llamagen-t2i": (TINY_LLAMAGEN_VQ, TINY_LLAMAGEN_T2I),
    "tiny-t2i": (TINY_LLAMAGEN_VQ, TINY_T2I),
}
LLAMAGEN_PRESETS = {**RELEASED_LLAMAGEN, **OWN_LLAMAGEN}


def build_llamagen(vq_cfg: LlamaGenVQConfig, gpt_cfg: LlamaGenConfig) -> tuple[LlamaGenVQ, LlamaGen]:
    if gpt_cfg.vocab_size != vq_cfg.codebook_size:
        raise ValueError(f"GPT vocab_size={gpt_cfg.vocab_size} must equal the codebook size {vq_cfg.codebook_size}")
    return LlamaGenVQ(vq_cfg), LlamaGen(gpt_cfg)


# Official fields that only size the official serving caches.
_UNUSED_GPT = {"max_batch_size", "max_seq_len"}
_FIXED_VQ_STRUCTURE = {"in_channels": 3, "out_channels": 3, "norm_type": "group", "resamp_with_conv": True,
                       "group_norm_eps": 1e-6}


def _take(kwargs: dict, names: set[str], what: str) -> dict:
    unknown = sorted(set(kwargs) - names)
    if unknown:
        raise ValueError(f"unknown {what} keyword(s) {unknown}; allowed: {sorted(names)}")
    return kwargs


def llamagen_from_official_kwargs(vq_config: dict, vq_structure: dict, gpt_config: dict) -> tuple[LlamaGenVQ, LlamaGen]:
    """Build (vq, gpt) from the official ``ModelArgs`` dicts of the tokenizer and the GPT (``model_type`` "c2i"
    or "t2i"), plus the Encoder/Decoder constants (``ch``, ``ch_mult``, ``num_res_blocks``, ...) that
    ``VQModel`` does not pass.

    Example:
        >>> golden = torch.load("llamagen_tiny_a.pt", weights_only=True)
        >>> vq, gpt = llamagen_from_official_kwargs(golden["vq_config"], golden["vq_structure"], golden["gpt_config"])
    """
    vq = dict(vq_config)
    structure = dict(vq_structure or {})
    for key, value in _FIXED_VQ_STRUCTURE.items():
        if key in structure and structure.pop(key) != value:
            raise ValueError(f"vq_structure {key} must be {value!r} (the official tokenizer's)")
    ch_mult = structure.pop("ch_mult", None)
    if ch_mult is not None and "encoder_ch_mult" not in vq:
        vq["encoder_ch_mult"] = vq["decoder_ch_mult"] = ch_mult
    ratio = structure.pop("downsample_ratio", None)
    if "group_norm_groups" in structure:
        structure["norm_groups"] = structure.pop("group_norm_groups")
    vq.update(_take(structure, {"ch", "num_res_blocks", "norm_groups"}, "vq_structure"))
    vq_cfg = LlamaGenVQConfig(**_take(vq, {f.name for f in fields(LlamaGenVQConfig)}, "VQ ModelArgs"))
    if ratio is not None and ratio != vq_cfg.downsample:
        raise ValueError(f"downsample_ratio={ratio} disagrees with ch_mult={vq_cfg.encoder_ch_mult} "
                         f"(gives {vq_cfg.downsample})")
    gpt = dict(gpt_config)
    for key in _UNUSED_GPT:
        gpt.pop(key, None)
    gpt_cfg = LlamaGenConfig(**_take(gpt, {f.name for f in fields(LlamaGenConfig)}, "GPT ModelArgs"))
    return build_llamagen(vq_cfg, gpt_cfg)
