"""The online k-means codebook and the from-scratch training aids of the VQ-VAE."""

import dataclasses
import math
import re

import pytest
import torch

from vargym.models.var.presets import TINY_VQVAE, from_official_kwargs
from vargym.models.var.vqvae import VQVAE, VQVAEConfig
from vargym.pretrain.codebook import EmaCodebook
from vargym.pretrain.stages import PretrainConfig, init_for_training

SMALL = VQVAEConfig(vocab_size=32, z_channels=4, ch=16, ch_mult=(1, 2), num_res_blocks=1, norm_groups=4,
                    v_patch_nums=(1, 2, 4), test_mode=False)


def _latent_and_tokens(vqvae: VQVAE, seed: int = 0):
    torch.manual_seed(seed)
    f = torch.randn(6, vqvae.Cvae, 4, 4)
    tokens, f_hat, _, residuals = vqvae.quantize.quantize(f)
    return f, tokens, f_hat, residuals


def _rows(residuals: list[torch.Tensor]) -> torch.Tensor:
    return torch.cat([r.permute(0, 2, 3, 1).reshape(-1, r.shape[1]) for r in residuals])


def test_quantizer_residuals_are_what_each_token_was_chosen_for():
    vqvae = VQVAE(SMALL)
    init_for_training(vqvae)
    _, tokens, _, residuals = _latent_and_tokens(vqvae)
    EmaCodebook(vqvae.quantize).update(residuals, tokens, torch.Generator().manual_seed(0))
    f, tokens, f_hat, residuals = _latent_and_tokens(vqvae, seed=1)
    z = _rows(residuals)  # [6 * (1 + 4 + 16), Cv]
    assert z.shape == (6 * 21, 4)
    idx = torch.cat([t.reshape(-1) for t in tokens])
    assert torch.equal(vqvae.quantize.nearest_code(z), idx)
    # the last scale's residual minus its own contribution is what f_hat leaves unexplained
    last = z[-6 * 16:].view(6, 4, 4, 4).permute(0, 3, 1, 2)
    contribution = vqvae.quantize.upsampled_residual(2, vqvae.quantize.embed_tokens(tokens[2]))
    torch.testing.assert_close(last - contribution, f - f_hat, atol=1e-5, rtol=0)


def test_ema_with_decay_zero_sets_codes_to_cluster_means_and_reseeds_dead_codes():
    vqvae = VQVAE(SMALL)
    _, tokens, _, residuals = _latent_and_tokens(vqvae)
    book = EmaCodebook(vqvae.quantize, decay=0.0)
    assert not vqvae.quantize.embedding.weight.requires_grad  # not the optimiser's to move
    z = _rows(residuals)
    idx = torch.cat([t.reshape(-1) for t in tokens])
    reseeded = book.update(residuals, tokens, torch.Generator().manual_seed(0))
    weight = vqvae.quantize.embedding.weight
    used = idx.unique()
    assert reseeded == 32 - used.numel() > 0
    for code in used.tolist():
        torch.testing.assert_close(weight[code], z[idx == code].mean(0))
    for code in set(range(32)) - set(used.tolist()):  # re-seeded onto a real residual vector
        assert (z - weight[code]).norm(dim=1).min() < 1e-6


def test_ema_codebook_shrinks_the_quantisation_error():
    vqvae = VQVAE(SMALL)
    torch.manual_seed(0)
    f = torch.randn(16, 4, 4, 4) * 2  # latents far larger than the initial codes, as at the start of training
    book, generator = EmaCodebook(vqvae.quantize, decay=0.5), torch.Generator().manual_seed(0)

    @torch.no_grad()
    def relative_error() -> float:
        f_hat = vqvae.quantize.quantize(f).f_hat
        return float((f - f_hat).square().sum() / f.square().sum())

    before = relative_error()
    for _ in range(20):
        quantized = vqvae.quantize.quantize(f)
        book.update(quantized.residuals, quantized.tokens, generator)
    assert before > 0.95 and relative_error() < 0.5 * before


def test_ema_state_round_trip_and_bad_decay():
    vqvae = VQVAE(SMALL)
    _, tokens, _, residuals = _latent_and_tokens(vqvae)
    book = EmaCodebook(vqvae.quantize, decay=0.9)
    book.update(residuals, tokens, torch.Generator().manual_seed(0))
    other = EmaCodebook(VQVAE(SMALL).quantize, decay=0.9)
    other.load_state(book.state())
    assert torch.equal(other.counts, book.counts) and torch.equal(other.sums, book.sums)
    with pytest.raises(ValueError, match=re.escape("decay must be in [0, 1), got 1.0")):
        EmaCodebook(vqvae.quantize, decay=1.0)


def test_bypass_quantizer_decodes_the_continuous_latent():
    vqvae = VQVAE(SMALL)
    images = torch.rand(2, 3, 8, 8)
    out = vqvae(images, bypass_quantizer=True)
    torch.testing.assert_close(out.recon, vqvae._decode(out.latent).add(1).mul(0.5))
    quantized = vqvae(images)
    assert not torch.allclose(quantized.recon, out.recon)  # the default does go through the codebook
    assert len(out.tokens) == 3 and out.vq_loss.ndim == 0


def test_init_for_training_keeps_signal_scale():
    vqvae = VQVAE(SMALL)
    init_for_training(vqvae)
    conv = vqvae.encoder.conv_in
    assert torch.count_nonzero(conv.bias) == 0
    fan_in = conv.weight[0].numel()
    assert conv.weight.std().item() == pytest.approx(math.sqrt(2 / fan_in), rel=0.3)


def test_norm_groups_config():
    assert VQVAE(SMALL).encoder.norm_out.num_groups == 4
    assert TINY_VQVAE.norm_groups == 8  # several channels per group at ch 32 (see presets)
    assert VQVAEConfig().norm_groups == 32  # the official value
    with pytest.raises(ValueError, match="multiples of norm_groups=12"):
        VQVAEConfig(ch=32, norm_groups=12)
    with pytest.raises(ValueError, match="norm_groups must be >= 1"):
        VQVAEConfig(norm_groups=0)
    official = dict(vocab_size=32, z_channels=4, ch=32, v_patch_nums=(1, 2), ch_mult=(1, 2), num_res_blocks=1)
    var = dict(depth=1, embed_dim=32, num_heads=1, num_classes=2, patch_nums=(1, 2))
    vqvae, _ = from_official_kwargs({**official, "group_norm_groups": 32}, var)
    assert vqvae.cfg.norm_groups == 32
    vqvae, _ = from_official_kwargs({**official, "group_norm_groups": 16}, var)
    assert vqvae.encoder.norm_out.num_groups == 16
    assert dataclasses.replace(TINY_VQVAE).norm_groups == 8


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        (dict(vqvae_ae_warmup=1.0), "vqvae_ae_warmup must be in [0, 1), got 1.0"),
        (dict(codebook_decay=-0.1), "codebook_decay must be in [0, 1), got -0.1"),
    ],
)
def test_pretrain_config_errors(kwargs, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        PretrainConfig(**kwargs)
