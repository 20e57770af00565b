"""examples/cartpole_ppo.py runs (PPOLoss + our GAE on CartPole through torchrl) and the return rises."""

import os
import re
import subprocess
import sys
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[2] / "examples" / "cartpole_ppo.py"


def test_cartpole_example_runs_and_return_rises():
    env = {**os.environ, "OMP_NUM_THREADS": "1", "RL_LOGGING_LEVEL": "WARNING"}
    result = subprocess.run(
        [sys.executable, str(SCRIPT), "--iterations", "6", "--episodes", "8", "--seed", "0"],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    returns = [float(x) for x in re.findall(r"return\s+([\d.]+)", result.stdout)]
    assert len(returns) == 6, result.stdout
    assert sum(returns[-2:]) / 2 > 1.5 * sum(returns[:2]) / 2, returns
