"""Parity with the official LlamaGen code on the golden vectors in ../shared/llamagen/golden (see its README)."""

import pytest
import torch

from tests.conftest import shared_path
from vargym.models import llamagen_from_official_kwargs
from vargym.models.files import load_state_strict

ATOL = 1e-4


@pytest.fixture(scope="module")
def golden():
    return torch.load(shared_path("llamagen", "golden", "llamagen_tiny_a.pt"), weights_only=True)


@pytest.fixture(scope="module")
def models(golden):
    vq, gpt = llamagen_from_official_kwargs(golden["vq_config"], golden["vq_structure"], golden["gpt_config"])
    load_state_strict(vq, golden["vq_state_dict"], "golden vq")  # float16 values cast into float32 modules
    load_state_strict(gpt, golden["gpt_state_dict"], "golden gpt")
    return vq.eval(), gpt.eval()


def test_derived_facts(golden, models):
    vq, gpt = models
    d = golden["derived"]
    assert gpt.cfg.grid == d["grid"] and gpt.block_size == d["L"] and gpt.cfg.head_dim == d["head_dim"]
    assert gpt.cfg.ffn_hidden == d["ffn_hidden"] and vq.downsample * d["grid"] == d["image_size"]
    assert gpt.cls_embedding.embedding_table.num_embeddings == d["cls_embedding_rows"]
    assert gpt.num_classes == d["null_class_index"]
    assert torch.equal(gpt.rope, d["rope_freqs_cis"])  # row 0 (the class token) all zeros
    assert "rope" not in gpt.state_dict()


def test_encode_tokens_exact(golden, models):
    vq, _ = models
    e = golden["encode"]
    torch.testing.assert_close(vq.encode_latent(golden["inputs"]["img_pm1"]), e["z"], atol=ATOL, rtol=ATOL)
    img01 = golden["inputs"]["img_uint8"].permute(0, 3, 1, 2).float() / 255
    assert torch.equal(vq.img_to_tokens(img01), e["indices"])
    with torch.no_grad():
        recon = vq.decoder(vq.post_quant_conv(vq.quantize.lookup(e["indices"], golden["derived"]["grid"])))
    torch.testing.assert_close(recon, e["recon"], atol=ATOL, rtol=ATOL)


def test_decode(golden, models):
    vq, _ = models
    d = golden["decode"]
    torch.testing.assert_close(vq.quantize.lookup(d["indices"], golden["derived"]["grid"]), d["quant"], atol=1e-6,
                               rtol=0)
    with torch.no_grad():
        torch.testing.assert_close(vq.decode_code(d["indices"]), d["img"], atol=ATOL, rtol=ATOL)
    torch.testing.assert_close(vq.tokens_to_img(d["indices"]), ((d["img"] + 1) / 2).clamp(0, 1), atol=ATOL, rtol=ATOL)


def test_teacher_forcing(golden, models):
    _, gpt = models
    tf = golden["teacher_forcing"]
    with torch.no_grad():
        logits = gpt.logits(golden["inputs"]["tf_labels"], tf_tokens := golden["inputs"]["tf_tokens"])
    torch.testing.assert_close(logits, tf["logits"], atol=ATOL, rtol=ATOL)
    loss = torch.nn.functional.cross_entropy(logits.flatten(0, 1), tf_tokens.flatten())
    torch.testing.assert_close(loss, tf["loss"], atol=ATOL, rtol=ATOL)


def _uint8(img_pm1: torch.Tensor) -> torch.Tensor:
    return (127.5 * img_pm1 + 128).clamp(0, 255).to(torch.uint8).permute(0, 2, 3, 1)


@pytest.mark.parametrize("i", [0, 1, 2])
def test_greedy_sampling(golden, models, i):
    vq, gpt = models
    s = golden["sample_greedy"][i]
    kw = dict(cfg=s["cfg_scale"], cfg_interval=s["cfg_interval"], top_k=s["top_k"], top_p=s["top_p"],
              temperature=s["temperature"])
    tokens = gpt.sample(s["labels"], **kw)
    assert tokens.dtype == torch.int64 and torch.equal(tokens, s["tokens"])
    _check_guided_logits(gpt, s)
    with torch.no_grad():
        img = vq.decode_code(tokens)
    torch.testing.assert_close(img, s["img"], atol=ATOL, rtol=ATOL)
    assert (_uint8(img).int() - s["img_uint8"].int()).abs().max() <= 1


