"""``vargym bench`` (the quick profile at a reduced budget) and ``vargym bench speed`` through CliRunner."""

from __future__ import annotations

import json

from PIL import Image
from typer.testing import CliRunner

from vargym.bench.report import FIGURES
from vargym.cli.main import app

runner = CliRunner()


def test_bench_quick_profile_reduced_budget_equal_budgets_and_labels(tmp_path):
    out = tmp_path / "bench"
    args = [
        "bench",
        "--profile",
        "quick",
        "--model",
        "random:tiny",
        "--algos",
        "grpo,reinforce",
        "--seeds",
        "2",
        "--budget-samples",
        "24",
        "--num-labels",
        "2",
        "--group-size",
        "4",
        "--minibatch-size",
        "4",
        "--eval-per-label",
        "2",
        "--device",
        "cpu",
        "--threshold",
        "0.5",
        "--quiet",
        "--out",
        str(out),
    ]
    result = runner.invoke(app, args, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert "samples to 0.5" in result.output and "grpo" in result.output and "reinforce" in result.output
    for name in ("bench.json", "bench_config.json", "table.md", *FIGURES):
        assert (out / name).is_file(), name
    for name in FIGURES:
        with Image.open(out / name) as image:
            assert image.format == "PNG"
    report = json.loads((out / "bench.json").read_text())
    assert (
        report["config"]["train"]["lr"] == 1e-4 and report["config"]["train"]["reward"] == "brightness"
    )  # profile
    runs = report["runs"]
    assert len(runs) == 4 and {r["samples"] for r in runs} == {24} and {r["iterations"] for r in runs} == {3}
    assert len({json.dumps(r["eval"]["labels"]) for r in runs}) == 1 and {
        r["eval"]["seed"] for r in runs
    } == {1234}
    assert runs[0]["eval"]["labels"] == list(range(8))  # first 8 training classes
    for seed in (0, 1):  # same label draws for every algorithm of a seed, different draws across seeds
        shas = {r["label_state_sha"] for r in runs if r["seed"] == seed}
        assert len(shas) == 1
    assert runs[0]["label_state_sha"] != [r for r in runs if r["seed"] == 1][0]["label_state_sha"]
    for algo, curves in report["curves"].items():
        assert all(c["samples"] == [8, 16, 24] for c in curves.values()), algo
    assert [row["algo"] for row in report["table"]] == ["grpo", "reinforce"]
    assert "| grpo |" in (out / "table.md").read_text()

    again = runner.invoke(app, args)
    assert again.exit_code == 2 and "already holds a benchmark" in again.output
    resumed = runner.invoke(app, ["bench", "--resume", "--out", str(out), "--lr", "0.1"])
    assert resumed.exit_code == 2 and "drop ['lr']" in resumed.output


def test_bench_rejects_unknown_profile_and_algorithm(tmp_path):
    result = runner.invoke(app, ["bench", "--profile", "quik", "--out", str(tmp_path)])
    assert result.exit_code == 2 and "Did you mean 'quick'?" in result.output
    result = runner.invoke(
        app, ["bench", "--algos", "grpo,ppp", "--model", "random:tiny", "--out", str(tmp_path)]
    )
    assert result.exit_code == 2 and "unknown algorithm 'ppp'" in result.output


def test_bench_speed_smoke(tmp_path):
    out = tmp_path / "speed.json"
    result = runner.invoke(
        app,
        [
            "bench",
            "speed",
            "--batch-sizes",
            "2,4",
            "--group-size",
            "2",
            "--reps",
            "1",
            "--warmup",
            "0",
            "--threads",
            "1",
            "--device",
            "cpu",
            "--out",
            str(out),
        ],
        catch_exceptions=False,
    )
    assert result.exit_code == 0, result.output
    data = json.loads(out.read_text())
    assert data["threads"] == 1 and [r["batch_size"] for r in data["rows"]] == [2, 4]
    for row in data["rows"]:
        assert row["sample_images_per_s"] > 0 and row["peak_memory_mib"] > 0
        parts = row["sample_s"] + row["reward_s"] + row["logprob_s"] + row["backward_s"]
        assert 0 < parts <= row["iteration_s"] * 1.01
    result = runner.invoke(app, ["bench", "speed", "--batch-sizes", "3", "--group-size", "2"])
    assert result.exit_code == 2 and "not positive multiples of group_size 2" in result.output
