"""TrainConfig: paper defaults, validation messages, config files, CLI help text."""

from __future__ import annotations

import pytest

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
