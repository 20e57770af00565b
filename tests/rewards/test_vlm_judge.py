"""The VLM judge against a fake OpenAI-compatible server on localhost: images, questions, parsing, failures."""

import pytest
import torch

from vargym.rewards import RewardContext, make
from vargym.rewards.remote import RewardServerError
from vargym.rewards.vlm_judge import DEFAULT_PROMPT_QUESTION, VLMJudgeReward, parse_score


def test_scores_come_back_in_order_for_the_images_sent(judge):
    judge.delay = 0.05  # long enough that the pool fills on a loaded machine
    reward = make("vlm-judge", base_url=judge.url, max_concurrency=3)
    images = torch.rand(7, 3, 16, 16) * torch.linspace(0.1, 1, 7).view(7, 1, 1, 1)
    context = RewardContext(labels=torch.tensor([0, 1, 2, 0, 1, 2, 0]), class_names=["cat", "dog", "owl"])
    scores = reward(images, context).total
    expected = 10 * (images.clamp(0, 1) * 255).round().mean(dim=(1, 2, 3)) / 255  # what the PNG carries
    torch.testing.assert_close(scores, expected, atol=1e-5, rtol=0)
    assert 1 < judge.max_in_flight <= 3
    assert sorted(q.split("'")[1] for q in judge.questions) == sorted(["cat", "dog", "owl", "cat", "dog", "owl", "cat"])


def test_busy_server_is_retried(judge):
    judge.failures = 2
    reward = make("vlm-judge", base_url=judge.url, backoff=0.01, max_concurrency=1)
    assert reward(torch.full((1, 3, 8, 8), 0.5), RewardContext(labels=torch.tensor([3]))).total.item() == \
        pytest.approx(10 * 128 / 255, abs=1e-5)


@pytest.mark.parametrize("mode", ["garbage", "out-of-range"])
def test_answers_without_a_valid_score_raise_never_zero(judge, mode):
    judge.mode = mode
    reward = make("vlm-judge", base_url=judge.url, backoff=0.01, retries=1, question="Rate it 0-10.")
    with pytest.raises(RewardServerError, match=r"no score in \[0, 10\] after 2 answers; last answer"):
        reward(torch.rand(2, 3, 8, 8))
    assert len(judge.questions) == 4  # every image asked twice


def test_unreachable_server_fails_at_construction():
    with pytest.raises(RewardServerError, match=r"127\.0\.0\.1:9/v1/models is unreachable.*vllm serve"):
        make("vlm-judge", base_url="http://127.0.0.1:9/v1")
    with pytest.raises(ValueError, match="image_format must be 'png' or 'jpeg'"):
        make("vlm-judge", image_format="gif", check_server=False)
    with pytest.raises(ValueError, match="score_range must be"):
        make("vlm-judge", score_range=(5, 1), check_server=False)


@pytest.mark.parametrize("answer, score", [
    ('```json\n{"score": 7.5, "why": "sharp"}\n```', 7.5),
    ('{"description": "a dog"} then {"score": "6"}', 6.0),
    ("Score: 8/10", 8.0),
    ("7", 7.0),
    ("7/10.", 7.0),
    ("The image is nice.", None),
    ('{"score": true}', None),
    ("", None),
])
def test_parse_score(answer, score):
    assert parse_score(answer) == score


def test_a_text_model_is_judged_against_each_images_prompt(judge):
    reward = VLMJudgeReward(base_url=judge.url, max_concurrency=2)
    prompts = ['a cat in a "hat"', "two {curly} dogs", "an owl"]
    reward(torch.rand(3, 3, 8, 8), RewardContext(image_prompts=prompts))
    asked = sorted(judge.questions[-3:])
    assert asked == sorted(DEFAULT_PROMPT_QUESTION.format(prompt=p) for p in prompts)
    assert all(any(p in q for q in asked) for p in prompts)
    with pytest.raises(ValueError, match=r"prompt_question must contain \{prompt\}"):
        VLMJudgeReward(base_url=judge.url, prompt_question="rate this image")
