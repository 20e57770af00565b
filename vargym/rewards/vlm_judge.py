"""``"vlm-judge"``: a vision-language model, served behind an OpenAI-compatible chat endpoint, scores each image.

AR-GRPO's realism reward asks Qwen2.5-VL whether a sample looks real and well made; any server that speaks
the OpenAI chat-completions API with images (vLLM, SGLang, LMDeploy, a hosted API) works here. Start one,
e.g. ``vllm serve Qwen/Qwen2.5-VL-7B-Instruct --port 8001``, then train with
``--reward vlm-judge --reward-arg base_url=http://gpu-box:8001/v1``.

Each image goes in its own request (PNG or JPEG as a base64 data URL) with the question; up to
``max_concurrency`` requests are in flight. The answer must hold a score: a JSON object with a ``score``
key (inside a ```json fence or not), a ``score: 7`` line, or just a number. A score outside
``score_range``, an answer without one, or an unreachable server raises `RewardServerError` after
``retries`` further attempts, naming the URL and quoting the answer: never a silent 0.
"""

from __future__ import annotations

import base64
import dataclasses
import io
import json
import os
import re
from concurrent.futures import ThreadPoolExecutor

import torch

from vargym.rewards.base import Reward, RewardContext
from vargym.rewards.registry import register
from vargym.rewards.remote import RewardServerError, request_json

__all__ = ["DEFAULT_PROMPT_QUESTION", "DEFAULT_QUESTION", "VLMJudgeReward", "parse_score"]

DEFAULT_QUESTION = (
    "This image was generated for the class '{label}'. Judge it: does it show a {label}, is the object "
    "complete and plausible, is it sharp and free of artifacts, does it look like a real photo? "
    'Answer with JSON only: {{"score": S}}, where S is a number from 0 (worst) to 10 (best).'
)
DEFAULT_PROMPT_QUESTION = (
    "This image was generated for the prompt: \"{prompt}\". Judge it: does it show what the prompt asks for "
    "(objects, counts, colours, positions), is it sharp and free of artifacts, is it pleasing to look at? "
    'Answer with JSON only: {{"score": S}}, where S is a number from 0 (worst) to 10 (best).'
)
_NUMBER = r"[-+]?(?:\d+\.?\d*|\.\d+)"
_JSON_OBJECT = re.compile(r"\{[^{}]*\}", re.DOTALL)
_SCORE_LINE = re.compile(rf"score\W{{0,3}}\s*({_NUMBER})", re.IGNORECASE)
_BARE_NUMBER = re.compile(rf"\s*({_NUMBER})\s*(?:/\s*{_NUMBER})?\s*\.?\s*")


def parse_score(answer: str) -> float | None:
    """The score in a judge's answer, or None when it holds none.

    Accepted, in this order: the last JSON object with a numeric ``score``; a ``score: X`` phrase; an
    answer that is only a number (``"7"``, ``"7/10"``).
    """
    for block in reversed(_JSON_OBJECT.findall(answer)):
        try:
            value = json.loads(block).get("score")
        except (json.JSONDecodeError, AttributeError):
            continue
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
        if isinstance(value, str) and re.fullmatch(_NUMBER, value.strip()):
            return float(value)
    match = _SCORE_LINE.search(answer)
    if match:
        return float(match.group(1))
    match = _BARE_NUMBER.fullmatch(answer)
    return float(match.group(1)) if match else None


