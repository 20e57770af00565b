"""Image rewards: the registry, built-in rewards, reward models and wrappers.

A reward maps images ``[N, 3, H, W]`` float in [0, 1] and a `RewardContext` to a score ``[N]``.
Build one by name or expression::

    reward = vargym.rewards.make("aesthetic+0.5*clip", device="cuda")
    out = reward(images, RewardContext(labels=labels))   # RewardOutput(total [N], components)

Built-ins: ``brightness`` (seed paper, binary), ``luma``, ``dark``, ``colorfulness``, ``contrast``,
``saturation``, ``sharpness``, ``jpeg``, ``aesthetic`` (LAION v2), ``aesthetic-v1``, ``clip``,
``loo-fid``, ``hpsv2``, ``brisque``, ``clip-iqa``, ``maniqa``, ``pickscore``, ``vlm-judge``, ``attr`` and
``text-fidelity`` (the embedded text-to-image world's attribute classifiers). Importing this package is cheap: open_clip/torchvision load only when a model is built.
This package imports nothing from envs, algos or models.
"""

from vargym.rewards import (  # noqa: F401 - registration
    aesthetic,
    attributes,
    brightness,
    classical,
    clip_score,
    geneval,
    hps,
    iqa,
    loo_fid,
    maniqa,
    pickscore,
    vlm_judge,
)
from vargym.rewards.base import (
    FunctionReward,
    NonFiniteRewardError,
    Reward,
    RewardContext,
    RewardOutput,
    resize_for,
)
from vargym.rewards.clip_models import ClipBackbone, load_clip
from vargym.rewards.registry import CombinedReward, list_rewards, make, parse_expression, register
from vargym.rewards.wrappers import (
    ClipReward,
    RewardWrapper,
    RunningNormalizeReward,
    ScaleReward,
    ThresholdReward,
)

__all__ = [
    "ClipBackbone",
    "ClipReward",
    "CombinedReward",
    "FunctionReward",
    "NonFiniteRewardError",
    "Reward",
    "RewardContext",
    "RewardOutput",
    "RewardWrapper",
    "RunningNormalizeReward",
    "ScaleReward",
    "ThresholdReward",
    "list_rewards",
    "load_clip",
    "make",
    "parse_expression",
    "register",
    "resize_for",
]
