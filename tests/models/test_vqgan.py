"""The taming-transformers family: configs, the generator, official-format files and their errors."""

import time

import pytest
import torch
import yaml

from vargym.errors import CheckpointError, WeightsNotAvailableError
from vargym.models import ClassCondition, SamplingConfig, load_generator
from vargym.models.vqgan import VQGAN, MinGPT, MinGPTConfig, VQGANConfig, build_vqgan, load_vqgan_official
from vargym.models.vqgan.presets import VQGAN_PRESETS

TINY_VQ = VQGANConfig(n_embed=48, embed_dim=4, z_channels=16, resolution=16, ch=16, ch_mult=(1, 2),
                      num_res_blocks=1, attn_resolutions=(8,), norm_groups=8)
TINY_GPT = MinGPTConfig(vocab_size=48, block_size=64, n_layer=2, n_head=2, n_embd=32, num_classes=5)


def _redrawn(seed: int = 0) -> tuple[VQGAN, MinGPT]:
    """A tiny model with every weight drawn (the official init's zero positions would hide indexing bugs)."""
    torch.manual_seed(seed)
    vq, gpt = build_vqgan(TINY_VQ, TINY_GPT)
    with torch.no_grad():
        for p in gpt.parameters():
            p.normal_(0, 0.3)
    return vq.eval(), gpt.eval()


def _official_state(vq: VQGAN, gpt: MinGPT) -> dict[str, torch.Tensor]:
    L = gpt.block_size
    state = {f"first_stage_model.{k}": v.half() for k, v in vq.state_dict().items()}
    state |= {f"transformer.{k}": v.half() for k, v in gpt.state_dict().items()}
    state |= {f"transformer.blocks.{i}.attn.mask": torch.ones(L, L).tril().view(1, 1, L, L)
              for i in range(len(gpt.blocks))}
    return state


def test_presets_match_the_released_shapes():
    """The cIN manifest's shapes and the parameter counts of the reference notes (meta device: no memory)."""
    with torch.device("meta"):
        vq, gpt = build_vqgan(*VQGAN_PRESETS["vqgan-cin"])
    assert sum(p.numel() for p in gpt.parameters()) == 1_410_640_896
    assert sum(p.numel() for p in vq.parameters()) == 76_073_859
    keys = vq.state_dict()
    assert tuple(keys["quantize.embedding.weight"].shape) == (16384, 256)
    assert "encoder.down.4.attn.1.q.weight" in keys and "encoder.down.3.attn.0.q.weight" not in keys
    assert "decoder.up.4.attn.2.proj_out.weight" in keys and "encoder.down.2.block.0.nin_shortcut.weight" in keys
    assert tuple(gpt.state_dict()["pos_emb"].shape) == (1, 256, 1536) and gpt.head.bias is None


@pytest.mark.parametrize("kwargs, match", [
    ({"ch_mult": ()}, "ch_mult"), ({"ch": 12}, "divisible by norm_groups"), ({"double_z": True}, "double_z"),
    ({"resolution": 9}, "resolution=9"), ({"n_embed": 0}, "n_embed"),
])
def test_vqgan_config_errors(kwargs, match):
    with pytest.raises(ValueError, match=match):
        VQGANConfig(**{**TINY_VQ.__dict__, **kwargs})


@pytest.mark.parametrize("kwargs, match", [
    ({"n_head": 3}, "divisible by n_head"), ({"num_classes": 49}, "num_classes=49"),
    ({"block_size": 60}, "square"), ({"n_unmasked": 2}, "n_unmasked"),
])
def test_gpt_config_errors(kwargs, match):
    with pytest.raises(ValueError, match=match):
        MinGPTConfig(**{**TINY_GPT.__dict__, **kwargs})


def test_parts_must_fit():
    with pytest.raises(ValueError, match="vocab_size"):
        build_vqgan(TINY_VQ, MinGPTConfig(**{**TINY_GPT.__dict__, "vocab_size": 64}))
    with pytest.raises(ValueError, match="block_size"):
        build_vqgan(TINY_VQ, MinGPTConfig(**{**TINY_GPT.__dict__, "block_size": 16}))


def test_position_and_class_token_matter():
    """The class is the label's own token row at position 0; a model whose every weight is drawn gives other
    logits for another class and for shifted positions."""
    _, gpt = _redrawn()
    tokens = torch.randint(3, 48, (1, 64))  # no image token shares a row with the two classes
    with torch.no_grad():
        a, b = gpt.logits(torch.tensor([1]), tokens), gpt.logits(torch.tensor([2]), tokens)
        assert (a - b).abs().max() > 1e-3
        gpt.tok_emb.weight[1] = gpt.tok_emb.weight[2]  # class 1 and 2 now share their embedding
        torch.testing.assert_close(gpt.logits(torch.tensor([1]), tokens), b)
    with pytest.raises(ValueError, match="labels must lie in"):
        gpt.logits(torch.tensor([5]), tokens)  # no null class


