"""Parity of the text-conditional LlamaGen GPT (``model_type="t2i"``) with the official code on the golden
vectors in ../shared/llamagen/t2i/golden (see its README: T = 120 caption slots, left-padded masks)."""

import pytest
import torch

from tests.conftest import shared_path
from vargym.models import llamagen_from_official_kwargs
from vargym.models.files import load_state_strict
from vargym.models.llamagen.transformer import caption_attention_mask, filter_logits_llamagen

ATOL = 1e-4


@pytest.fixture(scope="module")
def golden():
    return torch.load(shared_path("llamagen", "t2i", "golden", "llamagen_t2i_tiny_a.pt"), weights_only=True)


@pytest.fixture(scope="module")
def models(golden):
    vq, gpt = llamagen_from_official_kwargs(golden["vq_config"], golden["vq_structure"], golden["gpt_config"])
    load_state_strict(vq, golden["vq_state_dict"], "golden vq")  # float16 values cast into float32 modules
    load_state_strict(gpt, golden["gpt_state_dict"], "golden gpt")
    return vq.eval(), gpt.eval()


def test_structure_the_null_caption_and_the_rope_table(golden, models):
    _, gpt = models
    d = golden["derived"]
    assert gpt.prefix == d["T"] == 120 and gpt.block_size == d["L"] and gpt.cfg.head_dim == d["head_dim"]
    emb = gpt.cls_embedding
    assert tuple(emb.uncond_embedding.shape) == tuple(d["uncond_embedding_shape"])
    assert "cls_embedding.uncond_embedding" in gpt.state_dict()  # a buffer: saved, never trained
    assert not any(n.endswith("uncond_embedding") for n, _ in gpt.named_parameters())
    assert list(gpt.state_dict())[:3] == ["cls_embedding.uncond_embedding", "cls_embedding.cap_proj.fc1.weight",
                                          "cls_embedding.cap_proj.fc2.weight"]
    assert torch.equal(gpt.rope, d["rope_freqs_cis"])  # the T caption rows are all zeros
    assert "rope" not in gpt.state_dict()


def test_attention_mask_recipe(golden):
    inputs = golden["inputs"]
    S = inputs["tf_attn_mask"].shape[-1]
    assert torch.equal(caption_attention_mask(inputs["tf_emb_masks"], S), inputs["tf_attn_mask"])


def test_teacher_forcing_and_loss(golden, models):
    _, gpt = models
    inputs, tf = golden["inputs"], golden["teacher_forcing"]
    with torch.no_grad():
        logits = gpt.logits(inputs["tf_captions"], inputs["tf_tokens"], caption_mask=inputs["tf_emb_masks"])
    torch.testing.assert_close(logits, tf["logits"], atol=ATOL, rtol=ATOL)
    ce = torch.nn.functional.cross_entropy(logits.flatten(0, 1), inputs["tf_tokens"].flatten(), reduction="none")
    torch.testing.assert_close(ce.mean(), tf["loss"], atol=ATOL, rtol=ATOL)
    flags = inputs["tf_valid"].repeat_interleave(gpt.block_size).float()
    torch.testing.assert_close((ce * flags).sum() / flags.sum().clamp_min(1), tf["loss_valid"], atol=ATOL, rtol=ATOL)


def test_padded_caption_slots_are_invisible(golden, models):
    _, gpt = models
    inputs = golden["inputs"]
    captions, mask = inputs["tf_captions"].clone(), inputs["tf_emb_masks"]
    junk = captions.masked_fill(mask.bool().unsqueeze(-1), 0) + 50 * torch.randn_like(captions) * (1 - mask[..., None])
    with torch.no_grad():
        a = gpt.logits(captions, inputs["tf_tokens"], caption_mask=mask)
        b = gpt.logits(captions * mask[..., None] + junk, inputs["tf_tokens"], caption_mask=mask)
    assert torch.equal(a, b)


