import math

import pytest
import torch

from vargym.data.classifier import TinyClassifier, save_classifier
from vargym.errors import WeightsNotAvailableError
from vargym.evaluation.evaluate import EvalConfig, build_scorers, evaluate_model, load_trained, summary
from vargym.models import load_model, save_checkpoint


@pytest.fixture(scope="module")
def model():
    torch.manual_seed(0)
    return load_model("random:tiny")


@pytest.fixture(scope="module")
def classifier():
    torch.manual_seed(1)
    return TinyClassifier().eval()


def _without_timings(result: dict) -> dict:
    return {k: v for k, v in result.items() if k not in ("samples_per_s", "sample_wall_s", "eval_wall_s")}


def test_structure_and_ranges(model, classifier):
    result = evaluate_model(
        model,
        labels_per_class=3,
        classes=(0, 4, 9),
        rewards=("brightness", "luma"),
        classifier=classifier,
        batch_size=4,
        reference_samples=100,
    )
    assert result["suite"] == "tiny" and result["num_samples"] == 9 and result["classes"] == [0, 4, 9]
    assert set(result["rewards"]) == {"brightness", "luma"}
    for entry in result["rewards"].values():
        assert 0.0 <= entry["mean"] <= 1.0 and entry["std"] >= 0.0
    acc = result["classifier"]
    assert 0.0 <= acc["top1"] <= acc["top5"] <= 1.0 and set(acc["per_class"]) == {"0", "4", "9"}
    assert all(row["count"] == 3 for row in acc["per_class"].values())
    div = result["diversity"]
    assert div["pairs"] == 9 and 0.0 <= div["near_duplicate_fraction"] <= 1.0
    assert div["pixel_distance"] >= 0.0 and div["feature_distance"] >= 0.0
    assert result["samples_per_s"] > 0 and result["notes"] == []
    assert result["fid"] >= 0.0 and result["fid_features"] == "tiny-classifier"
    flat = summary(result)
    assert {"reward/luma/mean", "classifier/top1", "diversity/pixel_distance", "perf/samples_per_s"} <= set(
        flat
    )
    assert all(isinstance(v, float) and not math.isnan(v) for v in flat.values())


def test_deterministic_given_seed(model, classifier):
    kwargs = dict(
        labels_per_class=2,
        classes=(1, 2),
        rewards=("luma",),
        classifier=classifier,
        batch_size=3,
        reference_samples=50,
    )
    first = evaluate_model(model, seed=5, **kwargs)
    assert _without_timings(first) == _without_timings(evaluate_model(model, seed=5, **kwargs))
    other = evaluate_model(model, seed=6, **kwargs)
    assert other["rewards"]["luma"]["mean"] != first["rewards"]["luma"]["mean"]


def test_suite_none_has_no_classifier(model):
    result = evaluate_model(model, labels_per_class=2, classes=(0,), suite="none", rewards=("luma",))
    assert (
        "classifier" not in result and "feature_distance" not in result["diversity"] and "fid" not in result
    )


def test_procedural_fid_prefers_real_procedural_images(model, classifier):
    from vargym.data.procedural import generate
    from vargym.evaluation.metrics import evaluate_images

    scorers = build_scorers(
        EvalConfig(classifier=classifier, rewards=(), reference_samples=300), num_classes=10
    )
    labels = torch.arange(10).repeat(6)  # [60]
    real = generate(labels, torch.Generator().manual_seed(99), image_size=64)  # not the reference's seed
    real_fid = evaluate_images(
        [(real, labels)],
        classifier=scorers.classifier,
        fid_extractor=scorers.fid_extractor,
        fid_reference=scorers.fid_reference,
    )["fid"]
    sampled_fid = evaluate_model(model, labels_per_class=6, scorers=scorers)["fid"]
    assert 0.0 <= real_fid < sampled_fid


def test_missing_shipped_classifier(model, tmp_path, monkeypatch):
    import vargym.models.files as files

    monkeypatch.setattr(files, "TINY_DIR", tmp_path)
    result = evaluate_model(model, labels_per_class=1, classes=(0,), rewards=("luma",))
    assert "classifier" not in result and "shipped classifier is missing" in result["notes"][0]
    with pytest.raises(WeightsNotAvailableError, match="pass classifier="):
        evaluate_model(model, labels_per_class=1, classes=(0,), rewards=("luma",), suite="tiny")
    save_classifier(TinyClassifier(), tmp_path)  # a classifier dir passed by path is loaded
    assert "classifier" in evaluate_model(model, labels_per_class=1, classes=(0,), classifier=str(tmp_path))


def test_bad_arguments(model, classifier):
    with pytest.raises(TypeError, match="(?i)did you mean 'labels_per_class'"):
        evaluate_model(model, label_per_class=2)
    with pytest.raises(ValueError, match=r"classes: labels must lie in \[0, 10\)"):
        evaluate_model(model, classes=(10,), suite="none")
    with pytest.raises(ValueError, match="Did you mean 'imagenet'"):
        EvalConfig(suite="imagenett")
    with pytest.raises(ValueError, match="temperature must be > 0"):
        EvalConfig(sampling={"temperature": 0.0})
    small = TinyClassifier(type(classifier.config)(num_classes=3))
    with pytest.raises(ValueError, match="classifier has 3 classes but the model has 10"):
        build_scorers(EvalConfig(classifier=small, rewards=()), num_classes=10)


def test_load_trained_model_dir_and_run_dir(model, tmp_path):
    vqvae, var = model
    save_checkpoint(tmp_path / "direct", vqvae, var)
    assert load_trained(tmp_path / "direct").num_classes == 10
    older = [p.clone() for p in var.parameters()]
    save_checkpoint(tmp_path / "run" / "checkpoints" / "iter_000003", vqvae, var)
    with torch.no_grad():
        var.head.bias.add_(1.0)
    save_checkpoint(tmp_path / "run" / "checkpoints" / "iter_000020", vqvae, var)
    (tmp_path / "run" / "checkpoints" / "notes").mkdir()  # folders without a model are ignored
    loaded = load_trained(tmp_path / "run").policy
    torch.testing.assert_close(loaded.state_dict(), var.state_dict())  # the newest checkpoint
    assert not torch.equal(loaded.head.bias, older[-1])
    with pytest.raises(WeightsNotAvailableError, match="holds no model"):
        load_trained(tmp_path / "run" / "checkpoints" / "notes")
