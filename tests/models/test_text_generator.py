"""LlamaGen t2i as a Generator: prompts through the text encoder into the official t2i GPT paths."""

import pytest
import torch

from vargym.models import (
    LlamaGenTextGenerator,
    PromptCondition,
    PromptTable,
    SamplingConfig,
    build_preset,
    load_generator,
)
from vargym.models.text import T5TextEncoder, TextFeaturesError, write_feature_file

PROMPTS = ["a red cat", "a dog, sleeping on a sofa!", "naïve café (test)"]


def test_sampling_matches_the_gpt_on_the_encoded_captions(text_generator):
    gen = text_generator
    condition = gen.condition_source(PROMPTS).first(3, "cpu").repeat_interleave(2)
    sampling = SamplingConfig(cfg=4.0, top_k=100, temperature=0.9)
    tokens, log_probs = gen.sample(condition, sampling, torch.Generator().manual_seed(3), return_log_probs=True)
    text = gen.text_encoder.encode(condition.prompts)
    direct = gen.gpt.sample(text.features, cfg=4.0, top_k=100, temperature=0.9, caption_mask=text.mask,
                            generator=torch.Generator().manual_seed(3))
    assert torch.equal(tokens, direct)
    forced = gen.forward_rl(condition, tokens, sampling).log_probs
    torch.testing.assert_close(forced, log_probs, atol=1e-4, rtol=0)
    assert log_probs.std() > 0.1  # not a uniform (zero-output) policy


def test_prompts_change_the_distribution(text_generator):
    gen = text_generator
    condition = gen.condition_source(PROMPTS).first(2, "cpu")
    tokens = torch.randint(0, gen.vocab_size, (1, gen.layout.num_tokens)).repeat(2, 1)
    log_probs = gen.log_probs(condition, tokens, SamplingConfig())
    assert (log_probs[0] - log_probs[1]).abs().max() > 1e-3


def test_save_load_keeps_the_text_encoder(text_generator, tmp_path):
    condition = text_generator.condition_source(PROMPTS).first(3, "cpu")
    tokens = text_generator.sample(condition, SamplingConfig(), torch.Generator().manual_seed(0))
    text_generator.save(tmp_path / "m")
    loaded = load_generator(tmp_path / "m")
    assert isinstance(loaded, LlamaGenTextGenerator) and loaded.text_encoder.spec == text_generator.text_encoder.spec
    again = loaded.condition_source(PROMPTS).first(3, "cpu")
    assert torch.equal(loaded.log_probs(again, tokens, SamplingConfig()),
                       text_generator.log_probs(condition, tokens, SamplingConfig()))


def test_features_file_replaces_the_encoder(text_generator, tiny_t5, tmp_path):
    path = write_feature_file(text_generator.text_encoder, PROMPTS, tmp_path / "f.safetensors")
    vq, gpt = text_generator.vq, text_generator.gpt
    from_file = LlamaGenTextGenerator(vq, gpt, str(path))
    tokens = torch.randint(0, 512, (3, 64))
    a = text_generator.log_probs(text_generator.condition_source(PROMPTS).first(3, "cpu"), tokens, SamplingConfig())
    b = from_file.log_probs(from_file.condition_source(PROMPTS).first(3, "cpu"), tokens, SamplingConfig())
    assert torch.equal(a, b)
    with pytest.raises(TextFeaturesError, match="holds no features.*'a blue bird'"):
        from_file.condition_source(["a blue bird"])


def test_frozen_copy_and_lora_share_prompts(text_generator):
    from vargym.models import LoRAConfig

    source = text_generator.condition_source(PROMPTS)
    batch = source.first(3, "cpu").to_batch()
    reference = text_generator.frozen_copy()
    assert reference.condition_source().from_batch(batch).prompts == PROMPTS
    names = text_generator.apply_lora(LoRAConfig(rank=2))
    assert names and all(not n.startswith("cls_embedding") for n in names)
    assert not any(p.requires_grad for n, p in text_generator.gpt.named_parameters() if "lora" not in n)
    assert "cls_embedding.uncond_embedding" in dict(text_generator.gpt.named_buffers())


def test_wrong_conditions_and_encoders_are_refused(text_generator, tiny_t5):
    with pytest.raises(TypeError, match="text-conditional: its conditions are prompts"):
        text_generator.condition_source([1, 2])
    with pytest.raises(TypeError, match="class-conditional"):
        load_generator("random:tiny-llamagen").condition_source(["a cat"])
    with pytest.raises(ValueError, match="class-conditional: it takes no text encoder"):
        load_generator("random:tiny-llamagen", text_encoder=tiny_t5)
    with pytest.raises(ValueError, match="64-wide caption features in 24 slots: give it a text encoder"):
        load_generator("random:tiny-llamagen-t2i")
    vq, gpt = build_preset("tiny-llamagen-t2i")
    narrow = T5TextEncoder(tiny_t5, max_length=16)
    with pytest.raises(TextFeaturesError, match="64-wide features in a window of 16 slots.*24 slots"):
        LlamaGenTextGenerator(vq, gpt, narrow)
    with pytest.raises(TypeError, match="needs a text encoder"):
        from vargym.models import as_generator

        as_generator((vq, gpt))


def test_prompt_table_ids_and_metadata():
    table = PromptTable()
    ids = table.add(["a", "b", "a"], [{"k": 1}, {}, {"k": 1}])
    assert ids.tolist() == [0, 1, 0]
    assert table.add(["a"], [{"k": 2}]).tolist() == [2]  # same text, other metadata: another condition
    condition = PromptCondition(torch.tensor([2, 1]), table)
    assert condition.prompts == ["a", "b"] and condition.metadata == [{"k": 2}, {}]
    with pytest.raises(ValueError, match=r"prompt ids must lie in \[0, 3\)"):
        PromptCondition(torch.tensor([3]), table)


def test_caption_dropout_in_train_mode_fits_a_trimmed_window():
    """Train mode drops whole captions to the null table; a trimmed window takes the table's last slots."""
    from vargym.models.llamagen.transformer import CaptionEmbedder

    embedder = CaptionEmbedder(caption_dim=8, dim=16, token_num=24, dropout_prob=1.0).train()
    captions = torch.randn(3, 10, 8)
    torch.testing.assert_close(embedder(captions), embedder.cap_proj(embedder.uncond_embedding[-10:]).expand(3, -1, -1))
    embedder.eval()
    torch.testing.assert_close(embedder(captions), embedder.cap_proj(captions))


def test_gradient_checkpointing_gives_the_same_gradients(text_generator):
    gen = text_generator
    condition = gen.condition_source(PROMPTS).first(3, "cpu")
    tokens = torch.randint(0, gen.vocab_size, (3, gen.layout.num_tokens))
    grads = []
    for enabled in (False, True):
        gen.set_gradient_checkpointing(enabled)
        gen.gpt.zero_grad()
        gen.forward_rl(condition, tokens, SamplingConfig(cfg=2.0)).log_probs.sum().backward()
        grads.append(torch.cat([p.grad.flatten() for p in gen.gpt.parameters() if p.grad is not None]))
    torch.testing.assert_close(grads[0], grads[1], rtol=1e-5, atol=1e-6)
    assert gen.gpt.cls_embedding.uncond_embedding.grad is None  # the null caption is a buffer, never trained
