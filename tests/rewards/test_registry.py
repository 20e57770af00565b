"""Registry, expressions, validation, NaN policy, and a sweep over every registered reward."""

import re

import pytest
import torch

import vargym.rewards as rewards
from vargym.rewards import (
    NonFiniteRewardError,
    Reward,
    RewardContext,
    RewardOutput,
    list_rewards,
    make,
    parse_expression,
    register,
    resize_for,
)
from vargym.rewards import registry as registry_module


@pytest.fixture
def scratch_names():
    """Names registered by a test are removed afterwards."""
    before = set(registry_module._REGISTRY)
    yield
    for name in set(registry_module._REGISTRY) - before:
        del registry_module._REGISTRY[name]


def redness(images, context, gain=1.0):
    """Module-level reward function, also used as a dotted entry point."""
    return gain * images[:, 0].mean(dim=(1, 2))


class Constant(Reward):
    def __init__(self, value=1.0):
        super().__init__()
        self.value = value

    def score(self, images, context):
        return torch.full((images.shape[0],), self.value)


def test_builtins_registered():
    names = list_rewards()
    for name in [
        "brightness",
        "luma",
        "dark",
        "colorfulness",
        "contrast",
        "saturation",
        "sharpness",
        "jpeg",
        "aesthetic",
        "aesthetic-v1",
        "clip",
        "loo-fid",
    ]:
        assert name in names
    assert names == sorted(names)


def test_register_function_with_defaults(scratch_names):
    register("test-red", redness, gain=2.0)
    images = torch.zeros(2, 3, 4, 4)
    images[0, 0] = 1.0
    out = make("test-red")(images)
    assert isinstance(out, RewardOutput)
    assert out.total.tolist() == [2.0, 0.0] and list(out.components) == ["test-red"]
    assert make("test-red", gain=3.0)(images).total.tolist() == [3.0, 0.0]


def test_register_decorator_class_and_factory(scratch_names):
    @register("test-const", value=5.0)
    class Five(Constant):
        pass

    @register("test-factory", factory=True)
    def build(value=2.0):
        return Constant(value)

    assert make("test-const")(torch.rand(3, 3, 4, 4)).total.tolist() == [5.0] * 3
    assert make("test-factory", value=7.0)(torch.rand(1, 3, 4, 4)).total.tolist() == [7.0]
    assert make("test-const").name == "test-const"


def test_register_duplicate_and_bad_name(scratch_names):
    register("test-dup", redness)
    with pytest.raises(ValueError, match="'test-dup' is already registered"):
        register("test-dup", redness)
    register("test-dup", redness, override=True, gain=4.0)
    with pytest.raises(ValueError, match="reward name must match"):
        register("2bad name", redness)


def test_dotted_entry_points(scratch_names):
    images = torch.rand(2, 3, 4, 4)
    direct = make("tests.rewards.test_registry:redness", gain=2.0)(images).total
    torch.testing.assert_close(direct, 2.0 * images[:, 0].mean(dim=(1, 2)))
    assert make("tests.rewards.test_registry:Constant", value=3.0)(images).total.tolist() == [3.0, 3.0]
    register("test-lazy", "tests.rewards.test_registry:redness")
    torch.testing.assert_close(make("test-lazy")(images).total, images[:, 0].mean(dim=(1, 2)))
    with pytest.raises(ValueError, match="has no attribute 'nope'"):
        make("tests.rewards.test_registry:nope")
    with pytest.raises(ValueError, match="cannot import module 'no_such_pkg.mod'"):
        make("no_such_pkg.mod:fn")


def test_unknown_name_suggests():
    with pytest.raises(ValueError, match=re.escape("unknown reward 'brightnes'. Did you mean 'brightness'?")):
        make("brightnes")
    with pytest.raises(ValueError, match="Registered rewards: .*aesthetic.*luma"):
        make("zzz")


def test_bad_kwargs_name_the_reward():
    with pytest.raises(ValueError, match="bad arguments for reward 'clip'"):
        make("clip", no_such_option=1)


