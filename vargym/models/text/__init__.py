"""The text side of text-to-image models: the caption clean-up and text encoders (prompts -> caption features)."""

from vargym.models.text.captions import clean_caption, clean_caption_once
from vargym.models.text.encoders import (
    DEFAULT_T5,
    FeatureFileEncoder,
    T5TextEncoder,
    TextEncoder,
    TextFeatures,
    TextFeaturesError,
    load_text_encoder,
    write_feature_file,
)

__all__ = ["DEFAULT_T5", "FeatureFileEncoder", "T5TextEncoder", "TextEncoder", "TextFeatures", "TextFeaturesError",
           "clean_caption", "clean_caption_once", "load_text_encoder", "write_feature_file"]
