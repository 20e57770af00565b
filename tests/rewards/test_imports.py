"""Importing vargym.rewards is cheap and respects the layer boundaries."""

import subprocess
import sys


def test_import_is_light_and_layered():
    code = (
        "import sys, vargym.rewards\n"
        "heavy = [m for m in ('open_clip', 'torchvision', 'huggingface_hub') if m in sys.modules]\n"
        "layers = [m for m in sys.modules if m.startswith(('vargym.envs', 'vargym.algos', 'vargym.models'))]\n"
        "print(heavy, layers)\n"
        "assert not heavy and not layers\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
