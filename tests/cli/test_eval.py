import json

import torch
from typer.testing import CliRunner

from vargym.cli.main import app
from vargym.data.classifier import TinyClassifier, save_classifier
from vargym.models import load_model, save_checkpoint

runner = CliRunner()


def test_eval_base_and_checkpoint_writes_json(tmp_path):
    torch.manual_seed(0)
    vqvae, var = load_model("random:tiny")
    save_checkpoint(tmp_path / "run" / "checkpoints" / "iter_000007", vqvae, var)  # the trainer layout
    save_classifier(TinyClassifier(), tmp_path / "classifier")
    out = tmp_path / "eval.json"
    result = runner.invoke(
        app,
        [
            "eval",
            "--model",
            "random:tiny",
            "--checkpoint",
            str(tmp_path / "run"),
            "--classifier",
            str(tmp_path / "classifier"),
            "--labels-per-class",
            "2",
            "--classes",
            "0-2",
            "--reward",
            "luma",
            "--reward",
            "brightness",
            "--json",
            str(out),
            "--device",
            "cpu",
        ],
    )
    assert result.exit_code == 0, result.output
    assert "classifier/top1" in result.output and "delta" in result.output
    payload = json.loads(out.read_text())
    assert payload["config"]["labels_per_class"] == 2 and payload["config"]["classes"] == [0, 1, 2]
    base, trained = payload["results"]["base"], payload["results"]["checkpoint"]
    for res in (base, trained):
        assert res["num_samples"] == 6 and set(res["rewards"]) == {"luma", "brightness"}
        assert 0.0 <= res["classifier"]["top1"] <= res["classifier"]["top5"] <= 1.0
        assert set(res["classifier"]["per_class"]) == {"0", "1", "2"}
    # different weights, same seed: the figures differ
    assert base["rewards"]["luma"]["mean"] != trained["rewards"]["luma"]["mean"]


def test_eval_errors_are_clean(tmp_path):
    missing = runner.invoke(
        app,
        [
            "eval",
            "--model",
            "random:tiny",
            "--checkpoint",
            str(tmp_path / "nothing"),
            "--suite",
            "none",
            "--device",
            "cpu",
        ],
    )
    assert missing.exit_code == 2 and "holds no model" in missing.output
    bad_suite = runner.invoke(
        app, ["eval", "--model", "random:tiny", "--suite", "imagenett", "--device", "cpu"]
    )
    assert bad_suite.exit_code == 2 and "Did you mean 'imagenet'" in bad_suite.output


def test_eval_fid_uses_the_standard_inception(tmp_path, fid_inception_weights):
    from vargym.evaluation.fid import feature_statistics, load_inception, save_statistics

    extractor = load_inception(fid_inception_weights)
    reference = extractor(torch.rand(8, 3, 32, 32, generator=torch.Generator().manual_seed(3)))
    save_statistics(tmp_path / "ref.npz", *feature_statistics(reference))
    out = tmp_path / "eval.json"
    result = runner.invoke(app, [
        "eval", "--model", "random:tiny", "--suite", "none", "--labels-per-class", "2", "--classes", "0-3",
        "--fid-reference", str(tmp_path / "ref.npz"), "--inception-weights", str(fid_inception_weights),
        "--json", str(out), "--device", "cpu"])
    assert result.exit_code == 0, result.output
    report = json.loads(out.read_text())
    base = report["results"]["base"]
    assert base["fid_features"] == "inception" and base["fid"] > 0
