"""Every config field is reachable from exactly one flag of its command, with the field's docstring as help."""

import dataclasses

import pytest
import typer.main

from vargym.cli.main import app
from vargym.configdoc import field_help
from vargym.evaluation.config import EvalConfig
from vargym.pretrain.config import PretrainConfig, TinyClipConfig
from vargym.train.config import TrainConfig

# field -> the flag that sets it, where the two names differ (a dict or tuple field parsed by the command)
CASES = {
    "train": (TrainConfig, {"algo_kwargs": "algo_arg", "reward_kwargs": "reward_arg", "model_files": "model_file"}),
    "eval": (EvalConfig, {"rewards": "reward"}),
    "pretrain": (PretrainConfig, {"out_dir": "out"}),
    "pretrain-clip": (TinyClipConfig, {"out_dir": "out"}),
}
# fields that hold Python objects no command line can spell (the flags --classes / --prompts cover them there)
API_ONLY = {"eval": {"conditions"}}


def _command(name):
    return next(c for c in typer.main.get_command(app).commands.values() if c.name == name)


@pytest.mark.parametrize("name", sorted(CASES))
def test_every_config_field_has_one_flag_with_its_docstring(name):
    config_class, through = CASES[name]
    params = {p.name: p for p in _command(name).params}
    helps = field_help(config_class)
    for f in dataclasses.fields(config_class):
        if f.name == "sampling":  # a nested SamplingConfig: its own flags, see below
            continue
        if f.name in API_ONLY.get(name, ()):
            assert f.name not in params, f"{name} --{f.name}: an API-only field got a flag"
            continue
        flag = through.get(f.name, f.name)
        assert flag in params, f"{config_class.__name__}.{f.name} has no --{flag.replace('_', '-')} flag"
        assert params[flag].help.startswith(helps[f.name]), f"{name} --{flag}: help is not the field's docstring"
    flags = [o for p in _command(name).params for o in getattr(p, "opts", [])]
    assert len(flags) == len(set(flags)), "a flag is declared twice"


SAMPLING_COMMANDS = {"train": {"more_smooth"}, "eval": set(), "sample": set(), "bench": {"more_smooth"}}


def _params(name):
    root = typer.main.get_command(app)
    command = root.commands[name] if name in root.commands else _command(name)
    return {p.name: p for p in command.params}


@pytest.mark.parametrize("name", sorted(SAMPLING_COMMANDS))
def test_sampling_flags_are_generated_once_for_every_command(name):
    """train, eval, sample and bench take the same SamplingConfig flags, with one help text each."""
    from vargym.configdoc import _plain, field_docs
    from vargym.models.generator import SamplingConfig

    params = _params(name)
    docs = field_docs(SamplingConfig)
    for f in dataclasses.fields(SamplingConfig):
        if f.name in SAMPLING_COMMANDS[name]:
            assert f.name not in params, f"{name} must not offer --{f.name}"
            continue
        assert f.name in params, f"{name} has no --{f.name.replace('_', '-')} flag"
        assert params[f.name].help.startswith(_plain(docs[f.name])), f"{name} --{f.name}: not the field's doc"


def test_generated_flags_reach_the_config(tmp_path):
    from typer.testing import CliRunner

    result = CliRunner().invoke(app, ["pretrain", "--out", str(tmp_path), "--vqvae-lr", "-1", "--quiet"])
    assert result.exit_code == 2 and "vqvae_lr" in result.output
