"""The family registry: entries agree with the families' own tables, clear errors, and dispatch by name."""

from __future__ import annotations

import pytest

from vargym.models import load_generator
from vargym.models.llamagen.presets import LLAMAGEN_PRESETS, RELEASED_LLAMAGEN
from vargym.models.registry import Family, family_of_preset, get_family, register_family
from vargym.models.var.presets import PRESETS, RELEASED_PRESETS


def test_entries_match_the_families_tables():
    assert set(get_family("var").presets) == set(PRESETS)
    assert set(get_family("var").released) == set(RELEASED_PRESETS)
    assert set(get_family("llamagen").presets) == set(LLAMAGEN_PRESETS)
    assert set(get_family("llamagen").released) == set(RELEASED_LLAMAGEN)
    assert family_of_preset("tiny-llamagen").name == "llamagen"


def test_unknown_names_suggest():
    with pytest.raises(ValueError, match="unknown model family 'lamagen'.*Did you mean 'llamagen'"):
        get_family("lamagen")
    with pytest.raises(ValueError, match="unknown preset 'var-d17'.*Did you mean"):
        family_of_preset("var-d17")
    with pytest.raises(ValueError, match="unknown model 'var-d61'.*Did you mean 'var-d16'"):
        load_generator("var-d61")


def test_registration_refuses_clashes():
    with pytest.raises(ValueError, match="already registered"):
        register_family(Family(name="var", glue="x", presets=("other",)))
    with pytest.raises(ValueError, match=r"names \['tiny'\] are already used by family 'var'"):
        register_family(Family(name="mine", glue="x", presets=("tiny",)))
    with pytest.raises(TypeError, match="takes a Family"):
        register_family("var")


def test_weight_files_are_checked_against_the_family():
    with pytest.raises(ValueError, match=r"var-d16 \(var\) takes the weight files \['vae_path', 'var_path'\], "
                                         r"got \['gpt_path'\]"):
        load_generator("var-d16", gpt_path="x.pt")
    with pytest.raises(ValueError, match="apply to a released preset only"):
        load_generator("tiny", vae_path="x.pt")