@pytest.mark.parametrize(
    ("spec", "terms"),
    [
        ("aesthetic+0.5*clip", [(1.0, "aesthetic"), (0.5, "clip")]),
        ("brightness-0.1*contrast", [(1.0, "brightness"), (-0.1, "contrast")]),
        ("aesthetic-v1 - loo-fid", [(1.0, "aesthetic-v1"), (-1.0, "loo-fid")]),
        (" -2*luma + 1e-1 * dark ", [(-2.0, "luma"), (0.1, "dark")]),
        ("pkg.mod:fn+.5*luma", [(1.0, "pkg.mod:fn"), (0.5, "luma")]),
    ],
)
def test_parse_expression(spec, terms):
    assert parse_expression(spec) == terms


@pytest.mark.parametrize("spec", ["luma +", "luma luma", "0.5*", "luma*0.5", ""])
def test_parse_expression_errors(spec):
    with pytest.raises(ValueError, match="cannot parse reward spec|empty reward spec"):
        parse_expression(spec)


def test_weighted_sum_matches_components():
    images = torch.rand(4, 3, 8, 8)
    out = make("brightness-0.1*contrast")(images)
    assert set(out.components) == {"brightness", "contrast"}
    torch.testing.assert_close(out.total, out.components["brightness"] - 0.1 * out.components["contrast"])
    combined = make("luma + 2*luma")(images)
    assert set(combined.components) == {"luma", "luma#2"}
    torch.testing.assert_close(combined.total, 3 * make("luma")(images).total)


def test_expression_kwargs_per_term():
    images = torch.full((2, 3, 4, 4), 0.6)
    out = make("luma+brightness", brightness={"threshold": 0.5})(images)
    assert out.components["brightness"].tolist() == [1.0, 1.0]
    with pytest.raises(ValueError, match=r"arguments \['threshold'\] match no term"):
        make("luma+brightness", threshold=0.5)


def test_normalize_standardises_each_term():
    torch.manual_seed(0)
    images = torch.rand(8, 3, 8, 8)
    out = make("colorfulness+0.5*luma", normalize=True)(images)
    raw = out.components
    z = lambda x: (x.double() - x.double().mean()) / x.double().var(unbiased=False).sqrt()  # noqa: E731
    expected = (z(raw["colorfulness"]) + 0.5 * z(raw["luma"])).float()
    torch.testing.assert_close(out.total, expected, atol=1e-4, rtol=1e-4)
    assert raw["colorfulness"].mean() > 50  # components stay raw


class _Parts(Reward):
    """A term whose components are its parts, not its own total (as `attr`'s are)."""

    def __init__(self):
        super().__init__(name="parts")

    def score(self, images, context):
        a, b = images.mean(dim=(1, 2, 3)), images[:, 0].amax(dim=(1, 2))
        return {"total": a + b, "part_a": a, "part_b": b}


@pytest.mark.parametrize("normalize", ["none", "running", "group"])
def test_each_terms_raw_total_is_logged_under_every_normalisation(normalize):
    from vargym.rewards import RewardContext
    from vargym.rewards.registry import CombinedReward

    torch.manual_seed(0)
    images = torch.rand(8, 3, 8, 8)
    combined = CombinedReward([(1.0, _Parts()), (0.5, make("luma"))], normalize=normalize)
    out = combined(images, RewardContext(group_size=4))
    raw = _Parts()(images).total
    torch.testing.assert_close(out.components["parts"], raw)  # the raw total, not the normalised one
    if normalize == "running":  # the first batch is standardised by itself
        z = lambda x: (x.double() - x.double().mean()) / x.double().var(unbiased=False).sqrt()  # noqa: E731
        torch.testing.assert_close(out.total, (z(raw) + 0.5 * z(out.components["luma"])).float(), atol=1e-4, rtol=1e-4)


class _Bad(Reward):
    def __init__(self, result):
        super().__init__(name="bad")
        self.result = result

    def score(self, images, context):
        return self.result


