"""VQGAN + transformer presets: the released class-conditional ImageNet model (cIN) and a tiny random one."""

from __future__ import annotations

from vargym.models.vqgan.transformer import MinGPT, MinGPTConfig
from vargym.models.vqgan.vq import VQGAN, VQGANConfig

__all__ = ["CIN_SOURCE", "VQGAN_PRESETS", "build_vqgan"]

CIN_VQGAN = VQGANConfig(n_embed=16384, embed_dim=256, z_channels=256, resolution=256, ch=128, ch_mult=(1, 1, 2, 2, 4),
                        num_res_blocks=2, attn_resolutions=(16,))
"""The cIN model's first stage: the ImageNet f16 VQGAN with 16384 codes (``configs/imagenet_vqgan.yaml``'s
ddconfig)."""
CIN_GPT = MinGPTConfig(vocab_size=16384, block_size=256, n_layer=48, n_head=24, n_embd=1536, num_classes=1000)
"""The cIN transformer (1.41 B parameters). Every shape is fixed by the released keys; ``n_head`` is not (24,
head width 64, is the value believed to be in the released ``project.yaml``): give the checkpoint folder's yaml
(``config_path``) and its values are used."""
CIN_SOURCE = ("2021-04-03T19-39-50_cin_transformer", "https://k00.fr/s511rwcv")
"""The released cIN folder and the taming-transformers README's link to it (a Lightning log folder:
``checkpoints/last.ckpt`` and ``configs/2021-04-03T19-39-50-project.yaml``; not on the Hugging Face hub)."""

TINY_VQGAN_VQ = VQGANConfig(n_embed=512, embed_dim=8, z_channels=64, resolution=64, ch=32, ch_mult=(1, 1, 2, 2),
                            num_res_blocks=1, attn_resolutions=(8,), norm_groups=8)
TINY_VQGAN_GPT = MinGPTConfig(vocab_size=512, block_size=64, n_layer=4, n_head=4, n_embd=128, num_classes=10)
"""The tiny LlamaGen's size in the taming layout: 64 px, 8x8 tokens of 512 codes, ten classes."""

VQGAN_PRESETS: dict[str, tuple[VQGANConfig, MinGPTConfig]] = {
    "vqgan-cin": (CIN_VQGAN, CIN_GPT),
    "tiny-vqgan": (TINY_VQGAN_VQ, TINY_VQGAN_GPT),
}


def build_vqgan(vq_cfg: VQGANConfig, gpt_cfg: MinGPTConfig) -> tuple[VQGAN, MinGPT]:
    if gpt_cfg.vocab_size != vq_cfg.n_embed:
        raise ValueError(f"GPT vocab_size={gpt_cfg.vocab_size} must equal the codebook size n_embed={vq_cfg.n_embed}")
    grid = vq_cfg.grid
    if gpt_cfg.block_size != grid * grid:
        raise ValueError(f"GPT block_size={gpt_cfg.block_size} must be the VQGAN's token count {grid}x{grid} "
                         f"(resolution {vq_cfg.resolution} / downsample {vq_cfg.downsample})")
    return VQGAN(vq_cfg), MinGPT(gpt_cfg)
