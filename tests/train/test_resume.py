"""Checkpoint / resume: an interrupted run continues exactly; checkpoints are complete and atomic."""

from __future__ import annotations

import json

import pytest
import torch

from vargym.errors import CheckpointError
from vargym.train import TrainConfig, Trainer, find_checkpoint, read_metrics
from vargym.train.checkpoint import checkpoint_dirs, flatten_optimizer_state, unflatten_optimizer_state
from vargym.train.trainer import RunExistsError

VOLATILE = {"wall_s", "sample_s", "reward_s", "logprob_s", "backward_s", "iteration_s", "samples_per_s"}


def _config(out, algo="grpo", **kw) -> TrainConfig:
    base = dict(
        algo=algo,
        model="random:tiny",
        reward="luma",
        sampling={"precision": "float32", "decode_precision": "float32"},  # "auto" differs between CPUs
        num_labels=2,
        group_size=2,
        minibatch_size=2,
        steps=2,
        lr=1e-3,
        sample_every=0,
        checkpoint_every=0,
        tensorboard=False,
        out=str(out),
        seed=3,
    )
    base.update(kw)
    return TrainConfig(**base)


def _stable(records):
    return [{k: v for k, v in r.items() if k not in VOLATILE} for r in records]


@pytest.mark.parametrize(
    "algo, extra", [("grpo", {}), ("ppo", {"epochs": 2}), ("reinforce", {"algo_kwargs": {"baseline": "ema"}})]
)
def test_resume_reproduces_uninterrupted_run(tmp_path, algo, extra):
    straight = Trainer(_config(tmp_path / "a", algo, **extra))
    straight.train()
    first = Trainer(_config(tmp_path / "b", algo, **extra))
    first.train(num_iterations=1)
    assert [p.name for p in checkpoint_dirs(tmp_path / "b")] == ["iter_000001"]
    resumed = Trainer.from_checkpoint(tmp_path / "b")
    assert resumed.iteration == 1 and resumed.samples == 4
    resumed.train()
    a, b = read_metrics(tmp_path / "a"), read_metrics(tmp_path / "b")
    assert [r["iteration"] for r in b] == [1, 2]
    for ra, rb in zip(_stable(a), _stable(b), strict=True):
        assert ra.keys() == rb.keys()
        for key in ra:
            assert rb[key] == pytest.approx(ra[key], abs=1e-6, rel=1e-6), key
    for pa, pb in zip(straight.policy.parameters(), resumed.policy.parameters(), strict=True):
        torch.testing.assert_close(pa, pb, rtol=0, atol=1e-6)
    assert b[-1]["wall_s"] > b[0]["wall_s"]  # wall time carries over


def test_resume_drops_metrics_written_after_the_checkpoint(tmp_path):
    trainer = Trainer(_config(tmp_path, steps=2, checkpoint_every=1))
    trainer.train()  # checkpoints at 1 and 2
    assert [r["iteration"] for r in read_metrics(tmp_path)] == [1, 2]
    (tmp_path / "checkpoints" / "iter_000002").rename(tmp_path / "gone")  # as if killed before saving 2
    resumed = Trainer.from_checkpoint(tmp_path)
    assert resumed.iteration == 1
    resumed.train(num_iterations=0)
    assert [r["iteration"] for r in read_metrics(tmp_path)] == [1]


def test_checkpoint_contents_and_overrides(tmp_path):
    trainer = Trainer(_config(tmp_path, algo="ppo", steps=1))
    trainer.train()
    ckpt = find_checkpoint(tmp_path)
    assert ckpt.name == "iter_000001"
    names = {p.name for p in ckpt.iterdir()}
    assert {
        "var.safetensors",
        "vqvae.safetensors",
        "model.json",
        "trainer.safetensors",
        "trainer.json",
    } <= names
    assert not [
        p for p in (tmp_path / "checkpoints").iterdir() if p.name.startswith(".")
    ]  # no temp dirs left
    meta = json.loads((ckpt / "trainer.json").read_text())
    assert meta["iteration"] == 1 and meta["config"]["algo"] == "ppo"
    from safetensors.torch import load_file

    keys = set(load_file(str(ckpt / "trainer.safetensors")))
    assert any(k.startswith("value_head.") for k in keys)
    assert any(k.startswith("reference.") for k in keys)
    assert any(k.startswith("optimizer.state.") for k in keys)
    assert {"rng.torch", "rng.shuffle", "collector.label_generator", "collector.sample_generator"} <= keys
    longer = Trainer.from_checkpoint(ckpt, steps=2)
    assert longer.config.steps == 2 and longer.config.algo == "ppo"


