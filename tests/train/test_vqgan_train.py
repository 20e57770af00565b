"""The trainer drives the taming-transformers family as it drives the others: every algorithm, chunked steps,
LoRA, resume, LOO-FID without guidance (seed 002's setting), and the CLI end to end."""

import json

import pytest
import torch
from typer.testing import CliRunner

from tests.train.test_resume import VOLATILE  # (timings)
from vargym.cli.main import app
from vargym.metrics_log import read_metrics
from vargym.train.config import TrainConfig
from vargym.train.trainer import Trainer


def _config(out, **kw) -> TrainConfig:
    base = dict(model="random:tiny-vqgan", tokens_per_step=16, reward="luma", num_labels=2, group_size=2,
                minibatch_size=2, steps=1, sample_every=0, checkpoint_every=0, tensorboard=False, out=str(out),
                sampling={"precision": "float32", "decode_precision": "float32", "temperature": 1.0, "top_k": 50})
    base.update(kw)
    return TrainConfig(**base)


@pytest.mark.parametrize("algo, extra", [("grpo", {}), ("ppo", {"epochs": 2}),
                                         ("reinforce", {"algo_kwargs": {"baseline": "ema"}}),
                                         ("grpo", {"lora_rank": 4}),
                                         ("grpo", {"reward": "loo-fid", "num_labels": 2, "group_size": 4})])
def test_each_algorithm_updates_the_vqgan_transformer(tmp_path, algo, extra):
    torch.manual_seed(0)
    trainer = Trainer(_config(tmp_path, algo=algo, **extra))
    assert trainer.generator.family == "vqgan" and trainer.layout.num_steps == 4
    before = [p.detach().clone() for p in trainer.generator.trainable_parameters()]
    record = trainer.train()[-1]
    assert all(torch.isfinite(torch.tensor(v)) for k, v in record.items() if isinstance(v, float) and "loss" in k)
    after = list(trainer.generator.trainable_parameters())
    assert any(not torch.equal(a, b) for a, b in zip(before, after))


def test_resume_reproduces_an_uninterrupted_vqgan_run(tmp_path):
    straight = Trainer(_config(tmp_path / "a", steps=2, seed=3))
    straight.train()
    first = Trainer(_config(tmp_path / "b", steps=2, seed=3, checkpoint_every=1))
    first.train(num_iterations=1)
    resumed = Trainer.from_checkpoint(tmp_path / "b")
    assert resumed.generator.family == "vqgan"
    resumed.train()
    for ra, rb in zip(read_metrics(tmp_path / "a"), read_metrics(tmp_path / "b"), strict=True):
        for key in ra.keys() - VOLATILE:
            if isinstance(ra[key], float):
                assert rb[key] == pytest.approx(ra[key], abs=1e-6, rel=1e-6), key
    for pa, pb in zip(straight.policy.parameters(), resumed.policy.parameters(), strict=True):
        torch.testing.assert_close(pa, pb, rtol=0, atol=1e-6)


def test_guidance_is_refused_at_the_boundary(tmp_path):
    with pytest.raises(ValueError, match="no unconditional branch"):
        Trainer(_config(tmp_path, sampling={"cfg": 2.0})).train()


def test_cli_grpo_run_then_sample_and_eval(tmp_path):
    runner = CliRunner()
    out = tmp_path / "run"
    args = ["train", "--model", "random:tiny-vqgan", "--algo", "grpo", "--reward", "luma", "--tokens-per-step", "16",
            "--steps", "2", "--num-labels", "2", "--group-size", "2", "--minibatch-size", "4", "--top-k", "100",
            "--device", "cpu", "--precision", "bfloat16", "--no-tensorboard", "--quiet", "--out", str(out),
            "--checkpoint-every", "2", "--sample-every", "2"]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    metrics = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert len(metrics) == 2 and all(m["reward_mean"] is not None for m in metrics)
    checkpoint = sorted((out / "checkpoints").iterdir())[-1]
    assert json.loads((checkpoint / "model.json").read_text())["family"] == "vqgan"
    assert (out / "samples" / "iter_000002.png").is_file()
    # `vargym sample` leaves its guidance default out for a model without an unconditional branch
    result = runner.invoke(app, ["sample", "--model", str(out), "--labels", "0,1", "--per-label", "2", "--out",
                                 str(tmp_path / "s.png"), "--device", "cpu"])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "s.png").is_file()
    result = runner.invoke(app, ["sample", "--model", str(out), "--cfg", "3", "--out", str(tmp_path / "t.png")])
    assert result.exit_code != 0 and "--cfg" in result.output and "unconditional" in result.output
    result = runner.invoke(app, ["eval", "--model", str(out), "--labels-per-class", "2", "--classes", "0-1",
                                 "--reward", "luma", "--json", str(tmp_path / "eval.json"), "--device", "cpu"])
    assert result.exit_code == 0, result.output
    assert json.loads((tmp_path / "eval.json").read_text())["results"]["base"]["num_samples"] == 4
