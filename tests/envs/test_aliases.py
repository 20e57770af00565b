"""Earlier public names still work for a release, and say what replaced them."""

import pytest

import vargym.envs
import vargym.envs.policy

ALIASES = {"VAREnv": "GenerationEnv", "VARVectorEnv": "GenerationVectorEnv", "VARTorchRLEnv": "GenerationTorchRLEnv",
           "VARPolicy": "GeneratorPolicy"}


@pytest.mark.parametrize("old, new", sorted(ALIASES.items()))
def test_old_names_warn_and_resolve(old, new):
    with pytest.warns(DeprecationWarning, match=f"vargym.envs.{old} is deprecated: use vargym.envs.{new}"):
        assert getattr(vargym.envs, old) is getattr(vargym.envs, new)


def test_policy_module_keeps_its_old_name():
    with pytest.warns(DeprecationWarning, match="VARPolicy is deprecated"):
        assert vargym.envs.policy.VARPolicy is vargym.envs.policy.GeneratorPolicy


def test_renamed_keywords_and_attributes_warn_and_work(tiny):
    import torch

    from vargym.envs import GenerationTorchRLEnv, GroupedCollector, make_core

    with pytest.warns(DeprecationWarning, match=r"make_core\(labels=\) is deprecated: use conditions="):
        core = make_core(tiny, "luma", num_envs=2, labels=[3, 5])
    assert core.source.pool.tolist() == [3, 5]
    with pytest.warns(DeprecationWarning, match=r"reset\(labels=\) is deprecated: use condition="):
        assert core.reset(labels=torch.tensor([3, 5])).labels.tolist() == [3, 5]
    with pytest.warns(DeprecationWarning, match="GenerationCore.label_generator is deprecated"):
        assert core.label_generator is core.condition_generator
    with pytest.raises(TypeError, match="pass conditions= .labels= is its deprecated name., not both"):
        make_core(tiny, "luma", labels=[1], conditions=[1])
    with pytest.warns(DeprecationWarning, match=r"GroupedCollector.__init__\(labels=\)"):
        collector = GroupedCollector(tiny, "luma", num_labels=1, group_size=2, labels=[4])
    with pytest.warns(DeprecationWarning, match="GroupedCollector.labels is deprecated"):
        assert collector.labels == [4]
    env = GenerationTorchRLEnv(num_envs=2, model=tiny, reward="luma")
    with pytest.warns(DeprecationWarning, match="pin_labels is deprecated: use pin_conditions"):
        env.pin_labels(torch.tensor([1, 2]))


def test_renamed_model_names_warn_and_work():
    import torch

    from vargym.evaluation.config import EvalConfig
    from vargym.models import build_preset

    _, gpt = build_preset("tiny-llamagen")
    with pytest.warns(DeprecationWarning, match=r"sample\(labels=\) is deprecated: use cond="):
        assert gpt.sample(labels=torch.tensor([1]), top_k=1).shape == (1, gpt.block_size)
    with pytest.warns(DeprecationWarning, match="EvalConfig.temperature is deprecated"):
        assert EvalConfig().temperature == 0.7
    from vargym.models.var import loading

    with pytest.warns(DeprecationWarning, match="loading.load_pretrained is deprecated"), pytest.raises(ValueError):
        loading.load_pretrained("var-d99")
