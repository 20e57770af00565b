"""Pretraining the tiny text-to-image LlamaGen: a shortened run writes a loadable text model, resume is exact,
the shipped tiny-t2i follows its prompts."""

import json
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from tests.models.test_pretrain import TINY_RUN, _Interrupt
from vargym.models import LlamaGenTextGenerator, load_generator, training_defaults
from vargym.pretrain.stages import PretrainConfig, run_pretrain

pytest.importorskip("transformers")
RUN = {**TINY_RUN, "decoder_steps": 0, "preset": "tiny-t2i", "var_batch_size": 4, "eval_per_class": 1,
       "eval_cfgs": (3.0,), "classifier_steps": 2, "classifier_batch_size": 4}


@pytest.mark.parametrize("stage", ["vq", "gpt"])
def test_t2i_pretrain_writes_a_loadable_text_model_and_resumes_exactly(tmp_path, stage):
    full = run_pretrain(PretrainConfig(out_dir=str(tmp_path / "full"), **RUN))
    generator = load_generator(full.out_dir)
    assert isinstance(generator, LlamaGenTextGenerator)
    assert generator.text_encoder.spec == str(full.out_dir / "text_encoder")
    assert generator.gold_metric == ("text-fidelity", {"classifier": str(full.out_dir / "attr_gold")})
    assert generator.default_prompts == "procedural"  # what train / eval / sample use when given no prompts
    from vargym.pretrain.text import RL_TRAINING_DEFAULTS

    assert training_defaults(full.out_dir) == RL_TRAINING_DEFAULTS  # what `vargym train` starts from
    assert {"gpt_final_loss", "attr_gold_all", "seen_cfg3_all", "held_out_cfg3_color"} <= set(full.figures)
    card = (full.out_dir / "MODEL_CARD.md").read_text()
    assert "| seen_cfg3_all |" in card and "`attr_gold` (the `text-fidelity` gold metric)" in card
    assert '("training": beta 0.0, steps 36; flags override them)' in card

    def interrupt(s, step, total, metrics):
        if (s, step) == (stage, 2):  # right after the step-2 checkpoint, as a kill would
            raise _Interrupt

    with pytest.raises(_Interrupt):
        run_pretrain(PretrainConfig(out_dir=str(tmp_path / "cut"), **RUN), progress=interrupt)
    seen = []
    cut = run_pretrain(PretrainConfig(out_dir=str(tmp_path / "cut"), resume=True, **RUN),
                       progress=lambda s, step, total, m: seen.append((s, step))).out_dir
    assert (stage, 3) == next(x for x in seen if x[0] == stage)
    for name in ("vq.safetensors", "gpt.safetensors", "text_encoder/model.safetensors"):
        a, b = load_file(str(full.out_dir / name)), load_file(str(cut / name))
        for key in a:
            torch.testing.assert_close(a[key], b[key], rtol=0, atol=0, msg=f"{name} {key}")


def test_two_object_pretraining_writes_a_model_that_trains_on_its_scenes(tmp_path):
    """``objects=2``: the same stages on two-object scenes; the model's prompts, classifiers and reward follow."""
    from transformers import T5Tokenizer

    from vargym.data.attributes import SCENE_NUM_LOGITS
    from vargym.data.classifier import load_classifier
    from vargym.train import TrainConfig, Trainer

    out = run_pretrain(PretrainConfig(out_dir=str(tmp_path / "scenes"), objects=2, **RUN)).out_dir
    generator = load_generator(out)
    assert generator.default_prompts == "procedural-two-objects"
    assert training_defaults(out) == {}  # the recommended RL settings were measured on the one-object world
    assert load_classifier(out / "attr_reward").config.num_classes == SCENE_NUM_LOGITS
    vocab = T5Tokenizer.from_pretrained(str(out / "text_encoder")).get_vocab()
    assert {"▁left", "▁right", "▁above", "▁below"} <= set(vocab)  # the relation words have pieces of their own
    figures = json.loads((out / "model.json").read_text())["figures"]
    assert {"seen_cfg3_relation", "held_out_cfg3_shape2", "attr_gold_relation"} <= set(figures)
    config = TrainConfig(model=str(out), reward="attr", reward_kwargs={"classifier": str(out / "attr_reward")},
                         steps=1, num_labels=2, group_size=2, minibatch_size=4, tokens_per_step=16, device="cpu",
                         out=str(tmp_path / "run"), sample_every=0, tensorboard=False)
    metrics = Trainer(config).step()
    assert {"reward_relation_mean", "reward_shape2_mean", "reward_all_correct_mean"} <= set(metrics)


SHIPPED = Path(__file__).resolve().parents[2] / "vargym" / "assets" / "tiny-t2i"


def test_shipped_tiny_t2i_follows_its_prompts():
    """The shipped model draws what its captions say: measured 0.80 text fidelity at cfg 1.5 on seen compositions
    (gold classifier, 200 prompts x 2, 3 seeds; MODEL_CARD.md), colour and background 0.99; chance is below
    0.001 for the whole caption and 0.125 for a colour, so these bounds catch a broken model with margin."""
    from vargym.data.classifier import load_classifier
    from vargym.data.prompts import procedural_prompts
    from vargym.pretrain.text import RL_TRAINING_DEFAULTS, text_fidelity

    generator = load_generator("tiny-t2i")
    assert isinstance(generator, LlamaGenTextGenerator) and generator.default_prompts == "procedural"
    assert generator.gold_metric == ("text-fidelity", {"classifier": str(SHIPPED / "attr_gold")})
    assert training_defaults("tiny-t2i") == RL_TRAINING_DEFAULTS  # as a fresh pretraining writes them
    gold = load_classifier(SHIPPED / "attr_gold")
    figures = text_fidelity(generator, gold, procedural_prompts(48, 7), (1.5,), 2, seed=0)
    assert figures["cfg1.5_all"] > 0.4, figures
    assert figures["cfg1.5_color"] > 0.7 and figures["cfg1.5_background"] > 0.7 and figures["cfg1.5_shape"] > 0.4


def test_shipped_tiny_t2i_fits_its_size_budget():
    files = [f for f in SHIPPED.rglob("*") if f.is_file()]
    assert {"model.json", "MODEL_CARD.md", "gpt.safetensors", "vq.safetensors"} <= {f.name for f in files}
    assert sum(f.stat().st_size for f in files) < 15 * 2**20
