"""LlamaGen: official manifests, strict loading, the on-policy guarantee, chunked steps and bad input."""

import json

import pytest
import torch

from tests.conftest import shared_path
from vargym.errors import CheckpointError, WeightsNotAvailableError
from vargym.models import (
    ClassCondition,
    LlamaGenGenerator,
    SamplingConfig,
    build_preset,
    load_generator,
    load_pretrained,
)
from vargym.models.llamagen.loading import load_llamagen_checkpoint, load_llamagen_official
from vargym.models.llamagen.presets import TINY_LLAMAGEN, TINY_LLAMAGEN_VQ, build_llamagen
from vargym.models.llamagen.transformer import LlamaGen, LlamaGenConfig


def _manifest(name: str) -> dict[str, list[int]]:
    rows = shared_path("llamagen", "keys", name).read_text().splitlines()
    return {k: json.loads(shape) for k, shape in (row.split("\t") for row in rows if row.strip())}


def _shapes(module: torch.nn.Module) -> dict[str, list[int]]:
    return {k: list(v.shape) for k, v in module.state_dict().items()}


@pytest.mark.parametrize("preset, gpt_file, params", [("llamagen-b", "gpt_b_c2i_256.txt", 110_888_448),
                                                      ("llamagen-l", "gpt_l_c2i_256.txt", 342_910_976)])
def test_presets_match_the_official_manifests(preset, gpt_file, params):
    with torch.device("meta"):
        vq, gpt = build_preset(preset)
    gpt_manifest, vq_manifest = _manifest(gpt_file), _manifest("vq_ds16_c2i.txt")
    assert list(_shapes(gpt)) == list(gpt_manifest) and _shapes(gpt) == gpt_manifest  # order too
    assert _shapes(vq) == vq_manifest
    assert sum(p.numel() for p in gpt.parameters()) == params
    assert sum(p.numel() for p in vq.parameters()) + 65536 == 71_883_403 + 65536  # codebook_used is a buffer


@pytest.mark.parametrize("preset, params", [("llamagen-xl", 774_699_520), ("llamagen-xxl", 1_410_972_672),
                                            ("llamagen-3b", 3_096_659_200)])
def test_large_presets_have_the_official_sizes(preset, params):
    with torch.device("meta"):
        _, gpt = build_preset(preset)
    assert sum(p.numel() for p in gpt.parameters()) == params
    assert gpt.block_size == 576  # 384 px


def _from_manifest(name: str, dtype=torch.float32) -> dict[str, torch.Tensor]:
    gen = torch.Generator().manual_seed(0)
    return {k: (torch.randn(shape, generator=gen) * 0.02).to(dtype) for k, shape in _manifest(name).items()}


def test_official_files_built_from_the_manifests_load_strictly(tmp_path, monkeypatch):
    """c2i_B_256.pt (DDP: under "model", plus a stale RoPE table) and vq_ds16_c2i.pt, in the official layout,
    through the same entry point as the download (local paths instead of the hub)."""
    gpt_state, vq_state = _from_manifest("gpt_b_c2i_256.txt"), _from_manifest("vq_ds16_c2i.txt")
    torch.save({"model": {**gpt_state, "freqs_cis": torch.zeros(257, 32, 2)}}, tmp_path / "c2i_B_256.pt")
    torch.save({"model": vq_state}, tmp_path / "vq_ds16_c2i.pt")
    vq, gpt = load_pretrained("llamagen-b", vq_path=tmp_path / "vq_ds16_c2i.pt", gpt_path=tmp_path / "c2i_B_256.pt")
    assert torch.equal(gpt.layers[3].attention.wqkv.weight, gpt_state["layers.3.attention.wqkv.weight"])
    assert torch.equal(vq.quantize.embedding.weight, vq_state["quantize.embedding.weight"])
    assert gpt.rope.shape == (257, 32, 2) and gpt.rope[0].abs().max() == 0 and gpt.rope[1:].abs().max() > 0
    # an extra or a missing key is refused, naming the file
    torch.save({"model": {**gpt_state, "extra.weight": torch.zeros(1)}}, tmp_path / "bad.pt")
    with pytest.raises(CheckpointError, match="bad.pt.*unexpected"):
        load_llamagen_official(tmp_path / "vq_ds16_c2i.pt", tmp_path / "bad.pt")
    del gpt_state["norm.weight"]
    torch.save(gpt_state, tmp_path / "flat_missing.pt")
    with pytest.raises(CheckpointError, match="missing.*norm.weight"):
        load_llamagen_official(tmp_path / "vq_ds16_c2i.pt", tmp_path / "flat_missing.pt")


