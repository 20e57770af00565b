"""Trainer: policy-consistency check, one finite update per algorithm, learning, files, metrics."""

from __future__ import annotations

import json
import math
import shutil
from pathlib import Path

import pytest
import torch

import vargym.rewards
from vargym.algos import algorithm_names
from vargym.metrics_log import tensorboard_tag
from vargym.models import TokenLayout
from vargym.rewards import list_rewards
from vargym.train import PolicyMismatchError, TrainConfig, Trainer, check_policy_consistency, read_metrics


def _config(out, sampling=None, **kw) -> TrainConfig:
    base = dict(
        model="random:tiny",
        reward="luma",
        # explicit precisions: "auto" would pick bf16 on some CPUs and not on others
        sampling={"precision": "float32", "decode_precision": "float32", **(sampling or {})},
        num_labels=2,
        group_size=2,
        minibatch_size=2,
        steps=1,
        sample_every=0,
        checkpoint_every=0,
        tensorboard=False,
        out=str(out),
    )
    base.update(kw)
    return TrainConfig(**base)


def test_check_policy_consistency_accepts_equal_and_rejects_gaps():
    a = torch.randn(3, 5)
    b = a.clone()
    b[0, 0] = float("-inf")
    c = b.clone()
    assert check_policy_consistency(b, c) == 0.0  # -inf == -inf counts as equal
    assert check_policy_consistency(a, a + 5e-4) <= 1e-3
    with pytest.raises(PolicyMismatchError, match="importance ratio is not 1"):
        check_policy_consistency(a, a + 2e-3)
    with pytest.raises(PolicyMismatchError, match="shapes differ"):
        check_policy_consistency(a, a[:, :4])


def test_first_batch_passes_the_ratio_check_and_corruption_is_caught(tmp_path):
    trainer = Trainer(_config(tmp_path / "ok"))
    trainer.step()  # real sampler vs teacher-forced pass: must agree within 1e-3
    assert trainer.checked_policy

    bad = Trainer(_config(tmp_path / "bad"))
    collect = bad.collector.collect

    def corrupted():
        batch = collect()
        batch.set("sample_log_prob", batch["sample_log_prob"] + 0.01)
        return batch

    bad.collector.collect = corrupted
    with pytest.raises(PolicyMismatchError, match="differ from the sampled ones"):
        bad.step()


@pytest.mark.parametrize("algo", algorithm_names())  # the registry and its presets, swept automatically
def test_each_algorithm_makes_one_finite_update(tmp_path, algo):
    trainer = Trainer(_config(tmp_path, algo=algo))
    before = [p.detach().clone() for p in trainer.generator.policy.parameters()]
    metrics = trainer.step()
    assert metrics["iteration"] == 1 and metrics["samples"] == 4
    for key in (
        "reward_mean",
        "loss_policy",
        "kl_ref",
        "approx_kl",
        "entropy",
        "grad_norm",
        "entropy_step_5",
    ):
        assert math.isfinite(metrics[key]), key
    if algo == "ppo":
        assert math.isfinite(metrics["loss_value"]) and trainer.value_head is not None
    if algo in ("grpo", "ppo"):
        assert 0.0 <= metrics["clip_fraction"] <= 1.0
    changed = sum(not torch.equal(b, p) for b, p in zip(before, trainer.generator.policy.parameters(), strict=True))
    assert changed > 0
    assert all(not p.requires_grad for p in trainer.reference.policy.parameters())
    assert all(not p.requires_grad for p in trainer.generator.decoder.parameters())


