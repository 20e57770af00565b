"""TrainConfig: paper defaults, validation messages, config files, CLI help text."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import vargym
from vargym.models import training_defaults
from vargym.train.config import TrainConfig, field_help, load_config_file, resolve_config


def test_paper_defaults():
    c = TrainConfig()
    assert (c.algo, c.reward, c.model) == ("grpo", "brightness", "tiny")
    assert (c.num_labels, c.group_size, c.minibatch_size, c.batch_size) == (32, 16, 32, 512)
    assert (c.lr, c.temperature, c.cfg, c.top_k, c.top_p) == (1e-4, 0.7, 0.0, 0, 0.0)
    overrides = c.algo_overrides(num_conditions=10)
    assert overrides == {"group_size": 16}  # GRPO keeps its own defaults: beta 0.1, clip 0.2
    from vargym.algos import make_algorithm

    algo = make_algorithm("grpo", **overrides)
    assert (algo.config.beta, algo.config.clip_epsilon) == (0.1, 0.2)
    paper = TrainConfig(algo="var-grpo")  # the seed paper's KL weight
    assert make_algorithm("var-grpo", **paper.algo_overrides(num_conditions=10)).config.beta == 0.2


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"algo": "grpp"}, "unknown algorithm 'grpp'.*Did you mean 'grpo'"),
        ({"minibatch_size": 5}, r"minibatch_size \(5\) must divide num_labels \* group_size"),
        ({"group_size": 1, "minibatch_size": 1}, "group_size must be >= 2 for grpo"),
        ({"algo": "reinforce", "epochs": 2}, "epochs must be 1 for reinforce"),
        ({"steps": 0}, "steps must be >= 1"),
        ({"lr_schedule": "step"}, "lr_schedule must be one of"),
        ({"algo": "reinforce", "clip_epsilon": 0.1}, "clip_epsilon does not apply to reinforce"),
        ({"algo_kwargs": {"bogus": 1}}, r"algo_kwargs \['bogus'\] are not fields of grpo"),
        ({"beta": -1.0}, r"beta must be in \[0.0"),
        ({"labels": ()}, "labels must be None or a non-empty list"),
    ],
)
def test_validation(kwargs, match):
    with pytest.raises(ValueError, match=match):
        TrainConfig(**kwargs)


def test_reinforce_with_group_size_one_and_ema_is_fine():
    config = TrainConfig(algo="reinforce", group_size=1, minibatch_size=32)
    assert config.batch_size == 32 and "group_size" not in config.algo_overrides(None)  # G = 1: no group baseline
    from vargym.algos import make_algorithm

    assert make_algorithm("reinforce", **config.algo_overrides(None)).config.baseline == "ema"
    with pytest.raises(ValueError, match="group_size must be >= 2 for reinforce"):
        TrainConfig(algo="reinforce", group_size=1, minibatch_size=32, algo_kwargs={"baseline": "rloo"})


def test_dict_round_trip_and_unknown_keys():
    c = TrainConfig(labels=(0, 1), algo_kwargs={"normalize_std": False})
    assert TrainConfig.from_dict(c.to_dict()) == c
    with pytest.raises(ValueError, match="(?i)did you mean 'group_size'"):
        TrainConfig.from_dict({"group_sise": 4})


@pytest.mark.parametrize(
    "suffix, text",
    [
        (".toml", '[train]\nalgo = "ppo"\nlr = 0.001\nlabels = [0, 2]\n'),
        (".yaml", "algo: ppo\nlr: 0.001\nlabels: [0, 2]\n"),
    ],
)
def test_config_files_and_precedence(tmp_path, suffix, text):
    path = tmp_path / f"run{suffix}"
    path.write_text(text)
    assert load_config_file(path)["algo"] == "ppo"
    c = resolve_config(path, lr=0.01, seed=None)
    assert (c.algo, c.lr, c.labels, c.seed) == ("ppo", 0.01, (0, 2), 0)


def test_bad_config_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        load_config_file(tmp_path / "missing.toml")
    (tmp_path / "x.ini").write_text("")
    with pytest.raises(ValueError, match=r"must end in \.toml"):
        load_config_file(tmp_path / "x.ini")


def test_every_field_has_help():
    docs = field_help()
    assert set(docs) == set(TrainConfig.__dataclass_fields__)
    assert docs["lr"].startswith("AdamW learning rate") and "(default: 0.0001)" in docs["lr"]


def _model_with_training_table(folder, table):
    """A model directory whose model.json recommends ``table`` (no weights: training_defaults reads none)."""
    folder.mkdir()
    (folder / "model.json").write_text(json.dumps({"family": "var", "training": table}))
    return str(folder)


def test_a_model_s_training_defaults_sit_under_what_the_caller_sets(tmp_path):
    model = _model_with_training_table(tmp_path / "m", {"beta": 0.0, "steps": 7, "lr": 3e-4, "temperature": 1.0})
    assert training_defaults(model) == {"beta": 0.0, "steps": 7, "lr": 3e-4, "temperature": 1.0}
    c = TrainConfig.for_model(model=model, steps=3, sampling={"top_k": 5})
    assert (c.beta, c.steps, c.lr) == (0.0, 3, 3e-4)
    assert (c.sampling.temperature, c.sampling.top_k, c.sampling.precision) == (1.0, 5, "auto")
    assert TrainConfig.for_model(model=model, temperature=0.9).sampling.temperature == 0.9
    flat = TrainConfig.for_model(model=model, top_p=0.5).sampling  # a flat sampling key keeps the model's others
    assert (flat.temperature, flat.top_p) == (1.0, 0.5)
    path = tmp_path / "run.toml"
    path.write_text("[train]\nlr = 0.001\n")
    c = resolve_config(path, model=model, steps=None)
    assert (c.lr, c.steps, c.beta) == (0.001, 7, 0.0)
    assert TrainConfig(model=model).steps == TrainConfig().steps  # the dataclass itself reads no model


@pytest.mark.parametrize("algo, beta, clip_epsilon", [
    ("grpo", 0.0, 0.4),  # the algorithm the recommendation was made for
    ("ppo", 0.0, 0.4),  # takes both
    ("reinforce", 0.0, None),  # no ratio to clip: the recommended clip_epsilon would be refused
    ("var-grpo", 0.2, 0.4),  # its preset is a KL weight
    ("dapo", 0.0, 0.2),  # its preset sets both (beta 0, clip-higher 0.2 / 0.28)
    ("gspo", 0.0, 3e-4),
])
def test_a_model_s_algorithm_defaults_yield_to_an_algorithm_preset(tmp_path, algo, beta, clip_epsilon):
    model = _model_with_training_table(tmp_path / "m", {"beta": 0.0, "clip_epsilon": 0.4, "steps": 7})
    config = TrainConfig.for_model(model=model, algo=algo)
    assert config.steps == 7
    fields = config.algo_overrides()
    assert fields.get("beta") == beta
    assert fields.get("clip_epsilon") == clip_epsilon
    assert TrainConfig.for_model(model=model, algo="dapo", clip_epsilon=0.3).algo_overrides()["clip_epsilon"] == 0.3


def test_training_defaults_of_shipped_released_and_random_models():
    for name in ("tiny", "tiny-t2i"):
        shipped = json.loads((Path(vargym.__file__).parent / "assets" / name / "model.json").read_text())
        assert training_defaults(name) == shipped["training"] != {}
    assert TrainConfig.for_model().batch_size == 16 * 16  # the default run's batch: 16 labels x 16, not 32 x 16
    assert training_defaults("random:tiny-t2i") == training_defaults("var-d16") == {}
    assert TrainConfig.for_model().steps == TrainConfig().steps


@pytest.mark.parametrize("table, match", [({"stepz": 3}, "stepz"), ({"model": "tiny"}, "model"),
                                          ({"out": "x"}, "out")])
def test_bad_training_defaults_name_the_model_json(tmp_path, table, match):
    model = _model_with_training_table(tmp_path / "m", table)
    with pytest.raises(ValueError, match=f"model.json's 'training'.*{match}"):
        TrainConfig.for_model(model=model)
