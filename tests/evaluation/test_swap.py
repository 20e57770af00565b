"""The swap test of the text world: one word changed, the same seed, the gold classifier reads both images."""

import pytest
import torch

from vargym.evaluation.swap import swap_prompt, swap_test


def test_swap_prompt_changes_one_word_and_the_metadata():
    meta = {"shape": "circle", "color": "red", "background": "teal", "size": "small"}
    assert swap_prompt("a small red disc on a teal background", meta, "color", "blue") == (
        "a small blue disc on a teal background", {**meta, "color": "blue"})
    assert swap_prompt("little red disc, teal backdrop", meta, "size", "large")[0] == "large red disc, teal backdrop"
    assert swap_prompt("teal background with a small red circle", meta, "background", "navy")[0] == \
        "navy background with a small red circle"
    with pytest.raises(ValueError, match="names no size"):
        swap_prompt("red gradient on teal", {"shape": "gradient", "color": "red", "background": "teal"}, "size", "large")
    with pytest.raises(ValueError, match="attribute must be one of"):
        swap_prompt("a red disc", meta, "shape", "square")


def test_swap_test_runs_on_a_text_model(tiny_t5):
    from vargym.data.attributes import NUM_LOGITS
    from vargym.data.classifier import ClassifierConfig, TinyClassifier
    from vargym.data.prompts import load_prompts
    from vargym.models import SamplingConfig, load_generator

    torch.manual_seed(0)
    generator = load_generator("random:tiny-t2i", text_encoder=tiny_t5)
    torch.nn.init.normal_(generator.gpt.output.weight, std=0.5)
    gold = TinyClassifier(ClassifierConfig(num_classes=NUM_LOGITS, input_size=32)).eval()
    out = swap_test(generator, gold, load_prompts("procedural-held-out"), "color",
                    SamplingConfig(precision="float32"), max_prompts=6)
    assert out["prompts"] == 6 and 0 <= out["follows"] <= 1 and 0 <= out["others_kept"] <= 1