def _check_guided_logits(gpt, s):
    """Teacher-forced on the stored tokens: the cond/null raw logits and the guided logits of every step."""
    labels, B = s["labels"], s["labels"].shape[0]
    with torch.no_grad():
        if s["cfg_scale"] > 1:
            raw = gpt.logits(torch.cat([labels, torch.full_like(labels, gpt.num_classes)]), s["tokens"].repeat(2, 1))
            torch.testing.assert_close(raw, s["raw_logits"], atol=ATOL, rtol=ATOL)
            cond, uncond = raw[:B], raw[B:]
            n = gpt.block_size if s["cfg_interval"] < 0 else s["cfg_interval"] + 2
            guided = torch.cat([uncond[:, :n] + (cond[:, :n] - uncond[:, :n]) * s["cfg_scale"], cond[:, n:]], dim=1)
        else:
            guided = gpt.logits(labels, s["tokens"])
    torch.testing.assert_close(guided, s["guided_logits"], atol=ATOL, rtol=ATOL)


def test_seeded_sampling_is_rng_exact(golden, models):
    """Same global-RNG multinomial calls on the same probabilities: the official tokens, draw for draw."""
    vq, gpt = models
    s = golden["sample_seeded"]
    kw = dict(cfg=s["cfg_scale"], cfg_interval=s["cfg_interval"], top_k=s["top_k"], top_p=s["top_p"],
              temperature=s["temperature"])
    torch.manual_seed(s["torch_manual_seed"])
    tokens, log_probs = gpt.sample(s["labels"], return_log_probs=True, **kw)
    assert torch.equal(tokens, s["tokens"])
    _check_guided_logits(gpt, s)
    # the guided log-probs of the drawn tokens under the official filtered distribution
    from vargym.models.llamagen.transformer import filter_logits_llamagen

    ref = filter_logits_llamagen(s["guided_logits"] / s["temperature"], s["top_k"], s["top_p"]).log_softmax(-1)
    ref = ref.gather(-1, s["tokens"].unsqueeze(-1)).squeeze(-1)
    torch.testing.assert_close(log_probs, ref, atol=ATOL, rtol=ATOL)
    with torch.no_grad():
        torch.testing.assert_close(gpt.log_probs(s["labels"], s["tokens"], **kw), ref, atol=ATOL, rtol=ATOL)
        torch.testing.assert_close(vq.decode_code(tokens), s["img"], atol=ATOL, rtol=ATOL)


def test_official_format_files_load_strictly(golden, tmp_path):
    """DDP layout (``{"model": sd}``) for the GPT and the VQ, float16 as stored; runtime keys are dropped."""
    from vargym.models.llamagen.loading import load_llamagen_official

    ref_vq, ref_gpt = llamagen_from_official_kwargs(golden["vq_config"], golden["vq_structure"], golden["gpt_config"])
    torch.save({"model": golden["vq_state_dict"]}, tmp_path / "vq.pt")
    torch.save({"model": {**golden["gpt_state_dict"], "freqs_cis": torch.zeros(3)}}, tmp_path / "gpt.pt")
    vq, gpt = load_llamagen_official(tmp_path / "vq.pt", tmp_path / "gpt.pt", configs=(ref_vq.cfg, ref_gpt.cfg))
    assert not gpt.training and gpt.output.weight.dtype == torch.float32
    tf = golden["teacher_forcing"]
    torch.testing.assert_close(gpt.logits(golden["inputs"]["tf_labels"], golden["inputs"]["tf_tokens"]), tf["logits"],
                               atol=ATOL, rtol=ATOL)
    torch.save(golden["gpt_state_dict"], tmp_path / "fsdp.pt")  # FSDP files are flat
    load_llamagen_official(tmp_path / "vq.pt", tmp_path / "fsdp.pt", configs=(ref_vq.cfg, ref_gpt.cfg))
