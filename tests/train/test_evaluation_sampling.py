"""Evaluation during training samples from exactly the training distribution: every field of
`SamplingConfig` reaches the evaluation sampler and decoder."""

from __future__ import annotations

import dataclasses

from vargym.models import SamplingConfig
from vargym.train import TrainConfig, Trainer
from vargym.train.config import training_sampling

NON_DEFAULT = {"temperature": 0.9, "cfg": 1.5, "cfg_interval": 3, "top_k": 7, "top_p": 0.8,
               "precision": "bfloat16", "decode_precision": "bfloat16", "draw": "multinomial"}


def test_every_sampling_field_reaches_the_evaluation(tmp_path, monkeypatch):
    names = {f.name for f in dataclasses.fields(SamplingConfig)}
    assert set(NON_DEFAULT) | {"more_smooth"} == names  # more_smooth is refused for training
    assert all(getattr(training_sampling(), k) != v for k, v in NON_DEFAULT.items())
    trainer = Trainer(TrainConfig(model="random:tiny-llamagen", reward="luma", num_labels=2, group_size=2,
                                  minibatch_size=2, steps=1, sampling=NON_DEFAULT, sample_every=0,
                                  eval_per_label=1, tensorboard=False, out=str(tmp_path)))
    assert trainer.sampling == SamplingConfig(**NON_DEFAULT)
    assert trainer.collector.sampling == trainer.sampling  # training samples with it
    generator, seen = trainer.generator, {"sampler": [], "decode": []}
    make_sampler, decode = generator.make_sampler, generator.decode

    def spy_sampler(condition, sampling, rng=None):
        seen["sampler"].append(sampling)
        return make_sampler(condition, sampling, rng)

    def spy_decode(tokens, precision="float32"):
        seen["decode"].append(precision)
        return decode(tokens, precision)

    monkeypatch.setattr(generator, "make_sampler", spy_sampler)
    monkeypatch.setattr(generator, "decode", spy_decode)
    trainer.evaluate()
    assert seen["sampler"] == [trainer.sampling]
    assert seen["decode"] == ["bfloat16"]


def test_auto_precisions_are_resolved_once_for_the_device(tmp_path):
    trainer = Trainer(TrainConfig(model="random:tiny", reward="luma", num_labels=2, group_size=2, minibatch_size=2,
                                  steps=1, sample_every=0, tensorboard=False, out=str(tmp_path)))
    assert trainer.config.sampling.precision == "auto"
    assert trainer.sampling.precision in ("float32", "bfloat16")
    assert trainer.resolved_config()["sampling"]["precision"] == trainer.sampling.precision


def test_flat_sampling_keywords_are_deprecated_but_work():
    import pytest

    with pytest.warns(DeprecationWarning, match=r"TrainConfig\(temperature=\) is deprecated"):
        config = TrainConfig(temperature=1.0)
    assert config.sampling == training_sampling(temperature=1.0)
    with pytest.warns(DeprecationWarning, match="read TrainConfig.sampling.temperature"):
        assert config.temperature == 1.0
    old_layout = {"temperature": 0.5, "precision": "float32"}  # config.json / checkpoints of earlier releases
    assert TrainConfig.from_dict(old_layout).sampling == training_sampling(temperature=0.5, precision="float32")
    with pytest.raises(ValueError, match="unknown sampling keys: 'temprature'.*Did you mean 'temperature'"):
        TrainConfig.from_dict({"sampling": {"temprature": 0.5}})
    with pytest.raises(ValueError, match="more_smooth must be False for training"):
        TrainConfig(sampling={"more_smooth": True})


def test_the_sample_grid_captions_each_row_with_its_condition(tmp_path, monkeypatch):
    """One row per condition, its caption left of the row (a prompt can be far wider than a tile)."""
    import vargym.data.grid as grid

    trainer = Trainer(TrainConfig(model="random:tiny-llamagen", reward="luma", num_labels=2, group_size=2,
                                  minibatch_size=2, steps=1, sample_every=0, eval_per_label=3, tensorboard=False,
                                  out=str(tmp_path), eval_labels=(4, 7)))
    calls = []
    original = grid.grid_image
    monkeypatch.setattr(grid, "grid_image", lambda *a, **k: calls.append(k) or original(*a, **k))
    trainer.evaluate(write_grid=True)
    (kwargs,) = calls
    names = trainer.generator.condition_source().coerce([4, 7]).captions()
    assert kwargs["row_labels"] == [c[:48] for c in names] and kwargs["nrow"] == 3
    assert len(kwargs["labels"]) == 6 and all(float(label) >= 0 for label in kwargs["labels"])
    assert (tmp_path / "samples" / "iter_000000.png").is_file()
