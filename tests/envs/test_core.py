"""GenerationCore: label draws, grouping, validation, the terminal decode + reward, errors."""

import pytest
import torch

from vargym.envs.core import EpisodeEndedError, make_core
from vargym.rewards import FunctionReward, NonFiniteRewardError


def _zeros(core, k):
    return torch.zeros(core.num_envs, core.step_sizes[k], dtype=torch.long)


def test_reset_draws_groups_from_allowed_subset(tiny):
    core = make_core(tiny[0], "luma", num_envs=12, conditions=[2, 7], group_size=3, num_classes=10)
    labels = core.reset(generator=torch.Generator().manual_seed(1)).labels
    assert labels.shape == (12,)
    assert set(labels.tolist()) <= {2, 7}
    assert torch.equal(labels.view(4, 3), labels.view(4, 3)[:, :1].expand(4, 3))
    assert (core.canvas == -1).all() and core.current_step == 0


def test_reset_takes_labels_and_rejects_bad_ones(tiny):
    core = make_core(tiny, "luma", num_envs=2)
    assert core.reset(torch.tensor([3, 9])).labels.tolist() == [3, 9]
    with pytest.raises(ValueError, match=r"labels must lie in \[0, 10\)"):
        core.reset(torch.tensor([3, 10]))
    with pytest.raises(ValueError, match=r"labels must be integers of shape \(2,\)"):
        core.reset(torch.tensor([1, 2, 3]))
    with pytest.raises(ValueError, match=r"labels must lie in \[0, 10\)"):
        make_core(tiny, "luma", conditions=[-1, 3])
    with pytest.raises(ValueError, match="group_size must be >= 1 and divide num_envs=4"):
        make_core(tiny, "luma", num_envs=4, group_size=3)


def test_step_rewards_only_at_the_end_and_keeps_images(tiny):
    seen = {}

    def probe(images, context):
        seen["shape"], seen["labels"] = tuple(images.shape), context.labels.tolist()
        return {"a": images.mean(dim=(1, 2, 3)), "b": torch.ones(images.shape[0])}

    core = make_core(tiny, FunctionReward(probe, name="probe", input_size=32), num_envs=3)
    core.reset(torch.tensor([0, 1, 2]))
    for k in range(core.num_steps):
        tokens = torch.full((3, core.step_sizes[k]), k, dtype=torch.long)
        reward, terminated = core.step(tokens)
        assert terminated == (k == core.num_steps - 1)
        if not terminated:
            assert torch.equal(reward, torch.zeros(3))
    assert seen == {"shape": (3, 3, 32, 32), "labels": [0, 1, 2]}  # resized once to input_size
    assert core.last_images.shape == (3, 3, 64, 64)
    expected = tiny[0].tokens_to_img(core.layout.split(core.canvas))
    torch.testing.assert_close(core.last_images, expected)
    assert set(core.last_output.components) == {"a", "b"}
    torch.testing.assert_close(reward, core.last_output.components["a"] + 1)
    assert core.canvas[:, core.begin_ends[2][0]].tolist() == [2, 2, 2]


def test_step_validates_shape_and_ids(tiny):
    core = make_core(tiny, "luma", num_envs=2)
    core.reset(torch.tensor([0, 1]))
    with pytest.raises(ValueError, match=r"step 0 must be an integer tensor of shape \(2, 1\)"):
        core.step(torch.zeros(2, 4, dtype=torch.long))
    with pytest.raises(ValueError, match=r"step 0 must be an integer tensor"):
        core.step(torch.zeros(2, 1))
    with pytest.raises(ValueError, match=r"must lie in \[0, 512\) \(vocab size 512\)"):
        core.step(torch.full((2, 1), 512))
    assert core.current_step == 0  # nothing was appended


def test_step_after_end_or_before_reset_raises(tiny):
    core = make_core(tiny, "luma", num_envs=1)
    with pytest.raises(EpisodeEndedError, match="call reset"):
        core.step(_zeros(core, 0))
    core.reset()
    for k in range(core.num_steps):
        core.step(_zeros(core, k))
    with pytest.raises(EpisodeEndedError, match=f"all {core.num_steps} steps generated"):
        core.step(_zeros(core, 0))


def test_nan_reward_error_names_the_reward(tiny):
    nan = FunctionReward(lambda images, context: torch.full((images.shape[0],), float("nan")), name="nanny")
    core = make_core(tiny, nan, num_envs=2)
    core.reset()
    for k in range(core.num_steps - 1):
        core.step(_zeros(core, k))
    with pytest.raises(NonFiniteRewardError, match="reward 'nanny'"):
        core.step(_zeros(core, core.num_steps - 1))
    nan.nan_policy = "zero"
    core.reset()
    for k in range(core.num_steps):
        reward, _ = core.step(_zeros(core, k))
    assert torch.equal(reward, torch.zeros(2))


def test_model_kwarg_forms(tiny):
    vqvae, var = tiny
    assert make_core(var, "luma").generator.decoder is vqvae
    assert make_core(vqvae, "luma", num_classes=4).source.num_conditions == 4
    with pytest.raises(ValueError, match="num_classes is needed when no VAR is given"):
        make_core(vqvae, "luma")
    assert make_core("random:tiny", "luma").source.num_conditions == 10  # a load_model spec
    with pytest.raises(TypeError, match="model must be a"):
        make_core(42, "luma")
    with pytest.raises(ValueError, match="unknown reward 'lumaa'"):
        make_core(tiny, "lumaa")


def test_intermediate_rewards_score_the_partial_canvas(tiny):
    import vargym.rewards

    core = make_core(tiny, "luma", num_envs=2, reward_steps=[1, 3])
    core.reset(torch.tensor([0, 1]))
    rewards = []
    for k in range(core.num_steps):
        tokens = torch.full((2, core.step_sizes[k]), k + 1, dtype=torch.long)
        rewards.append(core.step(tokens)[0])
    luma = vargym.rewards.make("luma")
    for k in (1, 3):
        end = core.begin_ends[k][1]
        expected = luma(core.generator.decode_partial(core.canvas[:, :end], k + 1)).total
        torch.testing.assert_close(rewards[k], expected)
        assert not torch.equal(rewards[k], torch.zeros(2))
    assert torch.equal(rewards[0], torch.zeros(2)) and torch.equal(rewards[2], torch.zeros(2))
    full = core.generator.decode_partial(core.canvas, core.num_steps)
    torch.testing.assert_close(full, core.last_images)  # all steps: the finished image
    with pytest.raises(ValueError, match="reward_steps must be env steps in 0..4"):
        make_core(tiny, "luma", reward_steps=[5])
