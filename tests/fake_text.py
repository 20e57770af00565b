"""A fake text-conditional model family, registered as ``"fake-text"``: the proof that nothing above
`vargym.models` assumes class labels.

Each prompt of a fixed table has a random embedding (a stand-in for a frozen text encoder); a tiny causal
network predicts 16 raster tokens of 8 colours, four per env step; the decoder paints them as a 4 x 4 grid.
The family is registered like a real one (`vargym.models.registry`), so ``random:fake-text`` specs, saved
checkpoints and resume all go through the public loaders.
"""

from __future__ import annotations

import copy
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from vargym.models import (
    Condition,
    ConditionField,
    ConditionSource,
    Generator,
    RLForward,
    SamplingConfig,
    StepSampler,
    TokenLayout,
)
from vargym.models.generator import draw, keep_taken
from vargym.models.registry import FAMILIES, Family, register_family
from vargym.models.var.sampling import filter_logits

PROMPTS = ("a red square", "a blue circle, small", "green stripes!", "two cats; one dog", "a yellow sun",
           "night sky (stars)")
VOCAB, TOKENS, PER_STEP, WIDTH = 8, 16, 4, 32


@dataclass(frozen=True)
class PromptCondition(Condition):
    """Prompts ``[N]`` as indices into the family's prompt table."""

    prompt_ids: torch.Tensor
    prompts: tuple[str, ...] = field(default=PROMPTS, compare=False)

    def __len__(self) -> int:
        return self.prompt_ids.shape[0]

    def to(self, device: torch.device | str) -> PromptCondition:
        return PromptCondition(self.prompt_ids.to(device), self.prompts)

    def index(self, rows: torch.Tensor | slice) -> PromptCondition:
        return PromptCondition(self.prompt_ids[rows], self.prompts)

    def to_batch(self) -> dict[str, torch.Tensor]:
        return {"prompt_id": self.prompt_ids}

    @property
    def ids(self) -> torch.Tensor:
        return self.prompt_ids

    def captions(self) -> list[str]:
        return [self.prompts[i] for i in self.prompt_ids.tolist()]


class PromptSource(ConditionSource):
    """The prompt table, or the subset ``pool`` (prompt strings or indices)."""

    def __init__(self, prompts: tuple[str, ...] = PROMPTS, pool: Any = None) -> None:
        self.prompts = tuple(prompts)
        self.fields = (ConditionField("prompt_id", "prompt_id", len(self.prompts)),)
        if pool is None:
            self.pool = torch.arange(len(self.prompts))
        else:
            self.pool = torch.tensor([self.prompts.index(p) if isinstance(p, str) else int(p) for p in pool])

    @property
    def num_conditions(self) -> int:
        return len(self.prompts)

    @property
    def pool_size(self) -> int:
        return self.pool.numel()

    def pick(self, indices: torch.Tensor) -> PromptCondition:
        return PromptCondition(self.pool.to(indices.device)[indices], self.prompts)

    def from_batch(self, batch: Any) -> PromptCondition:
        return PromptCondition(batch["prompt_id"].long(), self.prompts)

    def coerce(self, value: Any, num: int | None = None, device: Any = None) -> PromptCondition:
        if isinstance(value, PromptCondition):
            condition = value
        elif isinstance(value, Condition):
            raise TypeError(f"this model is text-conditional: pass prompts, not a {type(value).__name__}")
        elif isinstance(value, (list, tuple)) and value and isinstance(value[0], str):
            condition = PromptCondition(torch.tensor([self.prompts.index(p) for p in value]), self.prompts)
        else:
            raise TypeError(f"this model is text-conditional: pass prompts, got {type(value).__name__}")
        if num is not None and len(condition) != num:
            raise ValueError(f"expected {num} prompts, got {len(condition)}")
        return condition if device is None else condition.to(device)

    def reward_fields(self, condition: Condition) -> dict[str, Any]:
        ids = condition.ids.tolist()
        return {"image_prompts": [self.prompts[i] for i in ids], "metadata": [{"index": i} for i in ids]}


