"""The caption clean-up LlamaGen's T5 pipeline runs before tokenisation (``T5Embedder.text_preprocessing``).

The official pipeline (inherited from DeepFloyd IF) lower-cases a caption and strips what web-scraped
captions carry besides a description: URLs, HTML, @handles, CJK ideographs, IP addresses, catalogue numbers,
file names, shop spam, page numbers, code-like tokens and resolutions; it unifies dashes and quotes, repairs the
text with ftfy and squeezes the white space. The text-to-image models were trained on captions cleaned this
way, so prompts must be cleaned the same way: `clean_caption` applies the pass twice, as the official code
does (`clean_caption_once` is one pass). The steps run in the official order (the order matters: lower-casing comes before ftfy, so
some mojibake survives, and spam-only captions become empty), and ``tests/models/test_captions.py`` checks them
against the official outputs.

Needs ``ftfy`` and ``beautifulsoup4`` (``pip install -e ".[t2i]"``).
"""

from __future__ import annotations

import html
import re
import urllib.parse

__all__ = ["clean_caption", "clean_caption_once"]

_URL_SCHEME = re.compile(r"\b((?:https?:(?:\/{1,3}|[a-zA-Z0-9%])|[a-zA-Z0-9.\-]+[.](?:com|co|ru|net|org|edu|gov|it)"
                         r"[\w/-]*\b\/?(?!@)))")
_URL_WWW = re.compile(r"\b((?:www:(?:\/{1,3}|[a-zA-Z0-9%])|[a-zA-Z0-9.\-]+[.](?:com|co|ru|net|org|edu|gov|it)"
                      r"[\w/-]*\b\/?(?!@)))")
_CJK = "".join(f"{lo}-{hi}" for lo, hi in (
    ("\u31c0", "\u31ef"),  # CJK strokes
    ("\u31f0", "\u31ff"),  # katakana phonetic extensions
    ("\u3200", "\u32ff"),  # enclosed CJK letters and months
    ("\u3300", "\u33ff"),  # CJK compatibility
    ("\u3400", "\u4dbf"),  # CJK unified ideographs extension A
    ("\u4dc0", "\u4dff"),  # Yijing hexagram symbols
    ("\u4e00", "\u9fff"),  # CJK unified ideographs
))
_DASHES = ("-\u058a\u05be\u1400\u1806\u2010-\u2015\u2e17\u2e1a\u2e3a\u2e3b\u2e40\u301c\u3030\u30a0\ufe31\ufe32"
           "\ufe58\ufe63\uff0d")
_BAD_PUNCTUATION = re.compile(r"[#®•©™&@·º½¾¿¡§~\)\(\]\[\}\{\|\\/\*]{1,}")
_FILE_SUFFIXES = "png|jpg|jpeg|bmp|webp|eps|pdf|apk|mp4"

# (pattern, replacement) in order, after the URL, HTML, handle, CJK, dash and quote passes
_LATE_STEPS: tuple[tuple[str, str], ...] = (
    (r"&quot;?", ""),  # HTML quotes that survived the parser
    (r"&amp", ""),
    (r"\d{1,3}\.\d{1,3}\.\d{1,3}\.\d{1,3}", " "),  # IP addresses
    (r"\d:\d\d\s+$", ""),  # a trailing article time stamp
    (r"\\n", " "),  # a literal backslash-n
    (r"#\d{1,3}\b", ""),  # "#123"
    (r"#\d{5,}\b", ""),  # "#12345678"
    (r"\b\d{6,}\b", ""),  # long numbers (catalogue ids)
    (rf"[\S]+\.(?:{_FILE_SUFFIXES})", ""),  # file names
    (r"[\"\']{2,}", r'"'),  # runs of quotes
    (r"[\.]{2,}", r" "),  # ellipses
)
_SPAM_STEPS: tuple[tuple[str, str], ...] = (
    (r"\b[a-zA-Z]{1,3}\d{3,15}\b", ""),  # product codes such as jc6640
    (r"\b[a-zA-Z]+\d+[a-zA-Z]+\b", ""),  # jc6640vc
    (r"\b\d+[a-zA-Z]+\d+\b", ""),  # 6640vc231
    (r"(worldwide\s+)?(free\s+)?shipping", ""),
    (r"(free\s)?download(\sfree)?", ""),
    (r"\bclick\b\s(?:for|on)\s\w+", ""),
    (rf"\b(?:{_FILE_SUFFIXES})(\simage[s]?)?", ""),
    (r"\bpage\s+\d+\b", ""),
    (r"\b\d*[a-zA-Z]+\d+[a-zA-Z]+\d+[a-zA-Z\d]*\b", r" "),  # mixed codes such as j2d1a2a
    (r"\b\d+\.?\d*[xх×]\d+\.?\d*\b", ""),  # resolutions such as 1920x1080
    (r"\b\s+\:\s+", r": "),
    (r"(\D[,\./])\b", r"\1 "),  # a space after punctuation glued to the next word
    (r"\s+", " "),
)


def _import_extras():
    try:
        import ftfy
        from bs4 import BeautifulSoup
    except ImportError as e:
        from vargym.errors import MissingExtraError

        raise MissingExtraError(f"the caption clean-up needs ftfy and beautifulsoup4: pip install -e \".[t2i]\" "
                                f"({e.name} is missing)") from e
    return ftfy, BeautifulSoup


def clean_caption_once(caption: str) -> str:
    """One pass of the official caption clean-up (see the module docstring); `clean_caption` runs two."""
    ftfy, BeautifulSoup = _import_extras()
    caption = urllib.parse.unquote_plus(str(caption)).strip().lower()
    caption = re.sub("<person>", "person", caption)
    caption = _URL_SCHEME.sub("", caption)
    caption = _URL_WWW.sub("", caption)
    caption = BeautifulSoup(caption, features="html.parser").text
    caption = re.sub(r"@[\w\d]+\b", "", caption)  # @handles
    caption = re.sub(f"[{_CJK}]+", "", caption)
    caption = re.sub(f"[{_DASHES}]+", "-", caption)  # every dash to "-" (the minus sign is not a dash)
    caption = re.sub(r"[`´«»“”¨]", '"', caption)
    caption = re.sub(r"[‘’]", "'", caption)
    for pattern, replacement in _LATE_STEPS:
        caption = re.sub(pattern, replacement, caption)
    caption = _BAD_PUNCTUATION.sub(r" ", caption)
    caption = re.sub(r"\s+\.\s+", r" ", caption)
    if len(re.findall(r"(?:\-|\_)", caption)) > 3:  # slug-like captions: this-is-my-cute-cat
        caption = re.sub(r"(?:\-|\_)", r" ", caption)
    caption = ftfy.fix_text(caption)
    caption = html.unescape(html.unescape(caption))
    for pattern, replacement in _SPAM_STEPS:
        caption = re.sub(pattern, replacement, caption)
    caption = caption.strip()
    caption = re.sub(r"^[\"\']([\w\W]+)[\"\']$", r"\1", caption)  # one pair of enclosing quotes
    caption = re.sub(r"^[\'\_,\-\:;]", r"", caption)
    caption = re.sub(r"[\'\_,\-\:\-\+]$", r"", caption)
    caption = re.sub(r"^\.\S+$", "", caption)
    return caption.strip()


def clean_caption(caption: str) -> str:
    """The official caption clean-up as the T5 pipeline runs it before tokenising: two passes.

    Example:
        >>> clean_caption("Hello <b>World</b> by @someone, see https://example.com")
        'hello world by, see'
    """
    return clean_caption_once(clean_caption_once(caption))