def _kw(s):
    return dict(cfg=s["cfg_scale"], cfg_interval=s["cfg_interval"], top_k=s["top_k"], top_p=s["top_p"],
                temperature=s["temperature"])


def _mask(golden, s):
    return golden["inputs"]["sample_emb_masks"] if s["emb_masks_given"] else None


def _check_guided_logits(golden, gpt, s):
    """Teacher-forced on the stored tokens: the cond/null raw logits and the guided logits of every step."""
    captions, mask = golden["inputs"]["sample_captions"], _mask(golden, s)
    B = captions.shape[0]
    with torch.no_grad():
        if s["cfg_scale"] > 1:
            null = gpt.cls_embedding.null(B)
            both = None if mask is None else torch.cat([mask, mask])
            raw = gpt.logits(torch.cat([captions, null]), s["tokens"].repeat(2, 1), caption_mask=both)
            torch.testing.assert_close(raw, s["raw_logits"], atol=ATOL, rtol=ATOL)
            cond, uncond = raw[:B], raw[B:]
            n = gpt.block_size if s["cfg_interval"] < 0 else s["cfg_interval"] + 2
            guided = torch.cat([uncond[:, :n] + (cond[:, :n] - uncond[:, :n]) * s["cfg_scale"], cond[:, n:]], dim=1)
        else:
            guided = gpt.logits(captions, s["tokens"], caption_mask=mask)
    torch.testing.assert_close(guided, s["guided_logits"], atol=ATOL * max(1.0, s["cfg_scale"]), rtol=ATOL)


def _uint8(img_pm1: torch.Tensor) -> torch.Tensor:
    return (127.5 * img_pm1 + 128).clamp(0, 255).to(torch.uint8).permute(0, 2, 3, 1)


@pytest.mark.parametrize("i", [0, 1, 2, 3])
def test_greedy_sampling(golden, models, i):
    """cfg 1 with masks, cfg 7.5, cfg 7.5 with cfg_interval 5, cfg 4 without masks: the official tokens."""
    vq, gpt = models
    s = golden["sample_greedy"][i]
    tokens = gpt.sample(golden["inputs"]["sample_captions"], caption_mask=_mask(golden, s), **_kw(s))
    assert tokens.dtype == torch.int64 and torch.equal(tokens, s["tokens"])
    _check_guided_logits(golden, gpt, s)
    with torch.no_grad():
        img = vq.decode_code(tokens)
    torch.testing.assert_close(img, s["img"], atol=ATOL, rtol=ATOL)
    assert (_uint8(img).int() - s["img_uint8"].int()).abs().max() <= 1


def test_seeded_sampling_is_rng_exact(golden, models):
    """The official global-RNG multinomial calls on the same probabilities: its tokens, draw for draw; the
    recorded log-probs are those of the official filtered distribution, and the teacher-forced pass agrees."""
    _, gpt = models
    s = golden["sample_seeded"]
    captions, mask = golden["inputs"]["sample_captions"], _mask(golden, s)
    torch.manual_seed(s["torch_manual_seed"])
    tokens, log_probs = gpt.sample(captions, caption_mask=mask, return_log_probs=True, **_kw(s))
    assert torch.equal(tokens, s["tokens"])
    _check_guided_logits(golden, gpt, s)
    ref = filter_logits_llamagen(s["guided_logits"] / s["temperature"], s["top_k"], s["top_p"]).log_softmax(-1)
    ref = ref.gather(-1, s["tokens"].unsqueeze(-1)).squeeze(-1)
    torch.testing.assert_close(log_probs, ref, atol=1e-3, rtol=0)
    with torch.no_grad():
        recomputed = gpt.log_probs(captions, s["tokens"], caption_mask=mask, **_kw(s))
    torch.testing.assert_close(recomputed, ref, atol=1e-3, rtol=0)


