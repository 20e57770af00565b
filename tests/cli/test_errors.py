"""Every error a new user meets is one clear line that names options which exist (no traceback)."""

from __future__ import annotations

import time

import pytest
import torch
from typer.testing import CliRunner

from vargym.cli.main import app

runner = CliRunner()
SMALL = ["--model", "random:tiny", "--num-labels", "1", "--group-size", "2", "--minibatch-size", "2",
         "--precision", "float32", "--decode-precision", "float32", "--no-tensorboard", "--quiet", "--sample-every", "0"]


def _train(*args):
    return runner.invoke(app, ["train", *args])


def _one_clean_line(result, code=2):
    assert result.exit_code == code, result.output
    assert "Traceback" not in result.output
    return result.output


def test_bad_devices_are_one_line():
    out = _one_clean_line(_train(*SMALL, "--device", "banana", "--out", "unused"))
    assert "device 'banana' is not a torch device; use 'auto', 'cpu', 'cuda' or 'cuda:N'" in out
    if not torch.cuda.is_available():
        out = _one_clean_line(_train(*SMALL, "--device", "cuda", "--out", "unused"))
        assert "this torch sees no CUDA GPU; use 'cpu' or 'auto'" in out
    out = _one_clean_line(runner.invoke(app, ["sample", "--model", "random:tiny", "--device", "banana"]))
    assert "device 'banana' is not a torch device" in out


def test_negative_guidance_is_refused_everywhere(tmp_path):
    out = _one_clean_line(runner.invoke(app, ["sample", "--model", "random:tiny", "--cfg", "-1",
                                              "--out", str(tmp_path / "x.png")]))
    assert "cfg must be >= 0" in out
    assert "cfg must be >= 0" in _one_clean_line(_train(*SMALL, "--cfg", "-1", "--out", str(tmp_path / "r")))


def test_offline_released_model_names_the_train_local_file_options(monkeypatch, tmp_path):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    out = _one_clean_line(_train("--model", "var-d16", "--out", str(tmp_path / "r"), "--quiet"))
    assert "--model-file vae_path=PATH --model-file var_path=PATH" in out and "HF_HUB_OFFLINE" in out
    params = {o for p in __import__("typer").main.get_command(app).commands["train"].params for o in p.opts}
    assert "--model-file" in params  # the option the message names exists


def test_truncated_checkpoint_is_a_clear_resume_error(tmp_path):
    assert _train(*SMALL, "--steps", "1", "--out", str(tmp_path)).exit_code == 0
    state = next((tmp_path / "checkpoints").glob("iter_*")) / "trainer.safetensors"
    state.write_bytes(state.read_bytes()[:100])
    out = _one_clean_line(runner.invoke(app, ["train", "--resume", str(tmp_path), "--quiet"]))
    assert "corrupt or truncated" in out and "resume from an earlier checkpoint" in out


REWARD_FILE = '''
def redness(images, context):
    return (images[:, 0] - images[:, 1:].mean(1)).mean((1, 2))
'''


def test_reward_from_a_module_or_file_in_the_current_directory(tmp_path, monkeypatch):
    import vargym.rewards

    (tmp_path / "myrewards_for_test.py").write_text(REWARD_FILE)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr("sys.path", list(__import__("sys").path))
    images = torch.rand(2, 3, 8, 8)
    by_module = vargym.rewards.make("myrewards_for_test:redness")(images).total
    by_file = vargym.rewards.make("./myrewards_for_test.py:redness")(images).total
    torch.testing.assert_close(by_module, by_file)
    with pytest.raises(ValueError, match="file .*nothere.py does not exist"):
        vargym.rewards.make("./nothere.py:redness")
    with pytest.raises(ValueError, match="cannot import module 'no_such_module_xyz'.*'path/to/file.py:redness'"):
        vargym.rewards.make("no_such_module_xyz:redness")
    result = _train(*SMALL, "--steps", "1", "--reward", "./myrewards_for_test.py:redness", "--out", "run")
    assert result.exit_code == 0, result.output


def test_clip_weights_unreachable_fail_in_seconds_and_name_real_options(monkeypatch, tmp_path):
    import vargym.rewards.clip_models as clip_models
    from vargym.errors import WeightsNotAvailableError

    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    monkeypatch.setattr(clip_models, "host_reachable", lambda host, timeout=4.0: False)
    start = time.perf_counter()
    with pytest.raises(WeightsNotAvailableError, match="unreachable.*--reward-arg weights_path=PATH"):
        clip_models._hub_checkpoint("ViT-B-32", "openai", cache_dir=str(tmp_path / "hf"))
    with pytest.raises(WeightsNotAvailableError, match="unreachable.*--reward-arg head_path=PATH"):
        clip_models.download_file("https://example.org/h.pth", "h.pth", "0" * 64, cache_dir=str(tmp_path),
                                  option="--reward-arg head_path=PATH")
    assert time.perf_counter() - start < 5
