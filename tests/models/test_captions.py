"""The caption clean-up against the official outputs (../shared/llamagen/t2i/t5_text_preprocessing.json)."""

import json

import pytest

from tests.conftest import shared_path

pytest.importorskip("ftfy", reason="the t2i extra (ftfy) is not installed")
pytest.importorskip("bs4", reason="the t2i extra (beautifulsoup4) is not installed")

from vargym.models import clean_caption  # noqa: E402
from vargym.models.text import clean_caption_once  # noqa: E402


def _cases():
    return json.loads(shared_path("llamagen", "t2i", "t5_text_preprocessing.json").read_text())["cases"]


def test_every_official_case():
    cases = _cases()
    assert len(cases) == 36
    wrong = [(c["prompt"], clean_caption(c["prompt"]), c["cleaned"]) for c in cases
             if clean_caption(c["prompt"]) != c["cleaned"]]
    assert not wrong, "\n".join(f"{p!r}: got {g!r}, official {o!r}" for p, g, o in wrong)
    assert all(clean_caption_once(c["prompt"]) == c["cleaned_once"] for c in cases)


def test_the_second_pass_matters():
    # one pass strips one leading comma and then re-spaces the next one; the second pass strips that too
    assert clean_caption_once(",,x") == ", x" and clean_caption(",,x") == "x"


def test_a_missing_extra_is_named(monkeypatch):
    import builtins

    from vargym.errors import MissingExtraError

    real_import = builtins.__import__

    def no_bs4(name, *args, **kwargs):
        if name == "bs4":
            raise ImportError("No module named 'bs4'", name="bs4")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_bs4)
    with pytest.raises(MissingExtraError, match=r'pip install -e "\.\[t2i\]" \(bs4 is missing\)'):
        clean_caption("a cat")
