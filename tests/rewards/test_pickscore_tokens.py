"""PickScore's prompts are tokenised as its processor does: transformers' own fast CLIP tokenizer, built here on
open_clip's copy of the same BPE vocabulary, is the reference (open_clip's tokenizer differs on typography)."""

import gzip

import pytest
import torch

transformers = pytest.importorskip("transformers", reason="the pickscore extra (transformers) is not installed")

PROMPTS = [
    "a photo of a cat",
    "Van Gogh’s “starry night” over a café",
    "fish &amp; chips, &quot;fresh&quot;",
    "ＦＵＬＬ width letters and Ｎｏ．１",
    "emoji 🐱 cat, CJK 猫, tabs\tand\nnew lines",
    "e\u0301 combining accent",  # NFC composes it
    "x " * 100,  # truncated to 75 tokens plus EOS
    "",
]


@pytest.fixture(scope="module")
def tokenizers():
    import open_clip
    from open_clip.tokenizer import bytes_to_unicode, default_bpe

    from vargym.rewards.pickscore import ProcessorTokenizer

    merges = gzip.open(default_bpe()).read().decode("utf-8").split("\n")[1:49152 - 256 - 2 + 1]
    vocab = list(bytes_to_unicode().values())
    vocab += [v + "</w>" for v in vocab] + ["".join(m.split()) for m in merges] + ["<|startoftext|>", "<|endoftext|>"]
    reference = transformers.CLIPTokenizerFast(vocab={t: i for i, t in enumerate(vocab)},
                                               merges=[tuple(m.split()) for m in merges])
    base = open_clip.get_tokenizer("ViT-H-14")
    return ProcessorTokenizer(base), reference, base


@pytest.mark.parametrize("prompt", PROMPTS)
def test_token_ids_equal_the_processors(tokenizers, prompt):
    ours, reference, _ = tokenizers
    expected = reference(prompt, truncation=True, max_length=77)["input_ids"]
    row = ours([prompt])[0]
    assert row[: len(expected)].tolist() == expected and not row[len(expected):].any()


def test_open_clip_would_tokenise_typography_differently(tokenizers):
    ours, _, base = tokenizers
    prompt = PROMPTS[1]
    assert not torch.equal(ours([prompt]), base([prompt]))  # what the reward used before
    assert torch.equal(ours([PROMPTS[0]]), base([PROMPTS[0]]))  # plain prompts agree
