"""The trainer drives a LlamaGen exactly as it drives VAR: every algorithm, chunked steps, LoRA, resume."""

import pytest
import torch

from tests.train.test_resume import VOLATILE  # noqa: E402  (timings)
from vargym.metrics_log import read_metrics
from vargym.models import build_preset
from vargym.train.config import TrainConfig
from vargym.train.trainer import Trainer


def _config(out, sampling=None, **kw) -> TrainConfig:
    base = dict(model="random:tiny-llamagen", tokens_per_step=16, reward="luma", num_labels=2, group_size=2,
                minibatch_size=2, steps=1, sample_every=0, checkpoint_every=0, tensorboard=False, out=str(out),
                sampling={"precision": "float32", "decode_precision": "float32", "temperature": 1.0, **(sampling or {})})
    base.update(kw)
    return TrainConfig(**base)


@pytest.mark.parametrize("algo, extra", [("grpo", {"sampling": {"cfg": 2.0}}), ("ppo", {"epochs": 2}),
                                         ("reinforce", {"algo_kwargs": {"baseline": "ema"}}),
                                         ("grpo", {"lora_rank": 4})])
def test_each_algorithm_updates_a_llamagen(tmp_path, algo, extra):
    torch.manual_seed(0)
    vq, gpt = build_preset("tiny-llamagen")
    torch.nn.init.normal_(gpt.output.weight, std=0.05)  # the official zero init passes no gradient to LoRA
    trainer = Trainer(_config(tmp_path, algo=algo, **extra), model=(vq, gpt))
    assert trainer.layout.num_steps == 4
    before = [p.detach().clone() for p in trainer.generator.trainable_parameters()]
    history = trainer.train()
    record = history[-1]
    assert all(torch.isfinite(torch.tensor(v)) for k, v in record.items() if isinstance(v, float) and "loss" in k)
    after = list(trainer.generator.trainable_parameters())
    assert any(not torch.equal(a, b) for a, b in zip(before, after))


def test_resume_reproduces_an_uninterrupted_llamagen_run(tmp_path):
    straight = Trainer(_config(tmp_path / "a", steps=2, seed=3))
    straight.train()
    first = Trainer(_config(tmp_path / "b", steps=2, seed=3, checkpoint_every=1))
    first.train(num_iterations=1)
    resumed = Trainer.from_checkpoint(tmp_path / "b")
    assert resumed.generator.family == "llamagen" and resumed.layout.num_steps == 4
    resumed.train()
    a, b = read_metrics(tmp_path / "a"), read_metrics(tmp_path / "b")
    for ra, rb in zip(a, b, strict=True):
        for key in ra.keys() - VOLATILE:
            if isinstance(ra[key], float):
                assert rb[key] == pytest.approx(ra[key], abs=1e-6, rel=1e-6), key
    for pa, pb in zip(straight.policy.parameters(), resumed.policy.parameters(), strict=True):
        torch.testing.assert_close(pa, pb, rtol=0, atol=1e-6)


def test_tokens_per_step_is_refused_by_var_with_a_clear_error(tmp_path):
    with pytest.raises(ValueError, match="fixed steps.*raster"):
        Trainer(_config(tmp_path, model="random:tiny", tokens_per_step=4))
    with pytest.raises(ValueError, match="tokens_per_step must be None or an int >= 1"):
        _config(tmp_path, tokens_per_step=0)
