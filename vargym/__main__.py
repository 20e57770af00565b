"""``python -m vargym``: the `vargym` command, so that ``torchrun -m vargym train ...`` launches it."""

from vargym.cli.main import app

if __name__ == "__main__":
    app()