class FakeTextNet(nn.Module):
    """``h_t = tanh(W (e_prompt + pos_t + mean of the previous tokens' embeddings)))``, logits ``= head(h_t)``."""

    def __init__(self, num_prompts: int) -> None:
        super().__init__()
        self.register_buffer("prompt_embedding", torch.randn(num_prompts, WIDTH))  # frozen "text encoder"
        self.token_embedding = nn.Embedding(VOCAB, WIDTH)
        self.position = nn.Parameter(torch.randn(TOKENS, WIDTH) * 0.1)
        self.mix = nn.Linear(WIDTH, WIDTH)
        self.head = nn.Linear(WIDTH, VOCAB)

    def hidden(self, prompt_ids: torch.Tensor, previous_sum: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        """``previous_sum`` [N, L, C] of the previous tokens' embeddings at positions ``t`` [L] -> [N, L, C]."""
        mean = previous_sum / t.clamp_min(1).unsqueeze(-1).float()
        return torch.tanh(self.mix(self.prompt_embedding[prompt_ids].unsqueeze(1) + self.position[t] + mean))

    def forward(self, prompt_ids: torch.Tensor, tokens: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Teacher forcing: tokens [N, T] -> logits [N, T, V] (row t predicts token t), hidden [N, T, C]."""
        emb = self.token_embedding(tokens)  # [N, T, C]
        previous = F.pad(emb.cumsum(dim=1), (0, 0, 1, 0))[:, :-1]  # [N, T, C]: sum of tokens before t
        hidden = self.hidden(prompt_ids, previous, torch.arange(TOKENS, device=tokens.device))
        return self.head(hidden), hidden


def _log_probs(logits: torch.Tensor, sampling: SamplingConfig) -> torch.Tensor:
    return filter_logits(logits / sampling.temperature, sampling.top_k, sampling.top_p).log_softmax(-1)


class FakeTextSampler(StepSampler):
    def __init__(self, net: FakeTextNet, condition: PromptCondition, sampling: SamplingConfig, generator: Any):
        self.net, self.ids, self.sampling, self.generator = net, condition.prompt_ids, sampling, generator
        self.batch_size, self.step_count = len(condition), 0
        self.sum = torch.zeros(self.batch_size, 1, WIDTH, device=self.ids.device)  # the "KV cache"

    @property
    def done(self) -> bool:
        return self.step_count * PER_STEP >= TOKENS

    @torch.no_grad()
    def step(self, tokens: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        out, log_probs = [], []
        for t in range(self.step_count * PER_STEP, (self.step_count + 1) * PER_STEP):
            hidden = self.net.hidden(self.ids, self.sum, torch.tensor([t], device=self.ids.device))
            logp = _log_probs(self.net.head(hidden)[:, 0], self.sampling)  # [N, V]
            token = draw(logp.exp(), self.generator, method=self.sampling.draw) if tokens is None else \
                tokens[:, t - self.step_count * PER_STEP:][:, :1]  # [N, 1]
            out.append(token)
            log_probs.append(logp.gather(1, token))
            self.sum = self.sum + self.net.token_embedding(token)
        self.step_count += 1
        return torch.cat(out, dim=1), torch.cat(log_probs, dim=1)


class Palette(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.colors = nn.Parameter(torch.rand(VOCAB, 3), requires_grad=False)


class FakeTextGenerator(Generator):
    family = "fake-text"

    def __init__(self, net: FakeTextNet | None = None, palette: Palette | None = None) -> None:
        self.net = net if net is not None else FakeTextNet(len(PROMPTS))
        self.palette = palette if palette is not None else Palette()

    layout = property(lambda self: TokenLayout((PER_STEP,) * (TOKENS // PER_STEP)))
    num_classes = property(lambda self: 0)
    vocab_size = property(lambda self: VOCAB)
    hidden_size = property(lambda self: WIDTH)
    policy = property(lambda self: self.net)
    decoder = property(lambda self: self.palette)

    def condition_source(self, pool: Any = None) -> PromptSource:
        return PromptSource(PROMPTS, pool)

    def make_sampler(self, condition, sampling, generator=None) -> FakeTextSampler:
        if sampling.cfg > 0:
            raise ValueError("the fake text model has no guidance")
        return FakeTextSampler(self.net, condition, sampling, generator)

    def forward_rl(self, condition, tokens, sampling) -> RLForward:
        network = self.forward_module if self.forward_module is not None else self.net
        logits, hidden = network(condition.prompt_ids, tokens)
        tempered = logits / sampling.temperature
        logp_all = keep_taken(filter_logits(tempered, sampling.top_k, sampling.top_p), tempered,
                              tokens).log_softmax(-1)  # [N, T, V]
        entropy = -(logp_all.exp() * logp_all.clamp_min(-1e9)).sum(-1)
        return RLForward(logp_all.gather(-1, tokens.unsqueeze(-1)).squeeze(-1), entropy, hidden)

    @torch.no_grad()
    def decode(self, tokens: torch.Tensor, precision: str = "float32") -> torch.Tensor:
        grid = self.palette.colors[tokens].view(-1, 4, 4, 3).permute(0, 3, 1, 2)  # [N, 3, 4, 4]
        return F.interpolate(grid, scale_factor=4, mode="nearest")  # [N, 3, 16, 16]

    def frozen_copy(self) -> FakeTextGenerator:
        return FakeTextGenerator(copy.deepcopy(self.net).requires_grad_(False), self.palette)

    def to(self, device) -> FakeTextGenerator:
        if device is not None:
            self.net.to(device)
            self.palette.to(device)
        return self

    def _set_policy(self, policy: nn.Module) -> None:
        self.net = policy

    def save(self, directory, extra=None) -> Path:
        from safetensors.torch import save_file

        if self.lora is not None:
            return self.save_adapters(Path(directory), extra or {})
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        tensors = {f"net.{k}": v for k, v in self.net.state_dict().items()}
        tensors.update({f"palette.{k}": v for k, v in self.palette.state_dict().items()})
        save_file({k: v.detach().contiguous().cpu() for k, v in tensors.items()}, str(directory / "model.safetensors"))
        (directory / "model.json").write_text(json.dumps({"family": self.family, **(extra or {})}))
        return directory


# -- the family's glue ---------------------------------------------------------------------------------------
def build(preset: str) -> FakeTextGenerator:
    return FakeTextGenerator()


def load_released(name: str, device: Any = None, **files: Any) -> FakeTextGenerator:
    raise ValueError("the fake text family has no released weights")


def load_directory(directory: Path, device: Any = None) -> FakeTextGenerator:
    from safetensors.torch import load_file

    tensors = load_file(str(Path(directory) / "model.safetensors"))
    generator = FakeTextGenerator()
    generator.net.load_state_dict({k[4:]: v for k, v in tensors.items() if k.startswith("net.")}, strict=True)
    generator.palette.load_state_dict({k[8:]: v for k, v in tensors.items() if k.startswith("palette.")}, strict=True)
    return generator.to(device)


def wrap(obj: Any, num_classes: int | None = None) -> None:
    return None


def released_files() -> list:
    return []


FAMILY = Family(name="fake-text", glue=__name__, presets=("fake-text",), lora_targets=("mix", "head"))
if FAMILIES.get(FAMILY.name) != FAMILY:
    register_family(FAMILY)