def _token_fraction_model(seed: int):
    """random:tiny whose decoder paints the share of tokens in the lower half of the vocabulary as grey.

    luma is then a smooth function of every token, so each token's log-prob gradient carries signal and
    GRPO must raise it from about 0.5; it cannot saturate in the few steps the test runs. (A decoded
    random VQ-VAE hides brightness behind its GroupNorms, and a reward of one token drowns in the other
    129 tokens' noise.) The trainer does not care what the decoder is.
    """
    from vargym.models import load_generator

    torch.manual_seed(seed)
    generator = load_generator("random:tiny")

    def decode(tokens, precision="float32"):  # [N, T] -> [N, 3, 8, 8]
        lower = (tokens < generator.vocab_size // 2).float().mean(1)  # [N]
        return lower.view(-1, 1, 1, 1).expand(-1, 3, 8, 8)

    generator.decode = decode
    return generator


# Rewards whose weights cannot be fetched here (or that need a server) go through the trainer on tiny
# models in tests/cli/test_train_reward_models.py (aesthetic-v1 shares aesthetic's path and is tested in
# tests/rewards/test_aesthetic.py); every other registered reward runs here.
NEEDS_WEIGHTS = {"aesthetic", "aesthetic-v1", "clip", "hpsv2", "pickscore", "clip-iqa", "brisque", "vlm-judge",
                 "maniqa", "attr", "text-fidelity", "geneval"}  # the last three: text models (tests/cli/test_t2i_cli.py,
# tests/rewards/test_geneval.py)


@pytest.mark.parametrize("reward", sorted(set(list_rewards()) - NEEDS_WEIGHTS))
def test_each_registered_reward_trains_one_iteration(tmp_path, reward):
    history = Trainer(_config(tmp_path, reward=reward, num_labels=2, group_size=2)).train()
    assert math.isfinite(history[-1]["reward_mean"]) and math.isfinite(history[-1]["loss"])


def test_weighted_rewards_are_covered_elsewhere():
    assert NEEDS_WEIGHTS <= set(list_rewards())
    cli = Path(__file__).parents[1] / "cli"
    text = (cli / "test_train_reward_models.py").read_text() + (cli / "test_t2i_cli.py").read_text()
    lost = [name for name in NEEDS_WEIGHTS - {"aesthetic-v1"} if f'"{name}' not in text]
    assert not lost, f"{lost} lost their trainer test"


def test_short_grpo_run_raises_the_reward(tmp_path):
    gains = []
    for seed in (1, 2, 3):  # each seed must learn; the margin is several batch-mean standard errors (~0.011)
        config = _config(
            tmp_path / str(seed),
            num_labels=1,
            group_size=16,
            minibatch_size=4,
            steps=8,
            lr=1e-2,
            beta=0.0,
            log_kl_ref=False,
            seed=seed,
        )
        history = Trainer(config, model=_token_fraction_model(seed)).train()
        rewards = [r["reward_mean"] for r in history]
        first, last = sum(rewards[:3]) / 3, sum(rewards[-3:]) / 3
        assert last > first + 0.03, (seed, rewards)
        assert history[-1]["entropy"] < history[0]["entropy"]
        gains.append(last - first)
    assert sum(gains) / len(gains) > 0.06, gains


def test_run_directory_files(tmp_path):
    config = _config(tmp_path, steps=2, sample_every=2, eval_every=1, eval_per_label=2, eval_labels=(0, 3))
    Trainer(config).train()
    saved = json.loads((tmp_path / "config.json").read_text())
    # config.json holds what ran: the resolved device and the algorithm's own defaults, not nulls
    assert TrainConfig.from_dict(saved) == config.replace(device="cpu", beta=0.1, clip_epsilon=0.2)
    records = read_metrics(tmp_path)
    assert [r["iteration"] for r in records] == [1, 2]
    for key in (
        "iteration",
        "samples",
        "reward_mean",
        "reward_std",
        "reward_min",
        "reward_max",
        "kl_ref",
        "wall_s",
        "clip_fraction",
        "approx_kl",
        "entropy",
        "grad_norm",
        "samples_per_s",
        "sample_s",
        "reward_s",
        "logprob_s",
        "backward_s",
        "reward_luma_mean",
        "eval_reward_mean",
    ):
        assert key in records[-1] and math.isfinite(records[-1][key]), key
    assert records[1]["samples"] == 8 and records[1]["wall_s"] >= records[0]["wall_s"]
    assert sorted(p.name for p in (tmp_path / "samples").iterdir()) == ["iter_000000.png", "iter_000002.png"]
    from PIL import Image

    assert Image.open(tmp_path / "samples" / "iter_000002.png").size[0] > 64


def test_prompt_and_iteration_reach_the_reward(tmp_path):
    seen = []

    def spy(images, context):
        seen.append((context.prompt, context.iteration))
        return images.mean(dim=(1, 2, 3))

    trainer = Trainer(_config(tmp_path, prompt="a painting"), reward=vargym.rewards.make(spy))
    trainer.step()
    assert seen == [("a painting", 1)]


def test_tensorboard_logging(tmp_path):
    pytest.importorskip("tensorboard")
    Trainer(_config(tmp_path, tensorboard=True)).train()
    assert any((tmp_path / "tb").iterdir())


def test_tensorboard_tags_are_namespaced():
    assert tensorboard_tag("reward_mean") == "reward/mean"
    assert tensorboard_tag("loss_policy") == "loss/policy"
    assert tensorboard_tag("kl_ref") == "policy/kl_ref"
    assert tensorboard_tag("sample_s") == "perf/sample_s"
    assert tensorboard_tag("entropy_step_3") == "policy/entropy_step_3"


def test_layout_step_mean():
    values = torch.tensor([[1.0, 2.0, 4.0], [3.0, 2.0, 6.0]])
    layout = TokenLayout((1, 2))
    torch.testing.assert_close(layout.step_mean(values), torch.tensor([2.0, 3.5]))
    assert layout.step_index().tolist() == [0, 1, 1]


def test_missing_tensorboard_warns_once_and_skips(tmp_path, monkeypatch, caplog):
    import sys

    import vargym.metrics_log as metrics

    monkeypatch.setitem(sys.modules, "torch.utils.tensorboard", None)  # import now raises ImportError
    monkeypatch.setattr(metrics, "_warned_no_tensorboard", False)
    with caplog.at_level("WARNING", logger="vargym.metrics_log"):
        first = metrics.MetricsLogger(tmp_path / "a", tensorboard=True)
        second = metrics.MetricsLogger(tmp_path / "b", tensorboard=True)
    assert first.writer is None and second.writer is None
    assert sum("tensorboard is not installed" in r.message for r in caplog.records) == 1
    first.log({"iteration": 1, "reward_mean": float("nan")})
    assert read_metrics(tmp_path / "a") == [{"iteration": 1, "reward_mean": None}]  # strict JSON: NaN -> null


def test_lr_schedule(tmp_path):
    trainer = Trainer(_config(tmp_path, steps=10, warmup_steps=2, lr_schedule="cosine"))
    factors = [trainer._lr_factor(i) for i in range(11)]
    assert factors[0] == pytest.approx(1 / 3) and factors[2] == pytest.approx(1.0)
    assert factors[10] == pytest.approx(0.1) and all(a >= b for a, b in zip(factors[2:], factors[3:]))
    assert trainer.step()["lr"] == pytest.approx(1e-4 / 3)  # the rate the first updates used


def test_lora_kl_starts_at_zero_and_training_raises_the_reward(tmp_path):
    from vargym.envs import GroupedCollector
    from vargym.models import load_generator
    from vargym.train.rollout import teacher_forced

    gains = []
    for seed in (1, 2):  # measured gains 0.19 and 0.45; each must clear 0.03 and their mean 0.1
        # The shipped model: in a random VAR the blocks' AdaLN gates start near 1e-5, so adapters do nothing.
        generator = load_generator("tiny")
        lower = generator.vocab_size // 2
        generator.decode = lambda tokens, precision="float32", lower=lower: (
            (tokens < lower).float().mean(1).view(-1, 1, 1, 1).expand(-1, 3, 8, 8))
        config = _config(tmp_path / str(seed), model="tiny", num_labels=1, group_size=16, minibatch_size=4,
                         steps=12, lr=1.5e-2, beta=0.0, lora_rank=8, seed=seed)
        trainer = Trainer(config, model=generator)
        if seed == 1:  # a separate collector, so the run's random streams stay untouched
            batch = GroupedCollector(trainer.generator, "luma", 1, 16, sampling=trainer.sampling, seed=99).collect()
            policy = teacher_forced(trainer.generator, batch, trainer.sampling, 4)["log_prob"]
            with trainer.generator.base_policy():
                reference = teacher_forced(trainer.generator, batch, trainer.sampling, 4)["log_prob"]
            assert torch.equal(policy, reference)  # KL to the reference is exactly 0 before the first update
        history = trainer.train()
        rewards = [r["reward_mean"] for r in history]
        gains.append(sum(rewards[-3:]) / 3 - sum(rewards[:3]) / 3)
        assert gains[-1] > 0.03, (seed, rewards)
        assert history[-1]["kl_ref"] > 0
    assert sum(gains) / len(gains) > 0.1, gains


@pytest.mark.parametrize("lora_rank", [0, 4])
def test_first_iteration_takes_the_reference_log_probs_from_its_check_pass(tmp_path, lora_rank):
    """Before the first update the policy is the reference (a frozen copy, or zero-initialised adapters
    switched off): the start-up check's pass gives ref_log_prob and no reference pass runs. Afterwards the
    reference runs its own pass every iteration."""
    from vargym.train.rollout import teacher_forced

    trainer = Trainer(_config(tmp_path, steps=2, beta=0.1, lora_rank=lora_rank))
    batches, passes = [], []
    update = trainer.algo.compute_advantages
    trainer.algo.compute_advantages = lambda batch: batches.append(batch.clone()) or update(batch)
    if lora_rank:
        base_policy = trainer.generator.base_policy
        trainer.generator.base_policy = lambda: passes.append(trainer.iteration) or base_policy()
    else:
        trainer.reference.policy.register_forward_hook(lambda *_: passes.append(trainer.iteration))
    assert trainer.policy_is_reference
    trainer.step()
    assert passes == [] and not trainer.policy_is_reference
    first = batches[0]
    if lora_rank:
        with trainer.generator.base_policy():
            expected = teacher_forced(trainer.generator, first, trainer.sampling, 2)["log_prob"]
        passes.clear()
    else:
        expected = None
    trainer.step()
    assert passes and set(passes) == {1}
    if expected is None:  # the reference never moves: its pass on the first batch, after the update
        expected = teacher_forced(trainer.reference, first, trainer.sampling, 2)["log_prob"]
    assert torch.equal(first["ref_log_prob"], expected)


def test_reused_sampler_log_probs_save_a_pass(tmp_path):
    """After the start-up check the behaviour log-probs come from the sampler: one policy pass fewer per
    minibatch, unless recompute_old_log_prob asks for it."""
    counts = {}
    for recompute in (False, True):
        trainer = Trainer(_config(tmp_path / str(recompute), steps=3, log_kl_ref=False, beta=0.0,
                                  recompute_old_log_prob=recompute))
        calls = []
        handle = trainer.policy.register_forward_hook(lambda *_, calls=calls: calls.append(1))
        trainer.train()
        handle.remove()
        counts[recompute] = len(calls)
    updates = 3 * 2  # iterations x minibatches (batch 4, minibatch 2)
    assert counts[True] == 2 * updates  # a teacher-forced pass and an update pass per minibatch
    assert counts[False] == updates + 2  # update passes, plus the start-up check's pass on iteration 1


@pytest.mark.skipif(not any(shutil.which(c) for c in ("c++", "g++", "clang++")),
                    reason="torch.compile's CPU backend builds C++ kernels: no C++ compiler on PATH")
def test_compiled_passes_give_the_eager_update(tmp_path):
    metrics = {}
    for compiled in (False, True):
        trainer = Trainer(_config(tmp_path / str(compiled), beta=0.1, compile=compiled))
        metrics[compiled] = trainer.step()
        assert isinstance(trainer.generator.forward_module, torch._dynamo.eval_frame.OptimizedModule) == compiled
        assert isinstance(trainer.policy, torch.nn.Module) and not hasattr(trainer.policy, "_orig_mod")
    for key in ("loss", "kl_ref", "entropy", "reward_mean"):
        assert metrics[True][key] == pytest.approx(metrics[False][key], rel=1e-3, abs=1e-5), key


def test_compile_without_a_cpp_compiler_is_refused_by_name(tmp_path, monkeypatch):
    monkeypatch.setattr(shutil, "which", lambda name: None)
    with pytest.raises(RuntimeError, match="compile=True on CPU needs a C\\+\\+ compiler"):
        Trainer(_config(tmp_path, compile=True))


def test_bfloat16_runs_end_to_end_with_its_measured_check(tmp_path):
    history = Trainer(_config(tmp_path, model="tiny", steps=2, sampling={"precision": "bfloat16"})).train()
    assert 0 < history[0]["ratio_check_max_abs"] <= 1.0  # bf16 rounds differently per batch shape
    assert "ratio_check_max_abs" not in history[1] and all(math.isfinite(h["loss"]) for h in history)


@pytest.mark.parametrize("algo, kwargs", [("ppo", {}), ("grpo", {"step_advantages": True})])
def test_intermediate_rewards_reach_the_algorithm(tmp_path, algo, kwargs):
    trainer = Trainer(_config(tmp_path, algo=algo, reward_steps=(2, 4), algo_kwargs=kwargs))
    batch = trainer.collector.collect()
    assert bool((batch["step_reward"][:, [2, 4]] != 0).all()) and bool((batch["step_reward"][:, [0, 1, 3]] == 0).all())
    metrics = trainer.step()
    assert math.isfinite(metrics["loss"])


@pytest.mark.parametrize("model", ["random:tiny", "random:tiny-llamagen"])
def test_micro_batches_and_activation_checkpointing_give_the_same_update(tmp_path, model):
    """Memory levers change how the gradient is computed, not what it is."""
    extra = {"tokens_per_step": 16} if "llamagen" in model else {}
    finals, norms, grads = {}, {}, {}
    for name, kw in {"plain": {}, "micro": {"micro_batch_size": 1},
                     "checkpointed": {"gradient_checkpointing": True, "micro_batch_size": 2}}.items():
        torch.manual_seed(0)
        cfg = _config(tmp_path / name, model=model, steps=1, lr=1e-2, num_labels=2, group_size=2, minibatch_size=4,
                      sampling={"temperature": 1.0}, **extra, **kw)
        trainer = Trainer(cfg)
        if "llamagen" in model:
            torch.nn.init.normal_(trainer.policy.output.weight, std=0.05)  # a head that passes gradients
            trainer.reference = trainer.generator.frozen_copy()
        before = [p.detach().clone() for p in trainer.policy.parameters()]
        record = trainer.train()[-1]
        finals[name] = [p.detach().clone() for p in trainer.policy.parameters()]
        grads[name] = [p.grad.clone() for p in trainer.policy.parameters()]  # the one minibatch's gradient
        norms[name] = record["grad_norm"], record["loss"]
    for name in ("micro", "checkpointed"):
        assert norms[name] == pytest.approx(norms["plain"], rel=1e-4, abs=1e-6)
        for a, b in zip(grads["plain"], grads[name]):  # compared before Adam, which amplifies rounding in g ~ eps
            torch.testing.assert_close(a, b, atol=1e-6, rtol=1e-4)
    assert any((a - b).abs().max() > 0 for a, b in zip(finals["checkpointed"], before))
    with pytest.raises(ValueError, match="micro_batch_size must be None or an int >= 1 dividing minibatch_size"):
        _config(tmp_path, minibatch_size=4, micro_batch_size=3)


def test_group_reward_normalisation_reaches_the_run(tmp_path):
    """reward_normalization="group": the reward sees the group size, the total is the per-group standardised
    sum, and each term's raw mean is logged."""
    trainer = Trainer(_config(tmp_path, reward="luma+0.5*colorfulness", reward_normalization="group", group_size=4,
                              num_labels=2, minibatch_size=8))
    metrics = trainer.step()
    assert {"reward_luma_mean", "reward_colorfulness_mean"} <= set(metrics)
    assert abs(metrics["reward_mean"]) < 1e-5  # standardised within every group, so centred
    with pytest.raises(ValueError, match="reward_normalization must be one of"):
        _config(tmp_path, reward_normalization="batch")