def test_offline_download_fails_fast_naming_the_file(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HOME", str(tmp_path))
    with pytest.raises(WeightsNotAvailableError, match=r"vq_ds16_c2i.pt.*FoundationVision/LlamaGen.*--model-file vq_path=PATH"):
        load_generator("llamagen-b")


def _tiny(seed: int = 0, tokens_per_step: int = 1) -> LlamaGenGenerator:
    torch.manual_seed(seed)
    vq, gpt = build_llamagen(TINY_LLAMAGEN_VQ, TINY_LLAMAGEN)
    for p in gpt.parameters():  # the official init zeroes the output layer: give it a distribution to test
        p.data.normal_(0, 0.2) if p.ndim > 1 else None
    return LlamaGenGenerator(vq, gpt.eval(), tokens_per_step=tokens_per_step)


@pytest.mark.parametrize("sampling", [
    SamplingConfig(temperature=1.0),
    SamplingConfig(temperature=0.8, cfg=3.0),
    SamplingConfig(temperature=1.2, cfg=2.0, cfg_interval=5, top_k=50, top_p=0.9),
    SamplingConfig(cfg=2.0, top_k=100, precision="bfloat16"),
    SamplingConfig(temperature=0.9, top_k=50, top_p=0.9, draw="inverse-cdf"),
])
def test_sampler_log_probs_equal_the_one_pass_log_probs(sampling):
    gen = _tiny(tokens_per_step=8)
    cond = ClassCondition(torch.tensor([0, 3, 9, 9]))
    tokens, recorded = gen.sample(cond, sampling, generator=torch.Generator().manual_seed(1), return_log_probs=True)
    assert tokens.shape == (4, 64) and recorded.shape == (4, 64)
    with torch.no_grad():
        one_pass = gen.log_probs(cond, tokens, sampling)
    gap = (one_pass - recorded).abs()
    if sampling.precision == "bfloat16":  # another kernel order, rounded to 8 bits: the trainer's bf16 bound
        assert gap.max() < 1.0 and gap.mean() < 0.1
    else:
        assert gap.max() < 1e-4
    assert recorded.max() <= 0 and torch.isfinite(recorded).all()


def test_guidance_changes_the_distribution_only_when_cfg_above_one():
    gen = _tiny()
    cond = ClassCondition(torch.tensor([1, 2]))
    tokens = gen.sample(cond, SamplingConfig(), generator=torch.Generator().manual_seed(0))
    lp = {c: gen.log_probs(cond, tokens, SamplingConfig(cfg=c)) for c in (0.0, 0.5, 1.0, 3.0)}
    assert torch.equal(lp[0.0], lp[0.5]) and torch.equal(lp[0.0], lp[1.0])  # the official `cfg_scale > 1.0`
    assert (lp[3.0] - lp[1.0]).abs().max() > 1e-3
    # with an interval, tokens after cfg_interval + 2 are scored by the conditional logits alone
    lp_int = gen.log_probs(cond, tokens, SamplingConfig(cfg=3.0, cfg_interval=3))
    torch.testing.assert_close(lp_int[:, :5], lp[3.0][:, :5])
    torch.testing.assert_close(lp_int[:, 5:], lp[1.0][:, 5:])


def test_chunked_steps_and_forced_tokens():
    gen = _tiny(tokens_per_step=10)
    assert gen.layout.tokens_per_step == (10,) * 6 + (4,)
    cond = ClassCondition(torch.tensor([4, 5]))
    s = SamplingConfig(cfg=2.0, top_k=30)
    tokens, lp = gen.sample(cond, s, generator=torch.Generator().manual_seed(3), return_log_probs=True)
    sampler = gen.make_sampler(cond, s)
    forced = [sampler.step(chunk) for chunk in gen.layout.split(tokens)]
    assert sampler.done and sampler.step_count == 7
    assert torch.equal(torch.cat([t for t, _ in forced], 1), tokens)
    torch.testing.assert_close(torch.cat([p for _, p in forced], 1), lp)
    with pytest.raises(ValueError, match="tokens_per_step must be an int in \\[1, 64\\]"):
        gen.set_tokens_per_step(0)


def test_seeded_generator_reproduces_and_guidance_keeps_rows_independent():
    gen = _tiny()
    s = SamplingConfig(cfg=3.0, cfg_interval=2)
    a = gen.sample(ClassCondition(torch.tensor([1, 2, 3])), s, generator=torch.Generator().manual_seed(5))
    b = gen.sample(ClassCondition(torch.tensor([1, 2, 3])), s, generator=torch.Generator().manual_seed(5))
    assert torch.equal(a, b)


def test_bad_input_gets_specific_errors(tmp_path):
    gen = _tiny()
    gpt = gen.gpt
    with pytest.raises(ValueError, match="unknown preset 'llamagen-q'.*llamagen-b"):
        build_preset("llamagen-q")
    with pytest.raises(ValueError, match=r"labels must lie in \[0, 11\)"):  # 10 is the null class
        gpt.sample(torch.tensor([11]))
    with pytest.raises(ValueError, match=r"tokens must lie in \[0, 512\)"):
        gpt.log_probs(torch.tensor([0]), torch.full((1, 64), 512))
    with pytest.raises(ValueError, match=r"tokens must lie in \[0, 512\)"):
        gen.decode(torch.full((1, 64), 600))
    with pytest.raises(ValueError, match="tokens must be an integer tensor"):
        gpt.logits(torch.tensor([0]), torch.zeros(1, 63, dtype=torch.long))
    with pytest.raises(ValueError, match="cfg_interval must be"):
        SamplingConfig(cfg_interval=-2)
    with pytest.raises(ValueError, match="n_kv_head=5 must divide n_head=4"):
        LlamaGenConfig(dim=64, n_head=4, n_kv_head=5)
    # a checkpoint of the wrong family
    gen.save(tmp_path / "lg")
    from vargym.models import load_checkpoint

    with pytest.raises(CheckpointError, match="'llamagen' model, not a VAR one"):
        load_checkpoint(tmp_path / "lg")
    load_generator("random:tiny").save(tmp_path / "var")
    with pytest.raises(CheckpointError, match="'var' model, not a LlamaGen one"):
        load_llamagen_checkpoint(tmp_path / "var")


def test_save_load_roundtrip_and_lora(tmp_path):
    gen = _tiny()
    cond = ClassCondition(torch.tensor([0, 1]))
    s = SamplingConfig(cfg=2.0)
    tokens = gen.sample(cond, s, generator=torch.Generator().manual_seed(0))
    gen.save(tmp_path / "m")
    loaded = load_generator(tmp_path / "m", tokens_per_step=4)
    assert isinstance(loaded, LlamaGenGenerator) and loaded.layout.num_steps == 16
    torch.testing.assert_close(loaded.log_probs(cond, tokens, s), gen.log_probs(cond, tokens, s))
    from vargym.models import LoRAConfig

    names = gen.apply_lora(LoRAConfig(rank=4))
    assert any(n.endswith("attention.wqkv") for n in names) and any(n.endswith("feed_forward.w2") for n in names)
    with gen.base_policy():
        base = gen.log_probs(cond, tokens, s)
    torch.testing.assert_close(gen.log_probs(cond, tokens, s), base)  # B = 0 at start


def test_meta_build_and_gqa():
    with torch.device("meta"):
        vq, gpt = build_preset("llamagen-3b")
    assert gpt.cfg.head_dim == 100 and gpt.rope.is_meta
    cfg = LlamaGenConfig(dim=64, n_layer=2, n_head=4, n_kv_head=2, num_classes=3, vocab_size=16, block_size=16)
    gpt = LlamaGen(cfg).eval()  # train mode drops labels and tokens, as the official model does
    assert gpt.layers[0].attention.wqkv.weight.shape == ((4 + 2 * 2) * 16, 64)
    for p in gpt.parameters():
        p.data.normal_(0, 0.3)
    tokens, lp = gpt.sample(torch.tensor([0, 2]), cfg=2.0, return_log_probs=True,
                            generator=torch.Generator().manual_seed(0))
    torch.testing.assert_close(gpt.log_probs(torch.tensor([0, 2]), tokens, cfg=2.0), lp, atol=1e-4, rtol=1e-4)
