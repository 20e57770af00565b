"""HPSv2 through our open_clip loader: official checkpoint layout, cosine score, per-label prompts, offline errors."""

import pytest
import torch
import torch.nn.functional as F

from vargym.errors import WeightsNotAvailableError
from vargym.rewards import RewardContext, make


def test_hps_score_is_the_cosine_of_the_checkpoint_embeddings(hps_checkpoint, tiny_clip):
    import open_clip

    name, path = hps_checkpoint
    reward = make("hpsv2", weights_path=path, clip_model=name)
    images = torch.rand(3, 3, 64, 64)
    labels = torch.tensor([0, 2, 1])
    context = RewardContext(labels=labels, class_names=["circle", "square", "star"])
    scores = reward(images, context).total

    model = open_clip.create_model(name, pretrained=str(path)).eval()  # open_clip's own reading of the file
    tokens = open_clip.get_tokenizer(name)(["a photo of a circle", "a photo of a star", "a photo of a square"])
    with torch.no_grad():
        image_emb = F.normalize(model.encode_image(reward.backbone.preprocess(images, "pad")), dim=-1)
        text_emb = F.normalize(model.encode_text(tokens), dim=-1)
    assert torch.allclose(scores, (image_emb * text_emb).sum(-1), atol=1e-5)
    # the checkpoint's (perturbed) weights were loaded, not the backbone it started from
    plain = make("clip", prompt="a photo of a {label}", weights_path=tiny_clip[1], clip_model=name)
    assert not torch.allclose(scores, plain(images, context).total, atol=1e-4)


def test_hps_scores_the_whole_non_square_image(hps_checkpoint):
    """HPSv2 pads (its eval transform), CLIP crops: on a 96x64 image the two inputs differ, and the score is the
    one of the padded input."""
    name, path = hps_checkpoint
    reward = make("hpsv2", weights_path=path, clip_model=name)
    images = torch.rand(2, 3, 64, 96)
    padded, cropped = reward.backbone.preprocess(images, "pad"), reward.backbone.preprocess(images, "crop")
    assert padded.shape == cropped.shape and not torch.allclose(padded, cropped, atol=1e-3)
    context = RewardContext(image_prompts=["a red square", "a blue circle"])
    with torch.no_grad():
        image_emb = F.normalize(reward.backbone.model.encode_image(padded).float(), dim=-1)
    text_emb = reward.backbone.encode_texts(["a red square", "a blue circle"])
    torch.testing.assert_close(reward(images, context).total, (image_emb * text_emb).sum(-1), atol=1e-5, rtol=0)


def test_prompts_follow_the_context(hps_checkpoint):
    name, path = hps_checkpoint
    reward = make("hpsv2", weights_path=path, clip_model=name)
    images = torch.rand(2, 3, 64, 64)
    a = reward(images, RewardContext(prompt="a red square")).total
    b = reward(images, RewardContext(prompt="a blue circle")).total
    assert not torch.allclose(a, b)
    imagenet = reward(images, RewardContext(labels=torch.tensor([1, 1]))).total  # ImageNet names by default
    goldfish = reward(images, RewardContext(prompt="a photo of a goldfish")).total
    assert torch.allclose(imagenet, goldfish)
    with pytest.raises(ValueError, match="label 5 has no class name"):
        reward(images, RewardContext(labels=torch.tensor([0, 5]), class_names=["a", "b"]))


def test_offline_without_weights_names_the_repo_file_and_option():
    with pytest.raises(WeightsNotAvailableError, match=r"xswu/HPSv2.*HPS_v2\.1_compressed\.pt.*weights_path="):
        make("hpsv2")
    with pytest.raises(WeightsNotAvailableError, match=r"HPS_v2_compressed\.pt"):
        make("hpsv2", version="v2.0")
    with pytest.raises(ValueError, match=r"version must be one of \['v2.0', 'v2.1'\]"):
        make("hpsv2", version="v3")
