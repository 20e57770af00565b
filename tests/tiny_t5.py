"""A tiny T5 encoder and tokenizer that the tests build themselves (no download): a Unigram vocabulary trained
here on a few hundred PartiPrompts, in T5's layout (pad 0, EOS 1, unk 2), and a randomly initialised
``T5EncoderModel`` with FLAN-T5's gated-GELU feed-forward, saved with ``save_pretrained`` like a hub folder."""

from __future__ import annotations

from pathlib import Path

import torch

WIDTH = 64
"""d_model: the caption width of the ``tiny-llamagen-t2i`` preset."""


def train_vocabulary(texts: list[str], size: int = 400) -> list[tuple[str, float]]:
    """A Unigram vocabulary (piece, log-prob) trained on ``texts`` with T5's special pieces first."""
    from tokenizers import Tokenizer, models, pre_tokenizers, trainers

    tokenizer = Tokenizer(models.Unigram())
    tokenizer.pre_tokenizer = pre_tokenizers.Metaspace(replacement="▁", prepend_scheme="always")
    trainer = trainers.UnigramTrainer(vocab_size=size, special_tokens=["<pad>", "</s>", "<unk>"], unk_token="<unk>",
                                      shrinking_factor=0.75)
    tokenizer.train_from_iterator(texts, trainer=trainer)
    vocab = tokenizer.get_vocab()
    model = tokenizer.model
    import json

    pieces = json.loads(tokenizer.to_str())["model"]["vocab"]
    assert [p for p, _ in pieces[:3]] == ["<pad>", "</s>", "<unk>"], pieces[:3]
    del vocab, model
    return [(p, float(s)) for p, s in pieces]


def build_tiny_t5(folder: str | Path, seed: int = 0, width: int = WIDTH) -> Path:
    """Write a tiny T5 folder (config, safetensors weights, tokenizer) and return it."""
    from transformers import T5Config, T5EncoderModel, T5Tokenizer

    from vargym.data import load_prompts

    folder = Path(folder)
    texts = [p.lower() for p in load_prompts("parti").prompts[:600]]
    tokenizer = T5Tokenizer(vocab=train_vocabulary(texts), extra_ids=0)
    config = T5Config(vocab_size=len(tokenizer), d_model=width, d_kv=16, d_ff=96, num_layers=2, num_heads=4,
                      relative_attention_num_buckets=8, relative_attention_max_distance=32,
                      feed_forward_proj="gated-gelu", dropout_rate=0.0, pad_token_id=0, eos_token_id=1)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = T5EncoderModel(config).eval()
        for p in model.parameters():  # T5's own init gives near-constant outputs at this size
            torch.nn.init.normal_(p, std=0.3)
    model.save_pretrained(folder, safe_serialization=True)
    tokenizer.save_pretrained(folder)
    return folder
