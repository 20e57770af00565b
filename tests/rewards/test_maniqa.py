"""MANIQA against the official IIGROUP/MANIQA code (a tiny random configuration it was run on), and the reward."""

from pathlib import Path

import pytest
import torch

from vargym.errors import CheckpointError, WeightsNotAvailableError
from vargym.rewards import make
from vargym.rewards.maniqa import MANIQAConfig, load_maniqa

GOLDEN = Path(__file__).with_name("data") / "maniqa_tiny_golden.pt"


@pytest.fixture(scope="module")
def golden():
    return torch.load(GOLDEN, weights_only=True)


def _config(tiny_maniqa) -> MANIQAConfig:
    return MANIQAConfig.from_dict(tiny_maniqa[1])


def test_scores_equal_the_official_code(golden, tiny_maniqa):
    model = load_maniqa(tiny_maniqa[0], _config(tiny_maniqa))
    with torch.no_grad():
        scores = model(golden["crops"])
    assert golden["scores"].abs().min() > 0.05  # the golden exercises the whole head, not a ReLU-clipped 0
    # other CPUs round differently; dropping the shift masks alone moves the scores by 0.02
    torch.testing.assert_close(scores, golden["scores"], rtol=0, atol=2e-3)


def test_reward_averages_five_crops(tiny_maniqa):
    checkpoint, config = tiny_maniqa
    reward = make("maniqa", weights_path=checkpoint, config=config)  # a dict, as --reward-arg passes it
    images = torch.rand(2, 3, 40, 48)
    crops = reward.crops(images)
    assert crops.shape == (10, 3, 32, 32) and crops.min() >= -1 and crops.max() <= 1
    torch.testing.assert_close(crops[4], (images[0, :, 4:36, 8:40] - 0.5) / 0.5)  # the centre crop, last
    torch.testing.assert_close(crops[6], (images[1, :, :32, 16:] - 0.5) / 0.5)  # top right of image 1
    with torch.no_grad():
        per_crop = reward.model(crops).view(2, 5)
    torch.testing.assert_close(reward(images).total, per_crop.mean(1))
    small = make("maniqa", weights_path=checkpoint, config=_config(tiny_maniqa), num_crops=1)
    assert small.crops(torch.rand(3, 3, 16, 16)).shape == (3, 3, 32, 32)  # upscaled to one crop


def test_errors(golden, tiny_maniqa, tmp_path):
    checkpoint, config = tiny_maniqa
    with pytest.raises(WeightsNotAvailableError, match=r"ckpt_koniq10k\.pt.*maniqa\.weights_path=PATH"):
        make("maniqa")
    with pytest.raises(WeightsNotAvailableError, match=r"MANIQA_PIPAL-ae6d356b\.pth"):
        make("maniqa", checkpoint="pipal")
    with pytest.raises(ValueError, match=r"checkpoint must be one of \['kadid', 'koniq', 'pipal'\]"):
        make("maniqa", checkpoint="live")
    with pytest.raises(ValueError, match="num_crops must be 1"):
        make("maniqa", weights_path=checkpoint, config=config, num_crops=20)
    with pytest.raises(ValueError, match=r"unknown MANIQA config fields \['width'\]"):
        make("maniqa", weights_path=checkpoint, config={"width": 3})
    state = dict(golden["state_dict"])
    state.pop("conv1.weight")
    torch.save(state, tmp_path / "partial.pt")
    with pytest.raises(CheckpointError, match=r"missing \['conv1.weight'\]"):
        load_maniqa(tmp_path / "partial.pt", _config(tiny_maniqa))
    torch.save(torch.nn.Linear(2, 2), tmp_path / "pickled.pt")  # a whole pickled module, as the PIPAL release
    with pytest.raises(CheckpointError, match="cannot be loaded safely"):
        load_maniqa(tmp_path / "pickled.pt", _config(tiny_maniqa))