def test_keep_checkpoints_prunes_old_ones(tmp_path):
    Trainer(_config(tmp_path, steps=2, checkpoint_every=1, keep_checkpoints=1)).train()
    assert [p.name for p in checkpoint_dirs(tmp_path)] == ["iter_000002"]


def test_not_a_checkpoint_raises(tmp_path):
    with pytest.raises(CheckpointError, match="no training checkpoint"):
        Trainer.from_checkpoint(tmp_path)


def test_optimizer_state_round_trip():
    param = torch.nn.Parameter(torch.randn(3))
    opt = torch.optim.AdamW([param], lr=0.1)
    param.sum().backward()
    opt.step()
    tensors, meta = flatten_optimizer_state(opt.state_dict())
    meta = json.loads(json.dumps(meta))  # must be JSON-ready
    restored = unflatten_optimizer_state(tensors, meta)
    fresh = torch.optim.AdamW([torch.nn.Parameter(param.detach().clone())], lr=0.5)
    fresh.load_state_dict(restored)
    assert fresh.param_groups[0]["lr"] == 0.1
    torch.testing.assert_close(
        fresh.state_dict()["state"][0]["exp_avg"], opt.state_dict()["state"][0]["exp_avg"]
    )


def test_sigint_mid_iteration_finishes_it_checkpoints_and_resumes_without_loss(tmp_path):
    """A Ctrl-C that lands inside iteration 2 (while its rewards are computed) lets iteration 2 finish,
    checkpoints it and stops; resuming to the end gives exactly the weights of an uninterrupted run."""
    import os
    import signal

    import vargym.rewards

    calls, luma = [], vargym.rewards.make("luma")

    def luma_that_interrupts(images, context):
        calls.append(1)
        if len(calls) == 2:  # the second rollout: iteration 2 is under way
            os.kill(os.getpid(), signal.SIGINT)
        return luma(images, context).total

    reward = vargym.rewards.FunctionReward(luma_that_interrupts, name="luma")
    cut = Trainer(_config(tmp_path / "cut", steps=4, checkpoint_every=0), reward=reward)
    before = signal.getsignal(signal.SIGINT)  # the default handler, or SIG_IGN in a background job
    history = cut.train()
    assert cut.stop_signal == "SIGINT" and [m["iteration"] for m in history] == [1, 2]
    assert find_checkpoint(tmp_path / "cut").name == "iter_000002"
    assert signal.getsignal(signal.SIGINT) is before  # restored

    resumed = Trainer.from_checkpoint(tmp_path / "cut", reward=vargym.rewards.make("luma"))
    resumed.train()
    straight = Trainer(_config(tmp_path / "straight", steps=4, checkpoint_every=0))
    straight.train()
    assert resumed.iteration == straight.iteration == 4
    for a, b in zip(straight.policy.parameters(), resumed.policy.parameters(), strict=True):
        assert torch.equal(a, b)


def test_a_run_directory_is_never_mixed(tmp_path):
    Trainer(_config(tmp_path, steps=1)).train()
    with pytest.raises(RunExistsError, match="already holds a run .*--resume .*--overwrite"):
        Trainer(_config(tmp_path, steps=1)).train()
    (tmp_path / "samples").mkdir(exist_ok=True)
    (tmp_path / "samples" / "stale.png").write_bytes(b"")
    Trainer(_config(tmp_path, steps=1, overwrite=True)).train()
    assert not (tmp_path / "samples" / "stale.png").exists()  # the old run's files are gone


def test_lora_run_checkpoints_adapters_only_and_resumes_exactly(tmp_path):
    straight = Trainer(_config(tmp_path / "a", lora_rank=4, lr=1e-2))
    straight.train()
    first = Trainer(_config(tmp_path / "b", lora_rank=4, lr=1e-2))
    first.train(num_iterations=1)
    ckpt = find_checkpoint(tmp_path / "b")
    assert not (ckpt / "var.safetensors").exists() and (ckpt / "lora.safetensors").is_file()
    assert first.reference is None  # the reference is the base network, adapters off: no copy
    resumed = Trainer.from_checkpoint(tmp_path / "b")
    resumed.train()
    for (name, pa), pb in zip(straight.policy.named_parameters(), resumed.policy.parameters(), strict=True):
        assert torch.equal(pa, pb), name
    a, b = read_metrics(tmp_path / "a"), read_metrics(tmp_path / "b")
    assert _stable(a) == _stable(b)
