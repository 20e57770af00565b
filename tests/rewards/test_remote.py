"""Rewards over HTTP: a real `vargym serve-reward` process on localhost, the remote client, the error paths."""

import os
import socket
import subprocess
import sys
import time

import pytest
import torch

import vargym.rewards
from vargym.rewards import RewardContext
from vargym.rewards.remote import RewardServerError, decode_request, encode_request

pytest.importorskip("fastapi", reason="the serve extra (fastapi, uvicorn) is not installed")
pytest.importorskip("uvicorn", reason="the serve extra (fastapi, uvicorn) is not installed")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _serve(*args: str):
    """Start ``vargym serve-reward ARGS`` on a free port; yields its URL, stops it after."""
    port = _free_port()
    proc = subprocess.Popen([sys.executable, "-m", "vargym", "serve-reward", *args, "--port", str(port), "--device",
                             "cpu"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            env={**os.environ, "OMP_NUM_THREADS": "1"})
    url = f"http://127.0.0.1:{port}"
    deadline = time.time() + 60
    while time.time() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                break
        except OSError:
            if proc.poll() is not None:
                pytest.fail(f"the server exited: {proc.stdout.read().decode()[-2000:]}")
            time.sleep(0.2)
    try:
        yield url
    finally:  # also when the test fails inside the loop that uses it
        proc.terminate()
        proc.wait(timeout=10)


@pytest.fixture(scope="module")
def server():
    yield from _serve("luma+0.5*colorfulness")


def test_a_served_geneval_detector_scores_with_each_prompts_metadata():
    """GenEval as Flow-GRPO runs it: the rules and the detector in a server, the trainer sending images and each
    prompt's GenEval metadata (here a fake detector: one cup, red on bright images)."""
    for url in _serve("geneval", "--reward-arg", "detector=tests.cli.fake_detector:detect"):
        remote = vargym.rewards.make(f"remote:{url}")
        images = torch.stack([torch.full((3, 16, 16), 0.9), torch.full((3, 16, 16), 0.1)])
        red_cup = {"tag": "colors", "include": [{"class": "cup", "count": 1, "color": "red"}]}
        context = RewardContext(metadata=[red_cup, red_cup], image_prompts=["a photo of a red cup"] * 2)
        assert remote(images, context).total.tolist() == [1.0, 0.0]


def test_serve_reward_takes_reward_args(monkeypatch):
    from typer.testing import CliRunner

    import vargym.rewards.serving
    from vargym.cli.main import app

    served = []
    monkeypatch.setattr(vargym.rewards.serving, "serve", lambda reward, host, port: served.append(reward))
    result = CliRunner().invoke(app, ["serve-reward", "jpeg+clip-iqa", "--device", "cpu", "--reward-arg",
                                      "jpeg.quality=80", "--reward-arg", "clip-iqa.clip_model=no-such-model"])
    assert result.exit_code == 2 and "unknown open_clip model 'no-such-model'" in result.output
    result = CliRunner().invoke(app, ["serve-reward", "luma", "--device", "cpu", "--reward-arg", "input_size=16"])
    assert result.exit_code == 0, result.output
    assert served[-1].input_size == 16


def test_wire_format_round_trip():
    images = torch.rand(3, 3, 8, 8)
    ctx = RewardContext(labels=torch.tensor([1, 2, 3]), prompt="a red circle", step=2, iteration=7)
    back, got = decode_request(encode_request(images, ctx))
    assert (back - images).abs().max() <= 0.5 / 255 + 1e-6  # uint8 on the wire
    assert torch.equal(got.labels, ctx.labels) and (got.prompt, got.step, got.iteration) == ("a red circle", 2, 7)


def test_remote_reward_equals_the_local_one(server):
    remote = vargym.rewards.make(f"remote:{server}")
    local = vargym.rewards.make("luma+0.5*colorfulness")
    images = (torch.rand(5, 3, 16, 16) * 255).round() / 255  # already on the uint8 grid: no quantisation gap
    ctx = RewardContext(labels=torch.arange(5))
    a, b = remote(images, ctx), local(images, ctx)
    torch.testing.assert_close(a.total, b.total, atol=1e-6, rtol=1e-6)
    assert set(a.components) == set(b.components) and remote.served_name == local.name
    remote.batch_size = 2  # larger batches are split over several requests
    torch.testing.assert_close(remote(images, ctx).total, b.total, atol=1e-6, rtol=1e-6)


def test_vargym_train_on_a_remote_reward(server, tmp_path):
    import json

    from typer.testing import CliRunner

    from vargym.cli.main import app

    result = CliRunner().invoke(app, [
        "train", "--model", "tiny", "--reward", f"remote:{server}", "--num-labels", "2", "--group-size", "2",
        "--minibatch-size", "2", "--steps", "1", "--device", "cpu", "--quiet", "--out", str(tmp_path / "run")])
    assert result.exit_code == 0, result.output
    record = json.loads((tmp_path / "run" / "metrics.jsonl").read_text().splitlines()[-1])
    assert "reward_luma_mean" in record and record["reward_s"] > 0


def test_class_names_travel_to_the_server():
    ctx = RewardContext(labels=torch.tensor([1, 0]), class_names=["circle", "square"])
    _, got = decode_request(encode_request(torch.rand(2, 3, 4, 4), ctx))
    assert got.class_names == ["circle", "square"] and got.prompts("a {label}") == ["a square", "a circle"]


def test_unreachable_server_and_garbage_are_clear_errors(server):
    with pytest.raises(RewardServerError, match=r"unreachable .* after 2 attempts"):
        vargym.rewards.make(f"remote:http://127.0.0.1:{_free_port()}", retries=1, backoff=0.01)
    with pytest.raises(ValueError, match="must start with http"):
        vargym.rewards.make("remote:127.0.0.1:80")
    remote = vargym.rewards.make(f"remote:{server}")
    with pytest.raises(RewardServerError, match="without a total per image"):
        remote._check({"scores": [1, 2]}, 2)
    with pytest.raises(RewardServerError, match=r"answered shapes \{'total': \(1,\)\}"):
        remote._check({"total": [1.0]}, 2)
    with pytest.raises(RewardServerError, match="answered 400"):
        remote._request("POST", "/score", b"not safetensors")
