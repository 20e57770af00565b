"""--model-file KEY=PATH: one weight-file option for every family (keys from the registry), the old
per-family flags as aliases, and clear errors."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from vargym.cli.common import model_files
from vargym.cli.main import app

runner = CliRunner()


def test_keys_come_from_the_registry_and_old_flags_merge():
    assert model_files(["vq_path=a.pt", "gpt_path=b.pt"]) == {"vq_path": "a.pt", "gpt_path": "b.pt"}
    assert model_files(["var_path=v.pth"], vae_path="q.pth") == {"vae_path": "q.pth", "var_path": "v.pth"}
    with pytest.raises(ValueError, match=r"key 'vae_pth' is not a weight file.*Did you mean 'vae_path'"):
        model_files(["vae_pth=x"])
    with pytest.raises(ValueError, match="takes KEY=PATH"):
        model_files(["vae_path"])


@pytest.mark.parametrize("command", ["sample", "eval", "train"])
def test_every_command_reads_model_file(command, tmp_path):
    missing = tmp_path / "absent.pth"
    args = [command, "--model", "var-d16", "--model-file", f"vae_path={missing}", "--model-file",
            f"var_path={missing}", "--device", "cpu"]
    if command == "train":
        args += ["--out", str(tmp_path / "run"), "--quiet"]
    result = runner.invoke(app, args)
    assert result.exit_code == 2, result.output
    assert "absent.pth does not exist" in " ".join(result.output.split())


def test_a_key_of_another_family_is_refused_by_name(tmp_path):
    result = runner.invoke(app, ["sample", "--model", "var-d16", "--model-file", "gpt_path=x.pt", "--device", "cpu",
                                 "--out", str(tmp_path / "g.png")])
    assert result.exit_code == 2
    assert "takes the weight files ['vae_path', 'var_path'], got ['gpt_path']" in " ".join(result.output.split())


def test_old_flags_still_work(tmp_path):
    missing = tmp_path / "absent.pth"
    result = runner.invoke(app, ["sample", "--model", "var-d16", "--vae-path", str(missing), "--var-path", str(missing),
                                 "--device", "cpu", "--out", str(tmp_path / "g.png")])
    assert result.exit_code == 2 and "absent.pth does not exist" in " ".join(result.output.split())
