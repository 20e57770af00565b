"""vargym.data exports its names lazily."""

import subprocess
import sys

import pytest

import vargym.data


def test_every_export_resolves():
    for name in vargym.data.__all__:
        assert getattr(vargym.data, name) is not None
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        vargym.data.nope  # noqa: B018


def test_import_loads_no_submodule():
    code = "import sys, vargym.data; print(any(m.startswith('vargym.data.') for m in sys.modules))"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "False"
