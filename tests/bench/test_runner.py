"""Benchmark runner: equal budgets and labels across algorithms, config checks, resume skips finished runs."""

from __future__ import annotations

import json

import pytest

from vargym.bench import BenchConfig, run_benchmark
from vargym.bench.runner import load_bench_config

TRAIN = {"precision": "float32", "decode_precision": "float32",
    "model": "random:tiny",
    "reward": "luma",
    "num_labels": 2,
    "group_size": 4,
    "minibatch_size": 4,
    "device": "cpu",
    "lr": 1e-3,
}


def _config(tmp_path, **changes) -> BenchConfig:
    values = dict(
        algos=("grpo", "reinforce"),
        seeds=2,
        budget_samples=27,
        eval_per_label=2,
        eval_labels=(0, 1),
        train=TRAIN,
        out=str(tmp_path / "bench"),
    )
    values.update(changes)
    return BenchConfig(**values)


def test_config_checks():
    assert BenchConfig(train=TRAIN, budget_samples=27).iterations == 3  # 27 // 8, rounded down
    with pytest.raises(ValueError, match="smaller than one iteration's batch"):
        BenchConfig(train=TRAIN, budget_samples=4)
    with pytest.raises(ValueError, match="train must not set \\['steps'\\]"):
        BenchConfig(train={**TRAIN, "steps": 3})
    with pytest.raises(ValueError, match="(?i)did you mean 'num_labels'"):
        BenchConfig(train={**TRAIN, "num_label": 3})
    with pytest.raises(ValueError, match="unknown algorithm 'grop'"):
        BenchConfig(train=TRAIN, algos=("grop",))
    with pytest.raises(ValueError, match="not in algos"):
        BenchConfig(train=TRAIN, algos=("grpo",), algo_kwargs={"ppo": {"beta": 0.1}})


def test_resume_skips_finished_runs_and_continues_the_interrupted_one(tmp_path, monkeypatch):
    from vargym.train.trainer import Trainer

    config = _config(tmp_path)

    def interrupt(name, metrics):
        if name == "grpo_seed1" and metrics["iteration"] == 2:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        run_benchmark(config, progress=interrupt)
    runs = tmp_path / "bench" / "runs"
    assert (runs / "grpo_seed0" / "done.json").is_file() and (
        runs / "reinforce_seed0" / "done.json"
    ).is_file()
    assert not (runs / "grpo_seed1" / "done.json").exists()
    finished = {n: (runs / n / "done.json").read_text() for n in ("grpo_seed0", "reinforce_seed0")}

    with pytest.raises(FileExistsError, match="already holds a benchmark"):
        run_benchmark(config)
    with pytest.raises(ValueError, match="config differs"):
        run_benchmark(_config(tmp_path, seeds=3), resume=True)

    trained = []
    original = Trainer.train
    monkeypatch.setattr(
        Trainer, "train", lambda self, *a, **k: trained.append(self.config.out) or original(self, *a, **k)
    )
    report = run_benchmark(load_bench_config(tmp_path / "bench"), resume=True)
    assert [p.rsplit("/", 1)[-1] for p in trained] == [
        "grpo_seed1",
        "reinforce_seed1",
    ]  # finished runs skipped
    assert {n: (runs / n / "done.json").read_text() for n in finished} == finished
    by_name = {f"{r['algo']}_seed{r['seed']}": r for r in report["runs"]}
    assert by_name["grpo_seed1"]["resumed_from"] == 2 and by_name["reinforce_seed1"]["resumed_from"] == 0
    lines = (runs / "grpo_seed1" / "metrics.jsonl").read_text().splitlines()
    assert [json.loads(x)["iteration"] for x in lines] == [1, 2, 3]
    assert all(r["samples"] == 24 for r in report["runs"])
    assert not (runs / "grpo_seed1" / "checkpoints").exists()  # freed once done (keep_checkpoints=False)


def test_models_compare_generator_families_on_equal_terms(tmp_path):
    train = {k: v for k, v in TRAIN.items() if k != "model"}
    models = ("random:tiny", "random:tiny-llamagen", "random:tiny-vqgan")  # next-scale and two next-token families
    config = BenchConfig(algos=("grpo",), models=models, seeds=1, budget_samples=8,
                         eval_per_label=1, eval_labels=(0,), monitor_evals=0, train=train, out=str(tmp_path / "b"))
    assert [name for name, _, _ in config.contenders] == ["random_tiny-grpo", "random_tiny-llamagen-grpo",
                                                          "random_tiny-vqgan-grpo"]
    report = run_benchmark(config)
    runs = {r["contender"]: r for r in report["runs"]}
    assert runs["random_tiny-grpo"]["model"] == "random:tiny"
    assert runs["random_tiny-llamagen-grpo"]["model"] == "random:tiny-llamagen"
    assert runs["random_tiny-vqgan-grpo"]["model"] == "random:tiny-vqgan"
    assert {r["samples"] for r in runs.values()} == {8}  # the same budget
    assert len({r["label_state_sha"] for r in runs.values()}) == 1  # the same labels
    assert [row["algo"] for row in report["table"]] == list(runs)
    assert "model-algo" in (tmp_path / "b" / "table.md").read_text()
    with pytest.raises(ValueError, match="either in models"):
        BenchConfig(models=("tiny",), train=TRAIN)
    with pytest.raises(ValueError, match="unknown contender"):
        config.train_config("nope", 0)


def test_a_text_model_benchmark_reports_its_gold_metric(tiny_t5, tmp_path):
    """The procedural captions on a random text model, the attr reward, text fidelity as the gold column."""
    import torch

    from vargym.data.attributes import NUM_LOGITS
    from vargym.data.classifier import ClassifierConfig, TinyClassifier, save_classifier

    torch.manual_seed(0)
    folder = tmp_path / "attr"
    save_classifier(TinyClassifier(ClassifierConfig(num_classes=NUM_LOGITS, input_size=32)), folder)
    train = {**TRAIN, "model": "random:tiny-t2i", "text_encoder": str(tiny_t5), "prompts": "procedural",
             "reward": "attr", "reward_kwargs": {"classifier": str(folder)}, "tokens_per_step": 16,
             "gold": "none"}
    config = BenchConfig(algos=("grpo",), seeds=1, budget_samples=8, eval_per_label=1, monitor_evals=0,
                         train=train, out=str(tmp_path / "b"))
    report = run_benchmark(config)
    (run,) = report["runs"]
    assert run["eval"]["gold"] is None and report["table"][0]["gold_name"] is None  # --gold none
    assert "gold (" not in (tmp_path / "b" / "table.md").read_text()
    from vargym.bench.report import table_cells

    fake = json.loads(json.dumps(report))  # the same report as if the gold had been text fidelity
    fake["table"][0].update(gold_name="text-fidelity", gold_mean=0.5, gold_std=0.1)
    headers, rows = table_cells(fake)
    assert headers[6] == "gold (text-fidelity)" and rows[0][6] == "0.500 ± 0.100"
