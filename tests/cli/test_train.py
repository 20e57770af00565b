"""``vargym train`` through typer's CliRunner on random:tiny with a tiny budget."""

from __future__ import annotations

import json
import math

import pytest
from typer.testing import CliRunner

from vargym.cli.main import app

runner = CliRunner()
TINY = [
    "--model",
    "random:tiny",
    "--num-labels",
    "2",
    "--group-size",
    "2",
    "--minibatch-size",
    "2",
    "--device",
    "cpu",
    "--precision",
    "float32",
    "--decode-precision",
    "float32",
    "--no-tensorboard",
    "--quiet",
]


def _run(*args: str):
    return runner.invoke(app, ["train", *args], catch_exceptions=False)


def test_train_writes_config_metrics_checkpoint_and_samples(tmp_path):
    result = _run(
        *TINY,
        "--steps",
        "2",
        "--reward",
        "luma",
        "--labels",
        "0-4",
        "--sample-every",
        "2",
        "--eval-per-label",
        "1",
        "--lr",
        "1e-3",
        "--algo-arg",
        "eps=0.001",
        "--out",
        str(tmp_path),
    )
    assert result.exit_code == 0, result.output
    assert "reward_mean" in result.output
    config = json.loads((tmp_path / "config.json").read_text())
    assert (
        config["labels"] == [0, 1, 2, 3, 4]
        and config["lr"] == 1e-3
        and config["algo_kwargs"] == {"eps": 0.001}
    )
    assert config["beta"] == 0.1 and config["sampling"]["temperature"] == 0.7  # untouched flags keep the defaults (resolved)
    lines = [json.loads(line) for line in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    assert [r["iteration"] for r in lines] == [1, 2]
    for record in lines:
        for key in ("samples", "reward_mean", "kl_ref", "wall_s"):
            assert math.isfinite(record[key]), key
    ckpt = tmp_path / "checkpoints" / "iter_000002"
    assert (ckpt / "var.safetensors").is_file() and (ckpt / "trainer.json").is_file()
    assert (tmp_path / "samples" / "iter_000002.png").is_file()

    resumed = _run("--resume", str(tmp_path), "--steps", "3", "--quiet")
    assert resumed.exit_code == 0, resumed.output
    assert [json.loads(x)["iteration"] for x in (tmp_path / "metrics.jsonl").read_text().splitlines()] == [
        1,
        2,
        3,
    ]


def test_config_file_with_flag_override(tmp_path):
    cfg = tmp_path / "run.toml"
    cfg.write_text('algo = "reinforce"\nreward = "dark"\nsteps = 5\n')
    loud = [a for a in TINY if a != "--quiet"]  # with the rich progress bar
    result = _run(
        *loud, "--config", str(cfg), "--steps", "1", "--sample-every", "0", "--out", str(tmp_path / "r")
    )
    assert result.exit_code == 0, result.output
    assert "reinforce on 'dark'" in result.output
    config = json.loads((tmp_path / "r" / "config.json").read_text())
    assert (config["algo"], config["reward"], config["steps"]) == ("reinforce", "dark", 1)


@pytest.mark.parametrize(
    "args, message",
    [
        (["--algo", "grop"], "unknown algorithm 'grop'; allowed: grpo, ppo, reinforce"),
        (["--reward", "brightnes"], "unknown reward 'brightnes'. Did you mean 'brightness'?"),
        (["--minibatch-size", "3"], "minibatch_size (3) must divide"),
        (["--model", "no/such/dir"], "unknown model"),
        (["--algo-arg", "nokey"], "expected KEY=VALUE"),
    ],
)
def test_bad_input_is_a_clean_error(tmp_path, args, message):
    result = runner.invoke(app, ["train", *TINY, "--out", str(tmp_path), *args])
    assert result.exit_code == 2
    assert message in " ".join(result.output.split())
    assert "Traceback" not in result.output


def test_missing_shipped_model_is_an_error_not_a_fallback(tmp_path, monkeypatch):
    import vargym.models.files as loading

    monkeypatch.setattr(loading, "ASSETS", tmp_path / "absent")  # where the registry's shipped models live
    result = runner.invoke(
        app, ["train", "--model", "tiny", "--device", "cpu", "--out", str(tmp_path), "--quiet"]
    )
    assert result.exit_code == 2
    assert "shipped tiny model is missing" in " ".join(result.output.split())
    assert not (tmp_path / "metrics.jsonl").exists()


def test_help_lists_paper_defaults():
    result = runner.invoke(app, ["train", "--help"], env={"COLUMNS": "200"})
    assert result.exit_code == 0
    text = " ".join(result.output.split())
    assert "(default: grpo)" in text and "(default: 0.7)" in text and "--group-size" in text


def test_summary_refusal_and_finished_resume(tmp_path):
    loud = [a for a in TINY if a != "--quiet"]
    result = _run(*loud, "--steps", "2", "--reward", "luma", "--sample-every", "1", "--eval-per-label", "1",
                  "--out", str(tmp_path))
    assert result.exit_code == 0, result.output
    for text in ("batch reward", "samples before / after", "iter_000000.png", "iter_000002.png", "checkpoint",
                 f"vargym train --resume {tmp_path} --steps 4"):
        assert text in result.output, text
    again = runner.invoke(app, ["train", *TINY, "--steps", "2", "--out", str(tmp_path)])
    assert again.exit_code == 2 and "already holds a run" in again.output and "--overwrite" in again.output
    finished = runner.invoke(app, ["train", "--resume", str(tmp_path), "--quiet"])
    assert finished.exit_code == 0 and "already finished: iteration 2 of 2" in finished.output
    longer = runner.invoke(app, ["train", "--resume", str(tmp_path), "--steps", "3", "--quiet"])
    assert longer.exit_code == 0 and "iteration 3" in longer.output
    replaced = runner.invoke(app, ["train", *TINY, "--steps", "1", "--out", str(tmp_path), "--overwrite"])
    assert replaced.exit_code == 0, replaced.output


def test_train_starts_from_the_model_s_own_training_defaults(tmp_path):
    """A model.json's "training" table sits under the flags, and the run says which of its values it used."""
    from vargym.models import load_generator

    model = tmp_path / "model"
    load_generator("random:tiny").save(model)
    meta = json.loads((model / "model.json").read_text())
    (model / "model.json").write_text(json.dumps({**meta, "training": {"beta": 0.0, "lr": 3e-4, "steps": 1}}))
    args = [a for a in TINY if a != "--quiet"]
    args[args.index("random:tiny")] = str(model)
    result = _run(*args, "--reward", "luma", "--lr", "1e-3", "--out", str(tmp_path / "run"))
    assert result.exit_code == 0, result.output
    config = json.loads((tmp_path / "run" / "config.json").read_text())
    assert (config["beta"], config["lr"], config["steps"]) == (0.0, 1e-3, 1)
    assert "the model's own training defaults" in result.output and "beta=0.0, steps=1" in result.output
    assert "lr=0.0003" not in result.output
