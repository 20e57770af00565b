"""The text side of text-to-image models: caption clean-up before tokenisation (more to come: text encoders)."""

from vargym.models.text.captions import clean_caption, clean_caption_once

__all__ = ["clean_caption", "clean_caption_once"]
