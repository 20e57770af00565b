"""PickScore through transformers' CLIPModel: scaled cosine, prompt handling, offline errors."""

import pytest
import torch
import torch.nn.functional as F

from vargym.errors import WeightsNotAvailableError
from vargym.rewards import RewardContext, make


def test_pickscore_is_the_scaled_cosine_of_the_saved_model(tiny_pickscore):
    import open_clip
    from transformers import CLIPModel

    reward = make("pickscore", weights_path=tiny_pickscore)
    images = torch.rand(3, 3, 48, 40)
    context = RewardContext(labels=torch.tensor([2, 0, 1]), class_names=["fox", "owl", "elk"])
    scores = reward(images, context).total

    model = CLIPModel.from_pretrained(tiny_pickscore).eval()
    tokens = open_clip.get_tokenizer("ViT-H-14")(["a photo of a elk", "a photo of a fox", "a photo of a owl"])
    pixels = F.interpolate(images, size=(38, 32), mode="bicubic", antialias=True, align_corners=False).clamp(0, 1)
    pixels = pixels[..., 3:35, :]  # shorter side to 32, centre crop
    mean = torch.tensor([0.48145466, 0.4578275, 0.40821073]).view(1, 3, 1, 1)
    std = torch.tensor([0.26862954, 0.26130258, 0.27577711]).view(1, 3, 1, 1)
    with torch.no_grad():
        image = model.get_image_features(pixel_values=(pixels - mean) / std)
        text = model.get_text_features(input_ids=tokens)
    image, text = (F.normalize(x if torch.is_tensor(x) else x.pooler_output, dim=-1) for x in (image, text))
    torch.testing.assert_close(scores, model.logit_scale.exp() * (image * text).sum(-1), rtol=1e-4, atol=1e-4)
    other = reward(images, RewardContext(prompt="a blue square")).total
    assert not torch.allclose(scores, other)


def test_pickscore_errors(tmp_path):
    with pytest.raises(WeightsNotAvailableError, match=r"yuvalkirstain/PickScore_v1.*config\.json.*weights_path="):
        make("pickscore")
    with pytest.raises(WeightsNotAvailableError, match="has no config.json"):
        make("pickscore", weights_path=tmp_path)
