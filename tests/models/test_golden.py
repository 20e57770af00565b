"""Parity with the official VAR code on the golden vectors in ../shared/golden (see its README)."""

import pytest
import torch

from tests.conftest import shared_path
from vargym.models import from_official_kwargs
from vargym.models.var.sampling import guidance_weights

ATOL = 1e-4


@pytest.fixture(scope="module")
def golden():
    return torch.load(shared_path("golden", "var_tiny_a.pt"), weights_only=True)


@pytest.fixture(scope="module")
def models(golden):
    vqvae, var = from_official_kwargs({**golden["vae_config"], **golden["vae_structure"]}, golden["var_config"])
    vqvae.load_state_dict(golden["vae_state_dict"], strict=True)
    var.load_state_dict(golden["var_state_dict"], strict=True)
    return vqvae, var.eval()


def _same_tokens(a, b):
    return len(a) == len(b) and all(torch.equal(x, y) for x, y in zip(a, b))


def test_derived_facts(golden, models):
    _, var = models
    d = golden["derived"]
    assert var.L == d["L"] and var.first_l == d["first_l"]
    assert [list(be) for be in var.begin_ends] == d["begin_ends"]
    quant = var.vqvae.quantize
    phis = list(quant.quant_resi.qresi_ls)
    chosen = [next(i for i, m in enumerate(phis) if m is quant.phi(k)) for k in range(len(var.patch_nums))]
    assert chosen == d["phi_index_per_scale"]
    assert var.vqvae.image_size == d["image_size"]


def test_encode_tokens_exact(golden, models):
    vqvae, _ = models
    e = golden["encode"]
    img01 = (e["img_pm1"] + 1) / 2
    torch.testing.assert_close(vqvae.encode_latent(img01), e["f_BChw"], atol=ATOL, rtol=ATOL)
    assert _same_tokens(vqvae.img_to_tokens(img01), e["idx_Bl"])


def test_decode(golden, models):
    vqvae, _ = models
    d = golden["decode"]
    torch.testing.assert_close(vqvae.quantize.tokens_to_fhat(d["idx_Bl"]), d["f_hat"], atol=ATOL, rtol=ATOL)
    torch.testing.assert_close(vqvae.tokens_to_img(d["idx_Bl"]), (d["img_pm1"] + 1) / 2, atol=ATOL, rtol=ATOL)


def test_teacher_forcing(golden, models):
    _, var = models
    tf = golden["teacher_forcing"]
    x = var.vqvae.quantize.next_scale_inputs(tf["idx_Bl"])
    torch.testing.assert_close(x, tf["x_BLCv_wo_first_l"], atol=ATOL, rtol=ATOL)
    torch.testing.assert_close(var.logits(tf["label_B"], tf["idx_Bl"]), tf["logits_BLV"], atol=ATOL, rtol=ATOL)
    torch.testing.assert_close(var(tf["label_B"], x), tf["logits_BLV"], atol=ATOL, rtol=ATOL)


@pytest.mark.parametrize("i", [0, 1])
def test_greedy_sampling(golden, models, i):
    vqvae, var = models
    s = golden["sample_greedy"][i]
    sampler = var.make_sampler(s["label_B"], cfg=s["cfg"], top_k=s["top_k"], top_p=s["top_p"])
    tokens = []
    while not sampler.done:
        tokens.append(sampler.step()[0])
    assert _same_tokens(tokens, s["idx_Bl"])
    torch.testing.assert_close(sampler.f_hat, s["f_hat"], atol=ATOL, rtol=ATOL)
    torch.testing.assert_close(sampler.images(), s["img_01"], atol=ATOL, rtol=ATOL)
    assert _same_tokens(var.sample(s["label_B"], cfg=s["cfg"], top_k=s["top_k"], top_p=s["top_p"]), s["idx_Bl"])
    # guided logits before filtering, recomputed teacher-forced on the sampled tokens
    B = s["label_B"].shape[0]
    raw = var.logits(torch.cat([s["label_B"], torch.full_like(s["label_B"], var.num_classes)]),
                     [t.repeat(2, 1) for t in tokens])
    if "raw_logits_2BlV" in s:
        torch.testing.assert_close(raw, torch.cat(s["raw_logits_2BlV"], 1), atol=ATOL, rtol=ATOL)
    t = guidance_weights(var.patch_nums, s["cfg"])[var.lvl_1L[0]].view(1, -1, 1)
    torch.testing.assert_close((1 + t) * raw[:B] - t * raw[B:], torch.cat(s["cfg_logits_BlV"], 1), atol=ATOL, rtol=ATOL)


@pytest.mark.parametrize("i", [0, 1])
def test_seeded_sampling_is_rng_exact(golden, models, i):
    """Same torch CPU generator calls in the same order: the official stochastic tokens, exactly."""
    _, var = models
    s = golden["sample_seeded"][i]
    gen = torch.Generator().manual_seed(s["g_seed"])
    labels = s["label_B"]
    if labels is None:  # the official sampler draws labels first, from the same generator
        uniform = torch.full((1, var.num_classes), 1.0 / var.num_classes)
        labels = torch.multinomial(uniform, num_samples=s["B"], replacement=True, generator=gen).reshape(s["B"])
        assert torch.equal(labels, s["drawn_label_B"])
    sampler = var.make_sampler(labels, cfg=s["cfg"], top_k=s["top_k"], top_p=s["top_p"],
                               more_smooth=s["more_smooth"], generator=gen)
    tokens = []
    while not sampler.done:
        tokens.append(sampler.step()[0])
    assert _same_tokens(tokens, s["idx_Bl"])
    torch.testing.assert_close(sampler.f_hat, s["f_hat"], atol=ATOL, rtol=ATOL)
    # the public entry point draws missing labels from the generator first, as the official sampler does
    again = var.sample(s["label_B"], cfg=s["cfg"], top_k=s["top_k"], top_p=s["top_p"], more_smooth=s["more_smooth"],
                       generator=torch.Generator().manual_seed(s["g_seed"]), batch_size=s["B"])
    assert _same_tokens(again, s["idx_Bl"])
    if "cfg_logits_BlV" in s and not s["more_smooth"]:
        B = labels.shape[0]
        raw = var.logits(torch.cat([labels, torch.full_like(labels, var.num_classes)]), [t.repeat(2, 1) for t in tokens])
        t = guidance_weights(var.patch_nums, s["cfg"])[var.lvl_1L[0]].view(1, -1, 1)
        torch.testing.assert_close((1 + t) * raw[:B] - t * raw[B:], torch.cat(s["cfg_logits_BlV"], 1), atol=ATOL, rtol=ATOL)
