"""``vargym serve-reward``: serve a registered reward (or an expression) over HTTP for ``remote:`` clients."""

from __future__ import annotations

import typer


def serve_reward(
    reward: str = typer.Argument(..., help="A reward name or expression, e.g. 'aesthetic' or 'luma+0.5*clip'."),
    host: str = typer.Option("127.0.0.1", help="Interface to listen on (0.0.0.0: every interface)."),
    port: int = typer.Option(8000, min=1, max=65535, help="TCP port."),
    device: str | None = typer.Option(None, help="torch device of the reward model (default: cuda if available)."),
    reward_arg: list[str] | None = typer.Option(
        None, help="Reward constructor argument, KEY=VALUE or TERM.KEY=VALUE (repeatable), as for `vargym train`, "
                   "e.g. weights_path=/models/HPS_v2.1_compressed.pt."),
) -> None:
    """Serve REWARD at http://HOST:PORT; train elsewhere with --reward remote:http://HOST:PORT."""
    import vargym.rewards
    from vargym.cli.common import pick_device
    from vargym.cli.train import _key_values
    from vargym.errors import VargymError

    kwargs = _key_values(reward_arg, "--reward-arg")
    try:
        from vargym.rewards.serving import serve

        built = vargym.rewards.make(reward, device=pick_device(device), **kwargs)
    except (ValueError, ImportError, VargymError) as e:
        typer.secho(f"error: {e}", fg=typer.colors.RED, err=True)
        raise typer.Exit(code=2) from e
    typer.echo(f"serving reward {built.name!r} at http://{host}:{port} (POST /score, GET /info)")
    serve(built, host=host, port=port)
