"""Reward-hacking monitors: the flag's rule, and a run built to hack its reward raises it."""

from __future__ import annotations

import pytest
import torch

from vargym.train import TrainConfig, Trainer
from vargym.train.monitor import HackingMonitor, diversity_metrics


def test_flag_needs_a_rising_reward_and_a_falling_gold_or_diversity():
    monitor = HackingMonitor(window=2, threshold=0.1)
    series = [(0.1, 0.9, 0.3), (0.2, 0.9, 0.3), (0.3, 0.85, 0.29)]  # reward up, gold -5.6%: below threshold
    assert [monitor.update({"eval_reward_mean": r, "gold": g, "diversity_within": d})["hacking_flag"]
            for r, g, d in series] == [0, 0, 0]
    assert monitor.update({"eval_reward_mean": 0.4, "gold": 0.7, "diversity_within": 0.3})["hacking_flag"] == 1
    falling = HackingMonitor(window=1, threshold=0.1)
    falling.update({"eval_reward_mean": 0.5, "gold": 0.9, "diversity_within": 0.3})
    out = falling.update({"eval_reward_mean": 0.4, "gold": 0.5, "diversity_within": 0.1})
    assert out["hacking_flag"] == 0 and out["gold_change"] == pytest.approx(-0.444, abs=1e-3)  # reward fell too
    collapse = HackingMonitor(window=1)
    collapse.update({"eval_reward_mean": 0.1, "diversity_within": 0.3})
    assert collapse.update({"eval_reward_mean": 0.2, "diversity_within": 0.1})["hacking_flag"] == 1  # no gold
    restored = HackingMonitor(window=1)
    restored.load_state_dict(collapse.state_dict())
    assert restored.history == collapse.history


def test_a_fall_must_also_exceed_the_measurement_noise():
    """0.75 -> 0.625 (-17%) on 32 images is 1.1 standard errors of the difference (SE of a mean of 0/1 scores
    about 0.08 each): noise, no flag; the same fall measured on 1000 images (SE 0.014) is 6.8 SE: flagged;
    noise_z=0 is the threshold alone."""
    def se(p, n):
        return (p * (1 - p) / n) ** 0.5

    for n, noise_z, flagged in ((32, 2.0, 0.0), (1000, 2.0, 1.0), (32, 0.0, 1.0)):
        monitor = HackingMonitor(window=1, threshold=0.1, noise_z=noise_z)
        monitor.update({"eval_reward_mean": 0.2, "gold": 0.75, "gold_se": se(0.75, n)})
        out = monitor.update({"eval_reward_mean": 0.5, "gold": 0.625, "gold_se": se(0.625, n)})
        assert out["hacking_flag"] == flagged, (n, noise_z)
        if noise_z:
            expected = 0.125 / (se(0.75, n) ** 2 + se(0.625, n) ** 2) ** 0.5
            assert out["gold_drop_z"] == pytest.approx(expected)
    missing = HackingMonitor(window=1, noise_z=2.0)  # no standard errors reported: the threshold alone
    missing.update({"eval_reward_mean": 0.2, "gold": 0.75})
    assert missing.update({"eval_reward_mean": 0.5, "gold": 0.6})["hacking_flag"] == 1.0
    with pytest.raises(ValueError, match="hacking_noise_z"):
        TrainConfig(hacking_noise_z=-1)


def test_diversity_standard_error_is_over_conditions():
    images = torch.zeros(6, 3, 8, 8)
    images[1], images[3], images[5] = 0.2, 0.4, 0.6  # per-condition within distances 0.2, 0.4, 0.6
    out = diversity_metrics(images, torch.tensor([0, 0, 1, 1, 2, 2]), pixel_size=8)
    assert out["diversity_within"] == pytest.approx(0.4)
    assert out["diversity_within_se"] == pytest.approx(0.2 / 3**0.5)  # std 0.2 of the three, over sqrt(3)


def test_diversity_within_and_across_groups():
    images = torch.zeros(4, 3, 8, 8)
    images[1] += 0.5
    images[2:] = 1.0  # label 1: two identical white images
    out = diversity_metrics(images, torch.tensor([0, 0, 1, 1]), pixel_size=8)
    assert out["diversity_within"] == pytest.approx(0.25)  # (0.5 + 0) / 2
    assert out["diversity_across"] > out["diversity_within"]


def test_a_run_that_hacks_its_reward_is_flagged_and_can_stop(tmp_path):
    """Training the shipped model on "dark" (an all-black image maximises it): the reward rises while the
    tiny classifier stops recognising the classes and the samples collapse onto one dark image."""
    config = TrainConfig(model="tiny", reward="dark", num_labels=2, group_size=8, minibatch_size=8, steps=8,
                         lr=1e-3, beta=0.0, log_kl_ref=False, eval_every=1, sample_every=0, eval_per_label=4,
                         checkpoint_every=0, tensorboard=False, sampling={"precision": "float32", "decode_precision": "float32"},
                         hacking_window=2, out=str(tmp_path / "run"), seed=0)
    history = Trainer(config).train()
    first, last = history[0], history[-1]
    # the first evaluation follows the first update (lr 1e-3 already moves it): ask the reward to close at
    # least half of what remained to its maximum 1.0, rather than a fixed rise
    assert last["eval_reward_mean"] - first["eval_reward_mean"] > 0.5 * (1.0 - first["eval_reward_mean"])
    # margins from seeds 0-3 with both token draws: gold fell to 0.0-0.68x, diversity to 0.06-0.30x
    assert last["gold"] < 0.8 * first["gold"] and last["diversity_within"] < 0.5 * first["diversity_within"]
    assert last["hacking_flag"] == 1.0
    stopper = Trainer(config.replace(out=str(tmp_path / "stop"), stop_on_hacking=True))
    stopped = stopper.train()
    assert stopper.stopped_for_hacking and len(stopped) < 8 and stopped[-1]["hacking_flag"] == 1.0
    assert (tmp_path / "stop" / "checkpoints").is_dir()


def test_feature_space_diversity_ignores_a_global_brightness_change():
    """Brightening every image shrinks pixel distances, not the classifier features' view of what is shown."""
    from vargym.data.procedural import generate
    from vargym.models.files import TINY_DIR
    from vargym.train.monitor import build_feature_space

    features = build_feature_space("auto", 10, torch.device("cpu"))
    assert features is not None and (TINY_DIR / "classifier.json").is_file()
    labels = torch.arange(4).repeat_interleave(4)
    images = generate(labels, torch.Generator().manual_seed(0), image_size=64)
    bright = 0.7 + 0.3 * images  # the same pictures, washed out
    before, after = diversity_metrics(images, labels, features=features), diversity_metrics(bright, labels, features=features)
    pixel_fall = 1 - after["diversity_within_pixels"] / before["diversity_within_pixels"]
    feature_fall = 1 - after["diversity_within"] / before["diversity_within"]
    assert pixel_fall == pytest.approx(0.7, abs=0.01)  # pixel RMS scales with the contrast
    assert feature_fall < pixel_fall - 0.2
    assert build_feature_space("pixels", 10, torch.device("cpu")) is None
    assert build_feature_space("auto", 1000, torch.device("cpu")) is None  # no classifier knows ImageNet here
    with pytest.raises(ValueError, match="diversity_space 'classifier' needs a classifier"):
        build_feature_space("classifier", 1000, torch.device("cpu"))
