"""VAR presets (the official depth -> width/heads/drop-path rule) and construction from official kwargs."""

from __future__ import annotations

from dataclasses import fields, replace

from vargym.models.var.transformer import VAR, VARConfig
from vargym.models.var.vqvae import VQVAE, VQVAEConfig

# The released VQ-VAE `vae_ch160v4096z32.pth` (256 px, 10 scales).
OFFICIAL_VQVAE = VQVAEConfig(vocab_size=4096, z_channels=32, ch=160, share_quant_resi=4, test_mode=True,
                             v_patch_nums=(1, 2, 3, 4, 5, 6, 8, 10, 13, 16))

# The embedded default: 64 px images, 10 procedural classes, small enough to train and sample on a CPU.
# 8 norm groups keep 4-8 channels per group (the official model has 5-20); 32 groups at ch 32 would be
# instance norms, which erase each channel's per-image mean and with it the absolute colour.
TINY_VQVAE = VQVAEConfig(vocab_size=512, z_channels=16, ch=32, ch_mult=(1, 1, 2, 2), num_res_blocks=1,
                         share_quant_resi=4, v_patch_nums=(1, 2, 3, 4, 6, 8), test_mode=True, norm_groups=8)
TINY_VAR = VARConfig(num_classes=10, depth=4, embed_dim=128, num_heads=4, drop_path_rate=0.0, cond_drop_rate=0.1,
                     patch_nums=TINY_VQVAE.v_patch_nums, Cvae=TINY_VQVAE.z_channels,
                     vocab_size=TINY_VQVAE.vocab_size)
# The same VQ-VAE with a wider, deeper transformer (4.2M parameters, 3.2x the tiny VAR). On the tiny VQ-VAE's
# tokens it reaches a given loss in about two thirds of the tiny VAR's CPU time, although each step costs 2x.
SMALL_VAR = replace(TINY_VAR, depth=6, embed_dim=192, num_heads=6)


def official_var_config(depth: int, num_classes: int = 1000) -> VARConfig:
    """``build_vae_var``'s rule: width 64*depth, heads = depth, drop-path 0.1*depth/24."""
    return VARConfig(num_classes=num_classes, depth=depth, embed_dim=64 * depth, num_heads=depth, mlp_ratio=4.0,
                     drop_path_rate=0.1 * depth / 24, norm_eps=1e-6, shared_aln=False, cond_drop_rate=0.1,
                     attn_l2_norm=True, patch_nums=OFFICIAL_VQVAE.v_patch_nums, Cvae=OFFICIAL_VQVAE.z_channels,
                     vocab_size=OFFICIAL_VQVAE.vocab_size)


RELEASED_PRESETS: dict[str, tuple[VQVAEConfig, VARConfig]] = {
    f"var-d{d}": (OFFICIAL_VQVAE, official_var_config(d)) for d in (16, 20, 24, 30)
}
"""The architectures of the official VAR release (weights downloadable)."""
OWN_PRESETS: dict[str, tuple[VQVAEConfig, VARConfig]] = {
    "tiny": (TINY_VQVAE, TINY_VAR),
    "small": (TINY_VQVAE, SMALL_VAR),
}
"""vargym's own 64 px architectures, trained by ``vargym pretrain`` (no released weights)."""
PRESETS: dict[str, tuple[VQVAEConfig, VARConfig]] = {**RELEASED_PRESETS, **OWN_PRESETS}


def build(vqvae_cfg: VQVAEConfig, var_cfg: VARConfig) -> tuple[VQVAE, VAR]:
    vqvae = VQVAE(vqvae_cfg)
    return vqvae, VAR(var_cfg, vqvae)


# Structural constants of the official Encoder/Decoder that vargym fixes; accepted when they match.
_FIXED_VAE_STRUCTURE = {"in_channels": 3, "group_norm_eps": 1e-6}
_IGNORED_VAR_KWARGS = {"flash_if_available", "fused_if_available", "vae_local"}


def _take(kwargs: dict, names: set[str], what: str) -> dict:
    unknown = sorted(set(kwargs) - names)
    if unknown:
        raise ValueError(f"unknown {what} keyword(s) {unknown}; allowed: {sorted(names)}")
    return kwargs


def from_official_kwargs(vae_kwargs: dict, var_kwargs: dict) -> tuple[VQVAE, VAR]:
    """Build (VQVAE, VAR) from the official constructor kwargs (as stored in the golden files).

    ``vae_kwargs`` holds the official ``VQVAE`` kwargs plus the structure keys ``ch_mult`` and
    ``num_res_blocks`` (and optionally using_sa, using_mid_sa, in_channels, group_norm_groups, group_norm_eps,
    downsample_ratio), either merged or under a nested ``"vae_structure"`` key.
    """
    vae_kwargs = dict(vae_kwargs)
    vae_kwargs.update(vae_kwargs.pop("vae_structure", {}) or {})
    for key, value in _FIXED_VAE_STRUCTURE.items():
        if key in vae_kwargs and vae_kwargs.pop(key) != value:
            raise ValueError(f"vae structure {key} must be {value} (fixed in the official VQ-VAE)")
    if "group_norm_groups" in vae_kwargs:
        vae_kwargs["norm_groups"] = vae_kwargs.pop("group_norm_groups")
    ratio = vae_kwargs.pop("downsample_ratio", None)
    vae_names = {f.name for f in fields(VQVAEConfig)}
    vqvae_cfg = VQVAEConfig(**_take(vae_kwargs, vae_names, "VQVAE"))
    if ratio is not None and ratio != vqvae_cfg.downsample:
        raise ValueError(f"downsample_ratio={ratio} disagrees with ch_mult={vqvae_cfg.ch_mult} "
                         f"(gives {vqvae_cfg.downsample})")
    var_kwargs = {k: v for k, v in var_kwargs.items() if k not in _IGNORED_VAR_KWARGS}
    var_kwargs.setdefault("Cvae", vqvae_cfg.z_channels)
    var_kwargs.setdefault("vocab_size", vqvae_cfg.vocab_size)
    var_cfg = VARConfig(**_take(var_kwargs, {f.name for f in fields(VARConfig)}, "VAR"))
    if tuple(var_cfg.patch_nums) != vqvae_cfg.v_patch_nums:
        raise ValueError(f"VAR patch_nums {var_cfg.patch_nums} differ from VQVAE v_patch_nums {vqvae_cfg.v_patch_nums}")
    return build(vqvae_cfg, var_cfg)
