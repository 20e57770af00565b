"""`vargym.algos` is generic: importing it loads no VAR, env or reward code."""

import subprocess
import sys

CODE = """
import sys
import vargym.algos
bad = sorted(m for m in sys.modules if m.startswith(("vargym.models", "vargym.envs", "vargym.rewards")))
heavy = sorted(m for m in ("torchrl", "open_clip") if m in sys.modules)
print(repr((bad, heavy)))
"""


def test_import_loads_no_higher_layer():
    result = subprocess.run([sys.executable, "-c", CODE], capture_output=True, text=True, check=True)
    bad, heavy = eval(result.stdout.strip().splitlines()[-1])
    assert bad == [], f"vargym.algos imported {bad}"
    assert heavy == [], f"vargym.algos imported heavy optional packages {heavy}"
