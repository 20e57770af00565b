"""`vargym train` end to end with the papers' reward models on tiny open_clip backbones (offline)."""

import json

import pytest
from typer.testing import CliRunner

from tests.rewards.conftest import (  # noqa: F401 - fixtures
    _offline,
    brisque_svr,
    hps_checkpoint,
    judge,
    tiny_clip,
    tiny_maniqa,
    tiny_pickscore,
    tiny_rn_clip,
    v2_head,
)
from vargym.cli.main import app

runner = CliRunner()
BASE = ["train", "--model", "random:tiny", "--steps", "1", "--num-labels", "2", "--group-size", "2",
        "--minibatch-size", "4", "--device", "cpu", "--quiet"]


def _clip_args(clip_fixture, prefix=""):
    name, path = clip_fixture
    return ["--reward-arg", f"{prefix}clip_model={name}", "--reward-arg", f"{prefix}weights_path={path}"]


@pytest.mark.parametrize("case", ["aesthetic", "clip", "aesthetic+0.5*clip", "loo-fid", "hpsv2+0.5*clip",
                                  "pickscore", "clip-iqa+brisque", "vlm-judge", "maniqa"])
def test_train_with_reward_model(case, tiny_clip, v2_head, hps_checkpoint, tiny_pickscore, brisque_svr, judge,  # noqa: F811
                                 tiny_maniqa, tiny_rn_clip, tmp_path):  # noqa: F811
    out = tmp_path / "run"
    if case == "aesthetic":
        extra = ["--reward", "aesthetic", *_clip_args(tiny_clip), "--reward-arg", f"head_path={v2_head}"]
    elif case == "clip":
        extra = ["--reward", "clip", "--prompt", "a painting", *_clip_args(tiny_clip)]
    elif case == "loo-fid":
        extra = ["--reward", "loo-fid"]
    elif case == "hpsv2+0.5*clip":  # the shipped model: its class names fill the prompts
        extra = ["--reward", case, *_clip_args(hps_checkpoint, "hpsv2."), *_clip_args(tiny_clip, "clip.")]
    elif case == "pickscore":
        extra = ["--reward", case, "--reward-arg", f"weights_path={tiny_pickscore}"]
    elif case == "clip-iqa+brisque":
        extra = ["--reward", case, *_clip_args(tiny_rn_clip, "clip-iqa."), "--reward-arg",
                 f"brisque.weights_path={brisque_svr}"]
    elif case == "maniqa":
        extra = ["--reward", case, "--reward-arg", f"weights_path={tiny_maniqa[0]}",
                 "--reward-arg", f"config={json.dumps(tiny_maniqa[1])}"]
    elif case == "vlm-judge":
        extra = ["--reward", case, "--reward-arg", f"base_url={judge.url}"]
    else:
        extra = ["--reward", "aesthetic+0.5*clip", *_clip_args(tiny_clip, "aesthetic."),
                 "--reward-arg", f"aesthetic.head_path={v2_head}", *_clip_args(tiny_clip, "clip.")]
    base = [*BASE[:2], "tiny", *BASE[3:]] if case.startswith(("hpsv2", "vlm")) else BASE
    result = runner.invoke(app, [*base, "--out", str(out), *extra])
    assert result.exit_code == 0, result.output
    metrics = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert len(metrics) == 1 and metrics[0]["reward_mean"] is not None
