"""The text-to-image command line on the tiny t2i preset with the tiny T5: encode, sample, train, bad input."""

import json

import pytest
import torch
from typer.testing import CliRunner

from tests.rewards.conftest import hps_checkpoint, judge, tiny_clip, tiny_maniqa  # noqa: F401 - fixtures
from vargym.cli.main import app

runner = CliRunner()
PROMPTS = ["a red cat", "a dog, sleeping on a sofa!", "naïve café (test)", "the sky at night", "many small boats",
           "an old clock"]


@pytest.fixture
def prompt_file(tmp_path):
    path = tmp_path / "prompts.txt"
    path.write_text("\n".join(PROMPTS) + "\n", encoding="utf-8")
    return path


def test_encode_then_sample_without_t5(tiny_t5, prompt_file, tmp_path):
    features = tmp_path / "f.safetensors"
    result = runner.invoke(app, ["encode-prompts", str(prompt_file), "--out", str(features), "--text-encoder",
                                 str(tiny_t5), "--max-length", "24"])
    assert result.exit_code == 0, result.output
    assert "6 prompts (64 wide, 24 slots)" in result.output
    out = tmp_path / "s.png"
    result = runner.invoke(app, ["sample", "--model", "random:tiny-llamagen-t2i", "--text-features", str(features),
                                 "--prompts", str(prompt_file), "--per-label", "2", "--cfg", "3", "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert "wrote 12 samples" in result.output and out.stat().st_size > 0
    result = runner.invoke(app, ["sample", "--model", "random:tiny-llamagen-t2i", "--text-features", str(features),
                                 "--prompt", "a blue bird", "--out", str(out)])
    assert result.exit_code == 2 and "holds no features" in result.output and "--prompt" in result.output


def test_train_on_a_prompt_file_with_clip(tiny_t5, tiny_clip, prompt_file, tmp_path):  # noqa: F811
    name, weights = tiny_clip
    out = tmp_path / "run"
    args = ["train", "--model", "random:tiny-llamagen-t2i", "--text-encoder", str(tiny_t5), "--prompts",
            str(prompt_file), "--reward", "clip", "--reward-arg", f"clip_model={name}", "--reward-arg",
            f"weights_path={weights}", "--tokens-per-step", "16", "--steps", "2", "--num-labels", "2",
            "--group-size", "2", "--minibatch-size", "4", "--device", "cpu", "--quiet", "--out", str(out),
            "--eval-every", "2", "--sample-every", "2", "--checkpoint-every", "1"]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    metrics = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert len(metrics) == 2 and all(m["reward_mean"] is not None for m in metrics)
    assert any("eval_reward_mean" in m for m in metrics)
    checkpoint = sorted((out / "checkpoints").iterdir())[-1]
    assert json.loads((checkpoint / "model.json").read_text())["text_encoder"] == str(tiny_t5)
    assert (out / "samples" / "iter_000002.png").is_file()
    result = runner.invoke(app, ["train", "--resume", str(out), "--steps", "3", "--quiet"])
    assert result.exit_code == 0, result.output
    assert len((out / "metrics.jsonl").read_text().splitlines()) == 3


@pytest.mark.parametrize("case", ["empty-file", "not-utf8", "label-to-text", "prompt-to-class", "both-encoders",
                                  "width-mismatch"])
def test_bad_t2i_input(case, tiny_t5, prompt_file, tmp_path):
    text = ["--model", "random:tiny-llamagen-t2i", "--text-encoder", str(tiny_t5)]
    if case == "empty-file":
        (tmp_path / "empty.txt").write_text("\n\n")
        args, expect = ["sample", *text, "--prompts", str(tmp_path / "empty.txt")], "no prompts"
    elif case == "not-utf8":
        (tmp_path / "bad.txt").write_bytes(b"a caf\xe9\n")
        args, expect = ["sample", *text, "--prompts", str(tmp_path / "bad.txt")], "UTF-8"
    elif case == "label-to-text":
        args, expect = ["sample", *text, "--labels", "1,2"], "its conditions are prompts"
    elif case == "prompt-to-class":
        args, expect = ["sample", "--model", "random:tiny-llamagen", "--prompt", "a cat"], "class-conditional"
    elif case == "both-encoders":
        args, expect = ["sample", *text, "--text-features", "f.safetensors", "--prompt", "a"], "not both"
    else:
        args, expect = ["sample", "--model", "random:tiny-llamagen-t2i", "--text-encoder", str(tiny_t5), "--prompt",
                        "a cat"], None
        from tests.tiny_t5 import build_tiny_t5

        wide = build_tiny_t5(tmp_path / "wide", width=32)
        args[4], expect = str(wide), "32-wide features"
    result = runner.invoke(app, [*args, "--out", str(tmp_path / "x.png")])
    assert result.exit_code == 2, result.output
    assert expect in " ".join(result.output.replace("│", " ").split()), result.output
    assert "Traceback" not in result.output


def test_eval_prompts_reports_each_category(tiny_t5, tmp_path):
    out = tmp_path / "eval.json"
    result = runner.invoke(app, ["eval", "--model", "random:tiny-llamagen-t2i", "--text-encoder", str(tiny_t5),
                                 "--prompts", "parti", "--max-prompts", "40", "--labels-per-class", "1",
                                 "--reward", "luma", "--json", str(out), "--grid", str(tmp_path / "grid.png"),
                                 "--grid-rows", "5"])
    assert result.exit_code == 0, result.output
    assert "mean reward per Category" in result.output
    groups = json.loads(out.read_text())["results"]["base"]["per_group"]
    assert groups["key"] == "Category" and sum(groups["counts"].values()) == 40
    assert set(groups["rewards"]["luma"]) == set(groups["counts"])
    from PIL import Image

    grid = Image.open(tmp_path / "grid.png")
    assert grid.height > 5 * 64 and grid.width > 64  # five prompt rows of one sample, with their captions


def test_group_rewards_is_the_mean_of_each_group():
    import torch

    from vargym.evaluation.evaluate import group_rewards

    values = torch.tensor([1.0, 2.0, 3.0, 10.0])
    metadata = [{"tag": "a"}, {"tag": "b"}, {"tag": "a"}, {}]
    groups = group_rewards({"r": values}, metadata, "auto")
    assert groups == {"key": "tag", "counts": {"(none)": 1, "a": 2, "b": 1},
                      "rewards": {"r": {"(none)": 10.0, "a": 2.0, "b": 2.0}}}
    assert group_rewards({"r": values}, [{}] * 4, "auto") is None
    with pytest.raises(ValueError, match="no sample's metadata has the key 'color'"):
        group_rewards({"r": values}, metadata, "color")


def test_train_the_text_world_on_the_attr_reward(tiny_t5, tmp_path):
    """The procedural captions as prompts, the attr reward read from their metadata, the gold metric beside it."""
    from vargym.data.attributes import NUM_LOGITS
    from vargym.data.classifier import ClassifierConfig, TinyClassifier, save_classifier

    torch.manual_seed(0)
    folder = tmp_path / "attr"
    save_classifier(TinyClassifier(ClassifierConfig(num_classes=NUM_LOGITS, input_size=32)), folder)
    out = tmp_path / "run"
    args = ["train", "--model", "random:tiny-t2i", "--text-encoder", str(tiny_t5), "--prompts", "procedural",
            "--reward", "attr+0.5*text-fidelity", "--reward-normalization", "group", "--reward-arg",
            f"attr.classifier={folder}", "--reward-arg", f"text-fidelity.classifier={folder}", "--tokens-per-step", "16",
            "--steps", "1", "--num-labels", "2", "--group-size", "2", "--minibatch-size", "4", "--device", "cpu",
            "--quiet", "--out", str(out), "--gold", "none"]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    metrics = json.loads((out / "metrics.jsonl").read_text().splitlines()[0])
    assert {"reward_attr_mean", "reward_text-fidelity_mean", "reward_shape_mean"} <= set(metrics)


def test_train_on_geneval_prompts_with_a_served_style_detector(tiny_t5, tmp_path):
    """The GenEval prompts' metadata reaches the "geneval" reward, whose detector is any importable callable."""
    out = tmp_path / "run"
    args = ["train", "--model", "random:tiny-llamagen-t2i", "--text-encoder", str(tiny_t5), "--prompts", "geneval",
            "--reward", "geneval", "--reward-arg", "detector=tests.cli.fake_detector:detect", "--tokens-per-step",
            "16", "--steps", "1", "--num-labels", "2", "--group-size", "2", "--minibatch-size", "4", "--device",
            "cpu", "--quiet", "--out", str(out)]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    metrics = json.loads((out / "metrics.jsonl").read_text().splitlines()[0])
    assert 0.0 <= metrics["reward_mean"] <= 1.0


def test_ar_grpo_t2i_preset_trains_end_to_end(tiny_t5, tiny_clip, hps_checkpoint, tiny_maniqa, judge,  # noqa: F811
                                              prompt_file, tmp_path):
    """AR-GRPO's eight-term T2I reward set, its models replaced by tiny ones and the VLM judge by a fake server."""
    judge.mode = "unit"
    out = tmp_path / "run"
    args = ["train", "--model", "random:tiny-llamagen-t2i", "--text-encoder", str(tiny_t5), "--prompts",
            str(prompt_file), "--reward-preset", "ar-grpo-t2i",
            "--reward-arg", f"clip.clip_model={tiny_clip[0]}", "--reward-arg", f"clip.weights_path={tiny_clip[1]}",
            "--reward-arg", f"hpsv2.clip_model={hps_checkpoint[0]}", "--reward-arg",
            f"hpsv2.weights_path={hps_checkpoint[1]}", "--reward-arg", f"maniqa.weights_path={tiny_maniqa[0]}",
            "--reward-arg", f"maniqa.config={json.dumps(tiny_maniqa[1])}", "--reward-arg",
            f"judge.base_url={judge.url}", "--tokens-per-step", "16", "--steps", "1", "--num-labels", "2",
            "--group-size", "2", "--minibatch-size", "4", "--device", "cpu", "--quiet", "--out", str(out)]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    metrics = json.loads((out / "metrics.jsonl").read_text().splitlines()[0])
    assert {"reward_clip_mean", "reward_hpsv2_mean", "reward_vlm-judge_mean"} <= set(metrics)
    assert any(p in q for q in judge.questions for p in PROMPTS)