def test_bad_caption_input_is_named(models):
    _, gpt = models
    with pytest.raises(ValueError, match=r"captions must be float caption features \[B, T=120, Cd=32\]"):
        gpt.logits(torch.zeros(2, 77, 32), torch.zeros(2, 16, dtype=torch.long))
    with pytest.raises(ValueError, match=r"caption_mask must be \[B=2, T=120\]"):
        gpt.logits(torch.zeros(2, 120, 32), torch.zeros(2, 16, dtype=torch.long), caption_mask=torch.ones(2, 77))
    with pytest.raises(ValueError, match="caption_mask applies to a text-conditional"):
        from vargym.models import build_preset

        build_preset("tiny-llamagen")[1].logits(torch.tensor([0]), torch.zeros(1, 64, dtype=torch.long),
                                                caption_mask=torch.ones(1, 1))


def _manifest(name: str) -> dict[str, list[int]]:
    import json

    rows = shared_path("llamagen", "keys", name).read_text().splitlines()
    return {k: json.loads(shape) for k, shape in (row.split("\t") for row in rows if row.strip())}


@pytest.mark.parametrize("preset, block_size", [("llamagen-t2i-xl", 256), ("llamagen-t2i-xl-512", 1024)])
def test_t2i_presets_match_the_official_manifest(preset, block_size):
    from vargym.models import build_preset

    with torch.device("meta"):
        vq, gpt = build_preset(preset)
    shapes = {k: list(v.shape) for k, v in gpt.state_dict().items()}
    manifest = _manifest("gpt_xl_t2i.txt")
    assert list(shapes) == list(manifest) and shapes == manifest  # order too: the null caption first
    assert {k: list(v.shape) for k, v in vq.state_dict().items()} == _manifest("vq_ds16_c2i.txt")
    assert sum(p.numel() for p in gpt.parameters()) == 777_678_080
    assert gpt.cls_embedding.uncond_embedding.numel() == 245_760 and gpt.block_size == block_size
    assert gpt.rope.shape[0] == 120 + block_size


def test_official_training_checkpoints_load_strictly(golden, tmp_path):
    """The official training script saves {"model", "optimizer", "steps", "args"}: the weights entry is read
    (weights_only, the argparse options let through), strictly; a file without the null caption is refused."""
    import argparse

    from vargym.errors import CheckpointError
    from vargym.models.llamagen.loading import load_llamagen_official

    ref_vq, ref_gpt = llamagen_from_official_kwargs(golden["vq_config"], golden["vq_structure"], golden["gpt_config"])
    configs = (ref_vq.cfg, ref_gpt.cfg)
    torch.save({"model": golden["vq_state_dict"]}, tmp_path / "vq.pt")
    optimizer = {"state": {0: {"exp_avg": torch.zeros(3), "step": torch.tensor(5.0)}}, "param_groups": [{"lr": 1e-4}]}
    torch.save({"model": golden["gpt_state_dict"], "optimizer": optimizer, "steps": 5,
                "args": argparse.Namespace(image_size=64, cls_token_num=120)}, tmp_path / "gpt.pt")
    vq, gpt = load_llamagen_official(tmp_path / "vq.pt", tmp_path / "gpt.pt", configs=configs)
    inputs = golden["inputs"]
    logits = gpt.logits(inputs["tf_captions"], inputs["tf_tokens"], caption_mask=inputs["tf_emb_masks"])
    torch.testing.assert_close(logits, golden["teacher_forcing"]["logits"], atol=ATOL, rtol=ATOL)
    torch.save({k: v for k, v in golden["gpt_state_dict"].items() if "uncond" not in k}, tmp_path / "bad.pt")
    with pytest.raises(CheckpointError, match="missing .*cls_embedding.uncond_embedding"):
        load_llamagen_official(tmp_path / "vq.pt", tmp_path / "bad.pt", configs=configs)