def test_wrong_shape_names_reward_and_shape():
    with pytest.raises(
        ValueError, match=re.escape("reward 'bad' returned shape (2, 1) for 'total', expected (2,)")
    ):
        _Bad(torch.zeros(2, 1))(torch.rand(2, 3, 4, 4))
    with pytest.raises(ValueError, match="expects images"):
        make("luma")(torch.rand(2, 4, 4))


def test_nan_policies():
    values = torch.tensor([1.0, float("nan"), -2.0, float("inf")])
    images = torch.rand(4, 3, 4, 4)
    with pytest.raises(NonFiniteRewardError, match="reward 'bad' .* 2 non-finite value"):
        _Bad(values)(images)
    zero = _Bad(values)
    zero.nan_policy = "zero"
    assert zero(images).total.tolist() == [1.0, 0.0, -2.0, 0.0]
    low = make(_Bad(values), nan_policy="min")
    assert low(images).total.tolist() == [1.0, -2.0, -2.0, -2.0]
    with pytest.raises(ValueError, match="nan_policy must be one of"):
        make("luma", nan_policy="ignore")


def test_nan_policy_reaches_expression_terms():
    reward = make("luma+luma", nan_policy="zero")
    assert all(r.nan_policy == "zero" for r in reward.modules() if isinstance(r, Reward))


def test_dict_rewards_sum_components():
    def parts(images, context):
        return {"a": images.new_ones(images.shape[0]), "b": images.new_full((images.shape[0],), 2.0)}

    out = make(parts)(torch.rand(3, 3, 4, 4))
    assert out.total.tolist() == [3.0] * 3 and set(out.components) == {"a", "b"}


def test_rewards_stay_in_eval_mode():
    reward = make("luma")
    reward.train()
    assert not reward.training


def test_resize_for():
    images = torch.rand(2, 3, 32, 48)
    out = resize_for(images, 16)
    assert out.shape == (2, 3, 16, 16)
    assert resize_for(images, None) is images
    square = torch.rand(1, 3, 16, 16)
    assert resize_for(square, 16) is square
    flat = torch.full((1, 3, 40, 40), 0.25)
    torch.testing.assert_close(resize_for(flat, 24), torch.full((1, 3, 24, 24), 0.25))


def _sweep_kwargs(name, tiny_clip, v2_head, v1_dir, brisque_svr, judge, tiny_pickscore, tiny_maniqa, tiny_rn_clip,
                  attr_dir):
    model, path = tiny_clip
    clip = {"clip_model": model, "weights_path": path}
    return {
        "aesthetic": {**clip, "head_path": v2_head},
        "aesthetic-v1": {**clip, "head_path": v1_dir / "sa_0_4_vit_l_14_linear.pth"},
        "clip": clip,
        "hpsv2": clip,
        "clip-iqa": {"clip_model": tiny_rn_clip[0], "weights_path": tiny_rn_clip[1]},
        "attr": {"classifier": attr_dir},
        "geneval": {"detector": lambda images: [[{"class": "circle", "box": [0, 0, 8, 8], "score": 0.9}]] * len(images)},
        "text-fidelity": {"classifier": attr_dir},
        "brisque": {"weights_path": brisque_svr},
        "vlm-judge": {"base_url": judge.url},
        "pickscore": {"weights_path": tiny_pickscore},
        "maniqa": {"weights_path": tiny_maniqa[0], "config": tiny_maniqa[1]},
    }.get(name, {})


@pytest.fixture(scope="module")
def attr_dir(tmp_path_factory):
    """A random attribute classifier (the attr rewards' layout) in a folder."""
    from vargym.data.attributes import NUM_LOGITS
    from vargym.data.classifier import ClassifierConfig, TinyClassifier, save_classifier

    torch.manual_seed(0)
    folder = tmp_path_factory.mktemp("attr")
    save_classifier(TinyClassifier(ClassifierConfig(num_classes=NUM_LOGITS, input_size=32)), folder)
    return str(folder)


