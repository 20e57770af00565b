"""The examples run end to end (shortened through their own command-line arguments where they have them)."""

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("script", ["train_custom_reward.py"])
def test_example_runs(script, tmp_path):
    result = subprocess.run([sys.executable, str(ROOT / "examples" / script), "--model", "random:tiny"], cwd=tmp_path,
                            capture_output=True, text=True, timeout=300, env={"OMP_NUM_THREADS": "1", "PATH": ""})
    assert result.returncode == 0, result.stderr[-2000:]
    assert "iteration  9" in result.stdout and (tmp_path / "runs" / "example_redness" / "metrics.jsonl").is_file()


@pytest.mark.parametrize("script", sorted(p.name for p in (ROOT / "examples").glob("*.py")))
def test_example_help(script):
    result = subprocess.run([sys.executable, str(ROOT / "examples" / script), "--help"], capture_output=True,
                            text=True, timeout=120, env={"OMP_NUM_THREADS": "1", "PATH": ""})
    assert result.returncode == 0 and "usage" in result.stdout.lower(), result.stderr[-2000:]
