"""The ``vargym`` command line. Each command lives in its own module; heavy imports happen inside commands."""

from __future__ import annotations

import typer

from vargym.cli import bench as bench_cmd
from vargym.cli import encode, export, info, pretrain, sample, serve
from vargym.cli import eval as eval_cmd
from vargym.cli import train as train_cmd

app = typer.Typer(
    name="vargym",
    help="Fine-tune autoregressive image generators (VAR, LlamaGen) with reinforcement learning.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_show_locals=False,
)
def _version(value: bool) -> None:
    if value:
        import vargym

        typer.echo(f"vargym {vargym.__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: bool = typer.Option(False, "--version", callback=_version, is_eager=True, help="Print the version."),
) -> None:
    """Fine-tune autoregressive image generators with reinforcement learning."""


app.command("sample")(sample.sample)
app.command("info")(info.info)
app.command("eval")(eval_cmd.eval_command)
app.command("train")(train_cmd.train)
app.command("pretrain")(pretrain.pretrain)
app.command("pretrain-clip")(pretrain.pretrain_clip)
app.command("export")(export.export)
app.command("encode-prompts")(encode.encode_prompts)
app.command("serve-reward")(serve.serve_reward)
app.add_typer(bench_cmd.app, name="bench")


def main() -> None:  # pragma: no cover - entry point
    app()


if __name__ == "__main__":  # pragma: no cover
    main()
