"""`vargym sample` writes a PNG grid on CPU; `vargym info` reports versions and weights; bad input is clean."""

from PIL import Image
from typer.testing import CliRunner

from vargym.cli.main import app

runner = CliRunner()


def test_sample_writes_png(tmp_path):
    out = tmp_path / "grid.png"
    result = runner.invoke(app, ["sample", "--model", "tiny", "--labels", "0-2", "--per-label", "2", "--cfg", "1.5",
                                 "--top-k", "50", "--top-p", "0.9", "--temperature", "0.8", "--seed", "3",
                                 "--out", str(out), "--device", "cpu"])
    assert result.exit_code == 0, result.output
    image = Image.open(out)
    assert image.width > 2 * 64 and image.height > 3 * 64  # 3 rows of 2 samples of 64 px, plus padding


def test_sample_from_a_training_run_checkpoint(tmp_path):
    from vargym.models import load_model, save_checkpoint

    save_checkpoint(tmp_path / "run" / "checkpoints" / "iter_000001", *load_model("random:tiny"))
    result = runner.invoke(app, ["sample", "--checkpoint", str(tmp_path / "run"), "--labels", "1",
                                 "--out", str(tmp_path / "s.png"), "--device", "cpu"])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "s.png").is_file()


def test_sample_bad_input(tmp_path):
    bad_label = runner.invoke(app, ["sample", "--labels", "12", "--out", str(tmp_path / "x.png")])
    assert bad_label.exit_code == 2 and "outside [0, 10)" in bad_label.output
    bad_model = runner.invoke(app, ["sample", "--model", "var-d17", "--out", str(tmp_path / "x.png")])
    assert bad_model.exit_code == 2 and "unknown model 'var-d17'" in bad_model.output


def test_info_lists_versions_and_weights():
    result = runner.invoke(app, ["info"])
    assert result.exit_code == 0, result.output
    assert "torch" in result.output and "tiny model (shipped)" in result.output and "yes" in result.output
