"""``vargym info``: versions, device, and which weights are available offline."""

from __future__ import annotations


def info() -> None:
    """Print library versions, the compute device, and which model weights are cached or shipped."""
    import importlib.metadata as md
    import platform

    import torch
    from rich.console import Console
    from rich.table import Table

    from vargym.models import families, released_weight_files, shipped_models

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
    for family in families():
        table.add_row(f"{family.name} family", f"presets: {', '.join(family.presets)}; released: "
                      f"{', '.join(family.released) or 'none'}; --model-file keys: {', '.join(family.weight_files) or 'none'}")
    for name, present in shipped_models().items():
        table.add_row(f"{name} model (shipped)", "yes" if present else "[red]missing[/red]")
    try:
        from huggingface_hub import try_to_load_from_cache

        for repo, name, revision in released_weight_files():
            hit = try_to_load_from_cache(repo, name, revision=revision)
            table.add_row(f"{repo}/{name}", "cached" if isinstance(hit, str) else "not cached")
    except Exception as e:  # a broken cache must not break `info`
        table.add_row("hugging face cache", f"unreadable: {e}")
    console.print(table)
