"""vargym: fine-tune autoregressive image generators (next-scale VAR, next-token LlamaGen) with RL.

Subpackages (data flows one way, top to bottom):

- ``vargym.models``  the generator interface; VAR and LlamaGen (tokenizers, transformers, official loading)
- ``vargym.data``    procedural class-conditional images, image folders, the tiny classifier
- ``vargym.rewards`` reward registry, built-in rewards, reward models and wrappers
- ``vargym.envs``    the batched generation core, gymnasium / torchrl adapters, the grouped collector
- ``vargym.algos``   GRPO, PPO, REINFORCE losses (TensorDict in, TensorDict out; no model code)
- ``vargym.train``   the RL trainer (one process, or data parallel under torchrun)
- ``vargym.cli``     the ``vargym`` command line

Imports are lazy: ``import vargym`` loads nothing heavy. It registers the gymnasium id ``vargym/VAR-v0``
(string entry points), so ``gymnasium.make("vargym/VAR-v0", model=..., reward=...)`` works after it.
"""

from vargym.registration import ENV_ID, register_envs

__version__ = "0.1.0"
__all__ = ["ENV_ID", "__version__"]

register_envs()
