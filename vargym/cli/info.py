"""``vargym info``: versions, device, and which weights are available offline."""

from __future__ import annotations


def info() -> None:
    """Print library versions, the compute device, and which model weights are cached or shipped."""
    import importlib.metadata as md
    import platform

    import torch
    from rich.console import Console
    from rich.table import Table

    from vargym.models.loading import HF_REPO_ID, HF_REVISION, TINY_DIR, VQVAE_FILE

    console = Console()
    table = Table(title="vargym", show_header=False)
    table.add_row("python", platform.python_version())
    for dist in ("vargym", "torch", "torchvision", "tensordict", "torchrl", "gymnasium", "open_clip_torch"):
        try:
            table.add_row(dist, md.version(dist))
        except md.PackageNotFoundError:
            table.add_row(dist, "[red]not installed[/red]")
    cuda = torch.cuda.is_available()
    table.add_row("device", f"cuda ({torch.cuda.get_device_name(0)})" if cuda else "cpu (no CUDA device)")
    table.add_row("torch threads", str(torch.get_num_threads()))
    table.add_row("tiny model (shipped)", "yes" if (TINY_DIR / "model.json").is_file() else "[red]missing[/red]")
    try:
        from huggingface_hub import try_to_load_from_cache

        for name in (VQVAE_FILE, "var_d16.pth", "var_d20.pth", "var_d24.pth", "var_d30.pth"):
            hit = try_to_load_from_cache(HF_REPO_ID, name, revision=HF_REVISION)
            table.add_row(f"{HF_REPO_ID}/{name}", "cached" if isinstance(hit, str) else "not cached")
    except Exception as e:  # a broken cache must not break `info`
        table.add_row("hugging face cache", f"unreadable: {e}")
    console.print(table)
