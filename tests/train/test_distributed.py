"""torchrun on CPU (gloo, 2 processes): the same program as one process, rank 0 writes, failures stop the job,
resume continues exactly."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from vargym.metrics_log import read_metrics
from vargym.models import load_generator

pytestmark = pytest.mark.skipif(not torch.distributed.is_available(), reason="torch.distributed is not built in")

FLAGS = ["--model", "random:tiny", "--reward", "luma", "--num-labels", "2", "--group-size", "2",
         "--minibatch-size", "2", "--lr", "1e-3", "--precision", "float32", "--decode-precision", "float32",
         "--sample-every", "0", "--device", "cpu", "--quiet", "--seed", "5"]
VOLATILE = {"wall_s", "sample_s", "reward_s", "logprob_s", "backward_s", "iteration_s", "samples_per_s"}  # timings


def _env() -> dict[str, str]:
    return {**os.environ, "OMP_NUM_THREADS": "1", "VARGYM_DIST_TIMEOUT": "60"}


def _torchrun(*args: str, nproc: int = 2, timeout: int = 240) -> subprocess.CompletedProcess:
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc-per-node={nproc}", *args]
    return subprocess.run(cmd, capture_output=True, text=True, env=_env(), timeout=timeout)


def _vargym(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "vargym", *args], capture_output=True, text=True, env=_env(),
                          timeout=240)


def _final_policy(run: Path) -> dict[str, torch.Tensor]:
    return dict(load_generator(run).policy.state_dict())


def _same_runs(a: Path, b: Path, adam_tolerant: bool = False) -> None:
    """Same metrics and final weights. ``adam_tolerant``: Adam's first step is about ``lr * g / (|g| + eps)``, so
    where a gradient is near eps (1e-8) the order of the cross-rank sum moves the update by up to lr; such
    rare weights may differ by up to lr (1e-3) and all others by at most 1e-5."""
    ra, rb = read_metrics(a), read_metrics(b)
    assert [r["iteration"] for r in ra] == [r["iteration"] for r in rb]
    for x, y in zip(ra, rb):
        assert set(x) == set(y)  # every statistic is logged either way
        for key in sorted(set(x) - VOLATILE):
            if isinstance(x[key], float):
                assert y[key] == pytest.approx(x[key], abs=1e-5, rel=1e-4), key
    pa, pb = _final_policy(a), _final_policy(b)
    for key in pa:
        if not adam_tolerant:
            torch.testing.assert_close(pa[key], pb[key], atol=1e-5, rtol=1e-4)
            continue
        diff = (pa[key].float() - pb[key].float()).abs()
        assert float(diff.max()) <= 1e-3 and float((diff > 1e-5).float().mean()) < 1e-3, key


@pytest.fixture(scope="module")
def two_rank_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("dist") / "two"
    result = _torchrun("-m", "vargym", "train", *FLAGS, "--steps", "2", "--out", str(out))
    assert result.returncode == 0, result.stderr[-3000:]
    return out, result


def test_two_ranks_equal_one_rank_with_the_same_global_batch(two_rank_run, tmp_path):
    out, result = two_rank_run
    one = tmp_path / "one"
    single = _vargym("train", *FLAGS, "--steps", "2", "--group-seeds", "--out", str(one))
    assert single.returncode == 0, single.stderr[-3000:]
    _same_runs(one, out)
    weights_changed = _final_policy(out)
    assert any(not torch.equal(v, load_generator("random:tiny").policy.state_dict()[k])
               for k, v in weights_changed.items() if v.is_floating_point())


def test_a_vqgan_transformer_on_two_ranks_equals_one_process(tmp_path):
    """The third family through torchrun: chunked raster steps, top-k, the same program as one process."""
    flags = [*FLAGS, "--model", "random:tiny-vqgan", "--tokens-per-step", "16", "--top-k", "100", "--steps", "1"]
    two = _torchrun("-m", "vargym", "train", *flags, "--out", str(tmp_path / "two"))
    assert two.returncode == 0, two.stderr[-3000:]
    one = _vargym("train", *flags, "--group-seeds", "--out", str(tmp_path / "one"))
    assert one.returncode == 0, one.stderr[-3000:]
    _same_runs(tmp_path / "one", tmp_path / "two", adam_tolerant=True)


def test_every_ppo_statistic_is_global(tmp_path):
    """PPO with two epochs, minibatches of 4 rows (2 per rank) and micro-batches: explained_variance,
    advantage_std and ratio_check_max_abs are taken over whole minibatches, as in one process."""
    flags = [*FLAGS, "--algo", "ppo", "--num-labels", "4", "--minibatch-size", "4", "--epochs", "2",
             "--micro-batch-size", "1", "--steps", "2"]
    two, one = tmp_path / "two", tmp_path / "one"
    result = _torchrun("-m", "vargym", "train", *flags, "--out", str(two))
    assert result.returncode == 0, result.stderr[-3000:]
    single = _vargym("train", *flags, "--group-seeds", "--out", str(one))
    assert single.returncode == 0, single.stderr[-3000:]
    _same_runs(one, two)
    first = read_metrics(one)[0]
    assert {"explained_variance", "advantage_std", "ratio_check_max_abs", "clip_fraction"} <= set(first)
    assert first["advantage_std"] > 0


def test_only_rank_zero_writes_and_reports(two_rank_run):
    out, result = two_rank_run
    assert [r["iteration"] for r in read_metrics(out)] == [1, 2]  # one writer, no duplicated lines
    assert json.loads((out / "config.json").read_text())["num_labels"] == 2  # global, as given
    assert result.stdout.count("reward_mean") == 1  # rank 0's one summary line


def test_resume_from_a_two_rank_checkpoint_continues_identically(two_rank_run, tmp_path):
    out, _ = two_rank_run
    cut = tmp_path / "cut"
    first = _torchrun("-m", "vargym", "train", *FLAGS, "--steps", "1", "--out", str(cut))
    assert first.returncode == 0, first.stderr[-3000:]
    resumed = _torchrun("-m", "vargym", "train", "--resume", str(cut), "--steps", "2", "--quiet")
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    _same_runs(out, cut)


def test_a_rank_that_dies_stops_the_job_with_an_error(tmp_path):
    script = tmp_path / "die.py"
    script.write_text(
        "import os\n"
        "from vargym.rewards import Reward\n"
        "from vargym.train import TrainConfig, Trainer\n"
        "class Dies(Reward):\n"
        "    def __init__(self):\n"
        "        super().__init__('dies')\n"
        "        self.calls = 0\n"
        "    def score(self, images, context):\n"
        "        self.calls += 1\n"
        "        if os.environ['RANK'] == '1' and self.calls == 2:\n"
        "            os._exit(3)  # a crash mid-iteration, between two collectives\n"
        "        return images.mean(dim=(1, 2, 3))\n"
        f"cfg = TrainConfig(model='random:tiny', num_labels=2, group_size=2, minibatch_size=2, steps=4, "
        f"sample_every=0, sampling={{'precision': 'float32', 'decode_precision': 'float32'}}, device='cpu', out={str(tmp_path / 'run')!r})\n"
        "Trainer(cfg, reward=Dies()).train()\n"
    )
    result = _torchrun(str(script), timeout=200)
    assert result.returncode != 0
    import re

    assert re.search(r"rank\s*:\s*1 .*\n\s*exitcode\s*:\s*3", result.stderr), result.stderr[-2000:]  # torchrun names it
    assert not (tmp_path / "run" / "checkpoints" / "iter_000004").exists()