def test_the_t2i_release_is_named_and_fails_offline_at_once(tmp_path, monkeypatch):
    from vargym.errors import WeightsNotAvailableError
    from vargym.models import load_generator, released_weight_files

    assert ("peizesun/llamagen_t2i", "t2i_XL_stage1_256.pt", "main") in released_weight_files()
    assert ("peizesun/llamagen_t2i", "vq_ds16_t2i.pt", "main") in released_weight_files()
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HOME", str(tmp_path))
    from vargym.models import load_pretrained

    with pytest.raises(WeightsNotAvailableError, match=r"vq_ds16_t2i.pt.*peizesun/llamagen_t2i.*--model-file vq_path=PATH"):
        load_pretrained("llamagen-t2i-xl")
    import huggingface_hub.constants

    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)
    for spec in ("llamagen-t2i-xl", "random:llamagen-t2i-xl-512"):  # the text encoder first: before any GPT is read
        with pytest.raises(WeightsNotAvailableError, match="T5 text encoder google/flan-t5-xl.*--text-features"):
            load_generator(spec)


def test_lora_leaves_the_caption_path_alone(golden):
    """LoRA adapts the blocks' projections only: the null caption stays a frozen buffer, the caption MLP
    is not adapted, and the adapters start as the identity."""
    from vargym.models.lora import LoRAConfig, apply_lora, lora_state_dict
    from vargym.models.registry import get_family

    _, gpt = llamagen_from_official_kwargs(golden["vq_config"], golden["vq_structure"], golden["gpt_config"])
    load_state_strict(gpt, golden["gpt_state_dict"], "golden gpt")
    gpt.eval()
    inputs = golden["inputs"]
    before = gpt.logits(inputs["tf_captions"], inputs["tf_tokens"], caption_mask=inputs["tf_emb_masks"])
    names = apply_lora(gpt, LoRAConfig(rank=2, targets=get_family("llamagen").lora_targets))
    assert names and not any("cls_embedding" in n for n in names)
    assert not any("cls_embedding" in k for k in lora_state_dict(gpt))
    assert not any(n.endswith("uncond_embedding") for n, _ in gpt.named_parameters())
    after = gpt.logits(inputs["tf_captions"], inputs["tf_tokens"], caption_mask=inputs["tf_emb_masks"])
    assert torch.equal(before, after)


def test_the_caption_window_is_trimmed_to_the_longest_prompt_exactly(golden, models):
    """Short prompts (23 and 1 valid slots): the window drops the 97 slots no row uses; logits, guided log-probs
    and greedy samples equal the full 120-slot window's (null rows take the table's last slots)."""
    _, gpt = models
    inputs = golden["inputs"]
    captions, mask = inputs["sample_captions"][1:], inputs["sample_emb_masks"][1:]  # [2, 120, Cd], lengths 23, 1
    tokens = golden["sample_greedy"][1]["tokens"][1:]
    kw = dict(cfg=7.5, top_k=20, temperature=0.9)
    sampler = gpt.make_sampler(captions, caption_mask=mask, cfg=7.5, top_k=1)
    assert sampler.skip == 97 and sampler.caches[0].k.shape[2] == 23 + gpt.block_size - 1
    with torch.no_grad():
        trimmed = (gpt.logits(captions, tokens, caption_mask=mask),
                   gpt.log_probs(captions, tokens, caption_mask=mask, **kw))
        greedy = gpt.sample(captions, caption_mask=mask, cfg=7.5, top_k=1)
        gpt.trim_caption_window = False
        try:
            full = (gpt.logits(captions, tokens, caption_mask=mask),
                    gpt.log_probs(captions, tokens, caption_mask=mask, **kw))
            assert gpt.make_sampler(captions, caption_mask=mask, cfg=7.5, top_k=1).skip == 0
            assert torch.equal(greedy, gpt.sample(captions, caption_mask=mask, cfg=7.5, top_k=1))
        finally:
            gpt.trim_caption_window = True
    torch.testing.assert_close(trimmed[0], full[0], atol=1e-5, rtol=0)  # raw logits
    torch.testing.assert_close(trimmed[1], full[1], atol=1e-4, rtol=0)  # after guidance x7.5 and temperature
