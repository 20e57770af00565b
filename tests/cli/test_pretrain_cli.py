"""`vargym pretrain`: a shortened run through the CLI writes a loadable model directory."""

import json

from typer.testing import CliRunner

from vargym.cli.main import app
from vargym.models import load_model

runner = CliRunner()


def test_pretrain_cli_writes_a_loadable_model(tmp_path):
    out = tmp_path / "pre"
    args = ["pretrain", "--out", str(out), "--vqvae-steps", "2", "--decoder-steps", "2", "--var-steps", "2",
            "--classifier-steps", "2",
            "--vqvae-batch-size", "2", "--var-batch-size", "2", "--eval-per-class", "0", "--device", "cpu", "--quiet"]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    vqvae, var = load_model(str(out))
    assert var.num_classes == 10 and (out / "MODEL_CARD.md").is_file()
    assert json.loads((out / "checkpoints/decoder/state.json").read_text())["step"] == 2


def test_pretrain_cli_rejects_bad_values(tmp_path):
    result = runner.invoke(app, ["pretrain", "--out", str(tmp_path / "x"), "--var-steps", "-1"])
    assert result.exit_code == 2
    assert "var_steps must be >= 0" in result.output
