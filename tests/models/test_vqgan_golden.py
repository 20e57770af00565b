"""Parity with the official taming-transformers code on the golden files in tests/models/golden/vqgan, written by
``tools/vqgan_golden.py`` from the unmodified official modules on two tiny random configurations (every weight
redrawn; see the script's docstring)."""

import json
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from vargym.models.generator import top_k_top_p_filter
from vargym.models.vqgan import VQGANConfig, build_vqgan
from vargym.models.vqgan.loading import load_vqgan_official, split_net2net_state
from vargym.models.vqgan.transformer import MinGPTConfig

GOLDEN = Path(__file__).parent / "golden" / "vqgan"
ATOL = 1e-4


def _configs(meta: dict) -> tuple[VQGANConfig, MinGPTConfig]:
    c = meta["config"]
    vq = VQGANConfig(n_embed=c["n_embed"], embed_dim=c["embed_dim"], **c["ddconfig"])
    gpt = MinGPTConfig(vocab_size=c["n_embed"], block_size=meta["tokens"], num_classes=10, **c["gpt"])
    return vq, gpt


@pytest.fixture(scope="module", params=["a", "b"])
def case(request):
    golden = load_file(str(GOLDEN / f"{request.param}.safetensors"))
    meta = json.loads((GOLDEN / f"{request.param}.json").read_text())
    state = {k.removeprefix("state."): v for k, v in golden.items() if k.startswith("state.")}
    vq_state, gpt_state = split_net2net_state(state, "golden")
    vq, gpt = build_vqgan(*_configs(meta))
    vq.load_state_dict(vq_state)  # float16 values cast into float32 modules
    gpt.load_state_dict(gpt_state)
    return golden, meta, vq.eval(), gpt.eval()


def test_encode_is_exact(case):
    golden, _, vq, _ = case
    with torch.no_grad():
        torch.testing.assert_close(vq.quant_conv(vq.encoder(golden["image"])), golden["features"], atol=ATOL, rtol=0)
        quant, _, ids = vq.encode(golden["image"])
    torch.testing.assert_close(quant, golden["quant"], atol=ATOL, rtol=0)
    assert torch.equal(ids.flatten(), golden["indices"])  # the official flat (b, row, col) order
    assert torch.equal(vq.img_to_tokens((golden["image"] + 1) / 2), ids)


def test_decode(case):
    golden, _, vq, _ = case
    with torch.no_grad():
        torch.testing.assert_close(vq.decode(golden["quant"]), golden["decoded"], atol=ATOL, rtol=ATOL)
        torch.testing.assert_close(vq.decode_code(golden["z"]), golden["decoded_from_indices"], atol=ATOL, rtol=ATOL)
    images = vq.tokens_to_img(golden["z"])
    torch.testing.assert_close(images, ((golden["decoded_from_indices"] + 1) / 2).clamp(0, 1), atol=ATOL, rtol=ATOL)


def test_teacher_forcing(case):
    golden, _, _, gpt = case
    with torch.no_grad():
        torch.testing.assert_close(gpt.logits(golden["labels"], golden["z"]), golden["z_logits"], atol=ATOL, rtol=ATOL)
        # Net2NetTransformer.forward: the encoder's tokens after the class token
        torch.testing.assert_close(gpt.logits(golden["labels"], golden["tf_target"]), golden["tf_logits"], atol=ATOL,
                                   rtol=ATOL)


def test_greedy_sampling_matches_both_official_samplers(case):
    golden, _, _, gpt = case
    assert torch.equal(golden["greedy"], golden["greedy_no_cache"])  # sample_with_past == Net2NetTransformer.sample
    tokens = gpt.sample(golden["labels"], greedy=True)
    assert tokens.dtype == torch.int64 and torch.equal(tokens, golden["greedy"])


@pytest.mark.parametrize("index", [0, 1])
def test_seeded_sampling(case, index):
    """Teacher-forced on the official draws, the filtered distribution equals the one each official
    ``multinomial`` drew from; under the same global seed, vargym's sampler makes the same draws."""
    golden, meta, _, gpt = case
    s = meta["sampled"][index]
    tokens, probs = golden[s["key"]], golden[f"{s['key']}_probs"]
    with torch.no_grad():
        logits = gpt.logits(golden["labels"], tokens) / s["temperature"]
    ours = top_k_top_p_filter(logits, s["top_k"], 1.0).softmax(-1)
    torch.testing.assert_close(ours, probs, atol=1e-5, rtol=0)
    assert torch.equal(ours > 0, probs > 0)  # the same top-k sets
    torch.manual_seed(s["torch_seed"])
    sampled, log_probs = gpt.sample(golden["labels"], top_k=s["top_k"], top_p=1.0, temperature=s["temperature"],
                                    return_log_probs=True)
    assert torch.equal(sampled, tokens)
    ref = probs.gather(-1, tokens.unsqueeze(-1)).squeeze(-1).log()
    torch.testing.assert_close(log_probs, ref, atol=ATOL, rtol=0)
    with torch.no_grad():
        torch.testing.assert_close(gpt.log_probs(golden["labels"], tokens, s["temperature"], s["top_k"]), ref,
                                   atol=ATOL, rtol=0)


def test_official_lightning_checkpoint_loads_strictly(case, tmp_path):
    """The released layout: a Lightning file whose ``state_dict`` has ``first_stage_model.*`` and ``transformer.*``
    (with the causal-mask buffers), beside ``global_step``; float16 as stored, float32 after loading."""
    golden, meta, _, _ = case
    state = {k.removeprefix("state."): v for k, v in golden.items() if k.startswith("state.")}
    n, L = meta["config"]["gpt"]["n_layer"], meta["tokens"]
    masks = {f"transformer.blocks.{i}.attn.mask": torch.ones(L, L).tril().view(1, 1, L, L) for i in range(n)}
    torch.save({"state_dict": {**state, **masks}, "global_step": 7, "epoch": 1}, tmp_path / "last.ckpt")
    vq, gpt = load_vqgan_official(tmp_path / "last.ckpt", configs=_configs(meta))
    assert not gpt.training and gpt.head.weight.dtype == torch.float32
    with torch.no_grad():
        torch.testing.assert_close(gpt.logits(golden["labels"], golden["z"]), golden["z_logits"], atol=ATOL, rtol=ATOL)
        torch.testing.assert_close(vq.decode_code(golden["z"]), golden["decoded_from_indices"], atol=ATOL, rtol=ATOL)
