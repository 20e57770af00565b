"""vargym: fine-tune next-scale visual autoregressive (VAR) image generators with reinforcement learning.

Subpackages (data flows one way, top to bottom):

- ``vargym.models``  multi-scale VQ-VAE, VAR transformer, loading of official checkpoints
- ``vargym.data``    procedural class-conditional images, image folders, the tiny classifier
- ``vargym.rewards`` reward registry, built-in rewards, reward models and wrappers
- ``vargym.envs``    the batched generation core, gymnasium / torchrl adapters, the grouped collector
- ``vargym.algos``   GRPO, PPO, REINFORCE losses (TensorDict in, TensorDict out; no VAR code)
- ``vargym.train``   the RL trainer and pretraining loops
- ``vargym.cli``     the ``vargym`` command line

Imports are lazy: ``import vargym`` loads nothing heavy. It registers the gymnasium id ``vargym/VAR-v0``
(string entry points), so ``gymnasium.make("vargym/VAR-v0", model=..., reward=...)`` works after it.
"""

from vargym.registration import ENV_ID, register_envs

__version__ = "0.1.0"
__all__ = ["ENV_ID", "__version__"]

register_envs()