@pytest.mark.parametrize("name", rewards.list_rewards())
def test_every_registered_reward_runs(name, tiny_clip, v2_head, v1_dir, brisque_svr, judge, tiny_pickscore,
                                     tiny_maniqa, tiny_rn_clip, attr_dir):
    kwargs = _sweep_kwargs(name, tiny_clip, v2_head, v1_dir, brisque_svr, judge, tiny_pickscore, tiny_maniqa,
                           tiny_rn_clip, attr_dir)
    reward = make(name, **kwargs)
    images = torch.rand(3, 3, 32, 32)
    geneval = {"tag": "single_object", "include": [{"class": "circle", "count": 1}]}
    metadata = [{"shape": "circle", "color": "red", "background": "white", "size": "small", **geneval},
                {"shape": "star", "color": "blue", "background": "black", **geneval},
                {"shape": "gradient", "color": "pink", "background": "teal", **geneval}]
    out = reward(images, RewardContext(labels=torch.tensor([0, 1, 2]), metadata=metadata))
    assert out.total.shape == (3,) and out.total.dtype == torch.float32
    assert torch.isfinite(out.total).all()
    for value in out.components.values():
        assert value.shape == (3,)
    assert reward.input_size is None or isinstance(reward.input_size, int)


@pytest.mark.parametrize("height, width", [(480, 640), (64, 96), (96, 64), (31, 47), (300, 301), (224, 225)])
@pytest.mark.parametrize("mode", ["bilinear", "bicubic"])
def test_resize_and_crop_is_torchvisions(height, width, mode):
    """The geometry of torchvision's Resize(size) + CenterCrop(size), which CLIP's preprocessing uses: the long
    side truncated (640x480 -> 298, not 299), torchvision's crop offset; values equal its tensor path."""
    import torchvision.transforms.functional as TF
    from torchvision.transforms import InterpolationMode

    from vargym.rewards.base import resize_shorter_and_crop

    images = torch.rand(2, 3, height, width, generator=torch.Generator().manual_seed(height * width))
    interpolation = InterpolationMode.BILINEAR if mode == "bilinear" else InterpolationMode.BICUBIC
    resized = TF.resize(images, 224, interpolation=interpolation, antialias=True)
    reference = TF.center_crop(resized, 224)
    ours = resize_shorter_and_crop(images, 224, mode)
    assert ours.shape == reference.shape == (2, 3, 224, 224)
    torch.testing.assert_close(ours, reference, atol=1e-6, rtol=0)
    if mode == "bilinear":
        torch.testing.assert_close(resize_for(images, 224), reference, atol=1e-6, rtol=0)


def test_group_normalisation_standardises_each_term_within_its_group():
    """normalize="group" (GDPO): sum_m w_m (x_m - mean_g(x_m)) / (std_g(x_m) + eps), each term's raw value logged."""
    import torch

    from vargym.rewards import RewardContext, make

    images = torch.rand(6, 3, 8, 8)
    reward = make("brightness+0.5*colorfulness", normalize="group")
    out = reward(images, RewardContext(group_size=3))
    raw = {name: make(name)(images).total for name in ("brightness", "colorfulness")}
    expected = torch.zeros(6)
    for weight, name in ((1.0, "brightness"), (0.5, "colorfulness")):
        g = raw[name].view(2, 3)
        expected += weight * ((g - g.mean(1, keepdim=True)) / (g.std(1, keepdim=True) + 1e-4)).view(-1)
    torch.testing.assert_close(out.total, expected)
    torch.testing.assert_close(out.components["brightness"], raw["brightness"])
    torch.testing.assert_close(out.components["colorfulness"], raw["colorfulness"])
    flat = make("brightness", normalize="group")(torch.full((4, 3, 8, 8), 0.5), RewardContext(group_size=2))
    assert torch.equal(flat.total, torch.zeros(4))  # a flat group adds nothing
    raw_sum = raw["brightness"] + 0.5 * raw["colorfulness"]
    torch.testing.assert_close(reward(images, RewardContext()).total, raw_sum)  # no groups (evaluation): raw terms
    with pytest.raises(ValueError, match="without a group size dividing 6"):
        reward(images, RewardContext(group_size=4))
    with pytest.raises(ValueError, match="normalize must be one of"):
        make("brightness+contrast", normalize="batch")