@register("vlm-judge")
class VLMJudgeReward(Reward):
    """The score a VLM gives each image when asked ``question``; ``total`` is that score.

    Args:
        base_url: the server's OpenAI-compatible root, e.g. ``http://127.0.0.1:8001/v1``
            (default: ``$VARGYM_VLM_URL``, else that address).
        model: the model name the server serves.
        question: the prompt; ``{label}`` is filled with each image's class name (see `RewardContext.prompts`;
            write literal braces as ``{{ }}`` in a question that uses ``{label}``).
        prompt_question: the question for images of a text-conditional model: ``{prompt}`` is filled with each
            image's own prompt (literal braces as ``{{ }}``).
        score_range: the scores the question allows; an answer outside is an error.
        api_key: sent as a bearer token (default: ``$OPENAI_API_KEY``; local servers need none).
        max_concurrency: requests in flight at once.
        timeout: seconds per request; retries: further attempts after a failure (connection, 429/5xx,
            an answer without a valid score), with exponential backoff from ``backoff`` seconds.
        temperature, max_tokens: sampling settings of the judge.
        image_format: ``"png"`` (lossless) or ``"jpeg"`` (smaller requests).
        check_server: ask ``GET {base_url}/models`` once at construction, so a wrong URL fails at start-up.
    """

    def __init__(
        self,
        base_url: str | None = None,
        model: str = "Qwen/Qwen2.5-VL-7B-Instruct",
        question: str = DEFAULT_QUESTION,
        prompt_question: str = DEFAULT_PROMPT_QUESTION,
        score_range: tuple[float, float] = (0.0, 10.0),
        api_key: str | None = None,
        max_concurrency: int = 8,
        timeout: float = 120.0,
        retries: int = 3,
        backoff: float = 1.0,
        temperature: float = 0.0,
        max_tokens: int = 64,
        image_format: str = "png",
        check_server: bool = True,
    ) -> None:
        super().__init__(name="vlm-judge")
        base_url = (base_url or os.environ.get("VARGYM_VLM_URL") or "http://127.0.0.1:8001/v1").rstrip("/")
        if not base_url.startswith(("http://", "https://")):
            raise ValueError(f"base_url must start with http:// or https://, got {base_url!r}")
        if image_format not in ("png", "jpeg"):
            raise ValueError(f"image_format must be 'png' or 'jpeg', got {image_format!r}")
        low, high = (float(v) for v in score_range)
        if not low < high:
            raise ValueError(f"score_range must be (low, high) with low < high, got {score_range!r}")
        if max_concurrency < 1 or retries < 0 or timeout <= 0:
            raise ValueError(f"need max_concurrency >= 1, retries >= 0 and timeout > 0, got {max_concurrency}, "
                             f"{retries}, {timeout}")
        if "{prompt}" not in prompt_question:
            raise ValueError(f"prompt_question must contain {{prompt}} (each image's prompt), got {prompt_question!r}")
        self.base_url, self.model, self.question = base_url, model, question
        self.prompt_question = prompt_question
        self.score_range = (low, high)
        self.api_key = api_key if api_key is not None else os.environ.get("OPENAI_API_KEY")
        self.max_concurrency, self.timeout, self.retries, self.backoff = max_concurrency, timeout, retries, backoff
        self.temperature, self.max_tokens, self.image_format = temperature, max_tokens, image_format
        if check_server:
            self._call("/models", None, retries=0)

    def _call(self, path: str, payload: dict | None, retries: int):
        headers = {"Content-Type": "application/json"}
        if self.api_key:
            headers["Authorization"] = f"Bearer {self.api_key}"
        body = None if payload is None else json.dumps(payload).encode()
        return request_json(
            self.base_url + path, body, method="GET" if payload is None else "POST", headers=headers,
            timeout=self.timeout, retries=retries, backoff=self.backoff, retry_statuses=(429, 500, 502, 503, 504),
            unreachable_hint="start an OpenAI-compatible VLM server (e.g. `vllm serve MODEL`) and pass "
                             "--reward-arg base_url=http://HOST:PORT/v1",
        )

    def _data_url(self, image: torch.Tensor) -> str:
        from PIL import Image

        pixels = image.clamp(0, 1).mul(255).round().to(torch.uint8).permute(1, 2, 0).cpu().numpy()  # [H, W, 3]
        buffer = io.BytesIO()
        Image.fromarray(pixels).save(buffer, format=self.image_format.upper(), **(
            {"quality": 95} if self.image_format == "jpeg" else {}))
        return f"data:image/{self.image_format};base64,{base64.b64encode(buffer.getvalue()).decode()}"

    def _judge(self, image: torch.Tensor, question: str) -> float:
        payload = {
            "model": self.model,
            "messages": [{"role": "user", "content": [
                {"type": "image_url", "image_url": {"url": self._data_url(image)}},
                {"type": "text", "text": question},
            ]}],
            "temperature": self.temperature,
            "max_tokens": self.max_tokens,
        }
        low, high = self.score_range
        answer = None
        for attempt in range(self.retries + 1):  # a sampled judge may answer well on a second try
            reply = self._call("/chat/completions", payload, retries=self.retries)
            try:
                answer = reply["choices"][0]["message"]["content"]
            except (KeyError, IndexError, TypeError) as e:
                raise RewardServerError(f"{self.base_url}/chat/completions answered without a message: "
                                        f"{str(reply)[:300]}") from e
            score = parse_score(answer) if isinstance(answer, str) else None
            if score is not None and low <= score <= high:
                return score
            if attempt < self.retries:
                payload["seed"] = attempt + 1  # servers that cache by request give another sample
        raise RewardServerError(
            f"the judge at {self.base_url} gave no score in [{low:g}, {high:g}] after {self.retries + 1} answers; "
            f"last answer: {str(answer)[:300]!r}"
        )

    def score(self, images: torch.Tensor, context: RewardContext) -> torch.Tensor:
        if context.image_prompts is not None:  # a text model: ask about each image's own prompt
            questions = [self.prompt_question.format(prompt=p) for p in context.image_prompts]
        else:  # the question (with {label} filled), not the run's reward prompt
            questions = dataclasses.replace(context, prompt=None).prompts(self.question)
        questions = questions * images.shape[0] if len(questions) == 1 else questions
        with ThreadPoolExecutor(max_workers=self.max_concurrency) as pool:
            scores = list(pool.map(self._judge, images.detach().float().cpu(), questions))
        return torch.tensor(scores, dtype=torch.float32, device=images.device)  # [N]

    def extra_repr(self) -> str:
        return f"{super().extra_repr()}, base_url={self.base_url!r}, model={self.model!r}"
