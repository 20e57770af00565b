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
