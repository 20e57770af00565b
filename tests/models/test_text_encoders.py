"""Text encoders: the T5 pipeline against the official steps, the cache, features files, bad input."""

import warnings

import pytest
import torch

from vargym.errors import WeightsNotAvailableError
from vargym.models.text import (
    FeatureFileEncoder,
    T5TextEncoder,
    TextFeaturesError,
    clean_caption,
    load_text_encoder,
    write_feature_file,
)

pytest.importorskip("transformers")
PROMPTS = ["A red cat!", "a big dog sitting on the green grass next to a house", "Van Gogh’s “starry night”, 1889",
           "two <b>bold</b> birds http://x.com/a.png"]


def official_features(folder, prompts, max_length):
    """The official steps (LlamaGen ``language/t5.py`` and ``sample_t2i.py``), written out from the reference notes:
    clean twice, tokenizer to max_length with EOS (right padding), encoder with the mask, then flip the mask, move
    each row's valid outputs last and zero the padded slots."""
    from transformers import AutoTokenizer, T5EncoderModel

    tokenizer = AutoTokenizer.from_pretrained(folder)
    model = T5EncoderModel.from_pretrained(folder).eval()
    texts = [clean_caption(p) for p in prompts]
    batch = tokenizer(texts, max_length=max_length, padding="max_length", truncation=True, add_special_tokens=True,
                      return_attention_mask=True, return_tensors="pt")
    with torch.no_grad():
        embs = model(input_ids=batch.input_ids, attention_mask=batch.attention_mask).last_hidden_state
    masks = batch.attention_mask
    new_masks = torch.flip(masks, dims=[-1])
    rows = []
    for emb, mask in zip(embs, masks):
        n = int(mask.sum())
        rows.append(torch.cat([emb[n:], emb[:n]]))
    return torch.stack(rows) * new_masks[:, :, None], new_masks


def test_t5_pipeline_equals_the_official_steps(tiny_t5):
    encoder = T5TextEncoder(tiny_t5, max_length=24)
    features = encoder.encode(PROMPTS)
    expected, mask = official_features(tiny_t5, PROMPTS, 24)
    assert torch.equal(features.mask, mask.bool())
    torch.testing.assert_close(features.features, expected, rtol=1e-5, atol=1e-6)
    assert features.features.abs().sum() > 0 and (features.features[~features.mask] == 0).all()
    assert encoder.dim == 64 and features.features.shape == (4, 24, 64)


def test_each_unique_prompt_is_encoded_once(tiny_t5, monkeypatch):
    encoder = T5TextEncoder(tiny_t5, max_length=24)
    calls = []
    original = encoder.encode_new
    monkeypatch.setattr(encoder, "encode_new", lambda prompts: calls.append(list(prompts)) or original(prompts))
    first = encoder.encode(["a cat", "a dog", "a cat", "a cat"])
    again = encoder.encode(["a dog", "a bird"])
    assert calls == [["a cat", "a dog"], ["a bird"]]
    assert torch.equal(first.features[1], again.features[0]) and torch.equal(first.features[0], first.features[2])


def test_a_prompt_longer_than_the_window_is_cut_with_a_warning(tiny_t5):
    encoder = T5TextEncoder(tiny_t5, max_length=8)
    long = "a very large red house standing next to a small blue lake under the evening sky"
    with pytest.warns(UserWarning, match="caption window holds 7 and the end-of-text token"):
        features = encoder.encode([long])
    assert bool(features.mask.all())  # the window is full: 7 pieces + EOS
    with pytest.warns(UserWarning, match="empty after the official caption clean-up"):
        encoder.encode(["free shipping"])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        encoder.encode(["a small cat"])


def test_feature_file_round_trip(tiny_t5, tmp_path):
    encoder = T5TextEncoder(tiny_t5, max_length=24)
    path = write_feature_file(encoder, [*PROMPTS, PROMPTS[0]], tmp_path / "f.safetensors", batch_size=3)
    from_file = load_text_encoder(path)
    assert isinstance(from_file, FeatureFileEncoder) and from_file.prompts == PROMPTS
    assert (from_file.dim, from_file.max_length) == (64, 24)
    a, b = encoder.encode(PROMPTS[::-1]), from_file.encode(PROMPTS[::-1])
    assert torch.equal(a.features, b.features) and torch.equal(a.mask, b.mask)
    with pytest.raises(TextFeaturesError, match="holds no features for 1 of the prompts.*'a new prompt'"):
        from_file.encode(["a new prompt"])


def test_bad_encoder_inputs(tiny_t5, tmp_path):
    with pytest.raises(ValueError, match="float16 overflows"):
        T5TextEncoder(tiny_t5, precision="float16")
    with pytest.raises(WeightsNotAvailableError, match="does not exist"):
        load_text_encoder(tmp_path / "missing.safetensors")
    (tmp_path / "junk.safetensors").write_bytes(b"not a safetensors file")
    with pytest.raises(TextFeaturesError, match="not a text features file"):
        load_text_encoder(tmp_path / "junk.safetensors")
    with pytest.raises(ValueError, match="neither a T5 folder nor a Hugging Face repo"):
        load_text_encoder(str(tmp_path / "no" / "such" / "folder"))
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(WeightsNotAvailableError, match="has no config.json"):
        load_text_encoder(empty)
    encoder = T5TextEncoder(tiny_t5, max_length=24)
    with pytest.raises(ValueError, match=r"prompts\[1\] is empty"):
        encoder.encode(["a cat", "  "])
    with pytest.raises(TypeError, match=r"prompts\[0\] must be a string"):
        encoder.encode([3])


def test_missing_t5_offline_fails_at_once(monkeypatch, tmp_path):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HOME", str(tmp_path))
    import huggingface_hub.constants as constants

    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    with pytest.raises(WeightsNotAvailableError, match="google/flan-t5-xl.*HF_HUB_OFFLINE.*--text-features"):
        load_text_encoder(None)


def test_left_pad_moves_valid_slots_last_and_passes_gradients():
    from vargym.models.text.encoders import left_pad

    hidden = torch.arange(2 * 4 * 1, dtype=torch.float32).view(2, 4, 1).requires_grad_(True)
    mask = torch.tensor([[1, 1, 0, 0], [1, 1, 1, 1]])
    out = left_pad(hidden, mask)
    assert out.features.squeeze(-1).tolist() == [[0, 0, 0, 1], [4, 5, 6, 7]]
    assert out.mask.tolist() == [[False, False, True, True], [True] * 4]
    out.features.sum().backward()
    assert hidden.grad.squeeze(-1).tolist() == [[1, 1, 0, 0], [1, 1, 1, 1]]