def test_the_generator_refuses_guidance_and_samples_chunks():
    vq, gpt = _redrawn()
    from vargym.models.vqgan import VQGANGenerator

    gen = VQGANGenerator(vq, gpt, tokens_per_step=10)
    assert gen.layout.tokens_per_step == (10,) * 6 + (4,) and not gen.supports_guidance
    condition = ClassCondition(torch.tensor([0, 3]))
    with pytest.raises(ValueError, match="no unconditional branch"):
        gen.sample(condition, SamplingConfig(cfg=1.5))
    sampling = SamplingConfig(temperature=0.9, top_k=10, top_p=0.9)
    tokens, log_probs = gen.sample(condition, sampling, torch.Generator().manual_seed(0), return_log_probs=True)
    sampler = gen.make_sampler(condition, sampling, torch.Generator().manual_seed(0))
    chunks = [sampler.step()[0] for _ in range(7)]
    assert [c.shape[1] for c in chunks] == list(gen.layout.tokens_per_step) and sampler.done
    assert torch.equal(torch.cat(chunks, 1), tokens)
    torch.testing.assert_close(gen.log_probs(condition, tokens, sampling), log_probs, atol=1e-4, rtol=0)
    assert gen.decode(tokens).shape == (2, 3, 16, 16)


def test_bf16_sampling_records_the_policys_log_probs():
    vq, gpt = _redrawn()
    from vargym.models.vqgan import VQGANGenerator

    gen = VQGANGenerator(vq, gpt)
    sampling = SamplingConfig(top_k=20, precision="bfloat16")
    condition = ClassCondition(torch.tensor([1, 2, 4]))
    tokens, log_probs = gen.sample(condition, sampling, torch.Generator().manual_seed(1), return_log_probs=True)
    assert torch.isfinite(log_probs).all()
    torch.testing.assert_close(gen.log_probs(condition, tokens, sampling), log_probs, atol=0.1, rtol=0)


def test_lightning_checkpoint_with_project_yaml(tmp_path):
    """The released folder's two files: ``checkpoints/last.ckpt`` and the project.yaml its architecture comes
    from; standalone-VQGAN ``loss.*`` keys are ignored."""
    vq, gpt = _redrawn(1)
    state = _official_state(vq, gpt) | {"first_stage_model.loss.discriminator.main.0.weight": torch.zeros(2)}
    torch.save({"state_dict": state, "global_step": 3, "epoch": 0}, tmp_path / "last.ckpt")
    dd = {"double_z": False, "z_channels": 16, "resolution": 16, "in_channels": 3, "out_ch": 3, "ch": 16,
          "ch_mult": [1, 2], "num_res_blocks": 1, "attn_resolutions": [8], "dropout": 0.0, "norm_groups": 8}
    project = {"model": {"base_learning_rate": 4.5e-06, "target": "taming.models.cond_transformer.Net2NetTransformer",
                         "params": {"first_stage_key": "image", "cond_stage_key": "class_label",
                                    "transformer_config": {"target": "taming.modules.transformer.mingpt.GPT",
                                                           "params": {"vocab_size": 48, "block_size": 64,
                                                                      "n_layer": 2, "n_head": 2, "n_embd": 32}},
                                    "first_stage_config": {"target": "taming.models.vqgan.VQModel",
                                                           "params": {"embed_dim": 4, "n_embed": 48, "ddconfig": dd,
                                                                      "lossconfig": {"target": "taming.modules."
                                                                                     "losses.DummyLoss"}}},
                                    "cond_stage_config": {"target": "taming.modules.util.Labelator",
                                                          "params": {"n_classes": 5}}}}}
    (tmp_path / "project.yaml").write_text(yaml.safe_dump(project))
    gen = load_generator("vqgan-cin", ckpt_path=str(tmp_path / "last.ckpt"), config_path=str(tmp_path / "project.yaml"))
    assert gen.family == "vqgan" and gen.num_classes == 5 and gen.gpt.cfg == TINY_GPT
    tokens = torch.randint(48, (2, 64))
    with torch.no_grad():
        torch.testing.assert_close(gen.gpt.logits(torch.tensor([0, 4]), tokens),
                                   gpt.half().float().logits(torch.tensor([0, 4]), tokens), atol=1e-4, rtol=1e-4)


class _Opaque:  # a pickled object that weights_only refuses, as Lightning files may hold
    pass


def test_bad_official_files_fail_clearly(tmp_path):
    vq, gpt = _redrawn()
    state = _official_state(vq, gpt)
    configs = (TINY_VQ, TINY_GPT)
    cases = {
        "extra-prefix": ({"state_dict": {**state, "cond_stage_model.x": torch.zeros(1)}}, "outside first_stage_model"),
        "missing": ({"state_dict": {k: v for k, v in state.items() if not k.endswith("ln_f.bias")}}, "missing"),
        "not-causal": ({"state_dict": {**state, "transformer.blocks.0.attn.mask": torch.ones(1, 1, 64, 64)}},
                       "not a causal mask"),
        "vq-only": ({"state_dict": {k: v for k, v in state.items() if k.startswith("first")}}, "no transformer"),
        "pickled": ({"state_dict": state, "hparams": _Opaque()}, "safetensors"),
    }
    for name, (payload, match) in cases.items():
        torch.save(payload, tmp_path / f"{name}.ckpt")
        with pytest.raises(CheckpointError, match=match):
            load_vqgan_official(tmp_path / f"{name}.ckpt", configs=configs)
    with pytest.raises(WeightsNotAvailableError, match="does not exist"):
        load_vqgan_official(tmp_path / "absent.ckpt", configs=configs)


def test_the_release_without_files_says_where_they_come_from():
    start = time.monotonic()
    with pytest.raises(WeightsNotAvailableError, match=r"k00\.fr.*ckpt_path"):
        load_generator("vqgan-cin")
    assert time.monotonic() - start < 30  # no download attempt: the files are not on the hub
    with pytest.raises(ValueError, match="takes the weight files"):
        load_generator("vqgan-cin", gpt_path="x.pt")
