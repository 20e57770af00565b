"""The house's layering: the layers above `vargym.models` speak only the generator interface (no family
module, class or internal), `vargym.models` imports nothing above it, `vargym.algos` knows no model, and no
two vargym modules import each other (directly or around a longer loop)."""

import ast
import importlib
import pkgutil
import subprocess
import sys
from pathlib import Path

import pytest

from vargym.models.registry import families

PACKAGE = Path(__file__).resolve().parents[1] / "vargym"
LAYERS = ("envs", "algos", "train", "evaluation", "bench", "cli")


def _family_packages() -> list[str]:
    """Each registered family's package: its glue module's parent (``vargym.models.var``)."""
    return sorted({f.glue.rsplit(".", 1)[0] for f in families() if f.glue.startswith("vargym.")})


def _family_modules() -> set[str]:
    """Every module of every family package, and the old paths that now lead into one (`vargym.moved`)."""
    from vargym.moved import _MOVED

    out = set(_family_packages())
    for name in _family_packages():
        package = importlib.import_module(name)
        out |= {m.name for m in pkgutil.walk_packages(package.__path__, name + ".")}
    out |= {old for old, new in _MOVED.items() if any(new.startswith(p) for p in _family_packages())}
    return out


def _family_names() -> set[str]:
    """Every public name of a family package, and the shared entry points that hand out a family's raw
    (tokenizer, network) parts instead of a `Generator`."""
    names = {"build_preset", "preset_configs", "load_pretrained", "PRESETS"}
    for name in _family_packages():
        names |= set(importlib.import_module(name).__all__)
    return names


FAMILY_MODULES = _family_modules()
FAMILY_NAMES = _family_names()
FAMILY_CLASSES = {n for n in FAMILY_NAMES if n[0].isupper()}  # as attributes (vargym.models.VAR); functions such
# as save_checkpoint share their names with methods of other objects
FAMILY_INTERNALS = {"vqvae", "patch_nums", "v_patch_nums", "tokens_to_img", "img_to_tokens", "fhat_to_img"}


def _violations(path: Path) -> list[str]:
    tree = ast.parse(path.read_text())
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module:
            if node.module in FAMILY_MODULES:
                found.append(f"imports {node.module}")
            found += [f"imports {a.name}" for a in node.names if a.name in FAMILY_NAMES]
        elif isinstance(node, ast.Import):
            found += [f"imports {a.name}" for a in node.names if a.name in FAMILY_MODULES]
        elif isinstance(node, ast.Name) and node.id in FAMILY_NAMES | FAMILY_INTERNALS:
            found.append(f"names {node.id}")
        elif isinstance(node, ast.Attribute) and node.attr in FAMILY_CLASSES | FAMILY_INTERNALS:
            found.append(f"uses .{node.attr}")
    return [f"{path.relative_to(PACKAGE.parent)}:{v}" for v in found]


def test_the_registry_gives_the_family_lists():
    assert {"vargym.models.var", "vargym.models.llamagen"} <= set(_family_packages())
    assert {"vargym.models.var.transformer", "vargym.models.llamagen.vq", "vargym.models.vqvae"} <= FAMILY_MODULES
    assert {"VAR", "VQVAE", "LlamaGen", "LlamaGenGenerator", "VARGenerator", "KVCache"} <= FAMILY_NAMES


@pytest.mark.parametrize("layer", LAYERS)
def test_no_layer_above_models_knows_a_family(layer):
    assert any((PACKAGE / layer).rglob("*.py"))
    bad = [v for path in sorted((PACKAGE / layer).rglob("*.py")) for v in _violations(path)]
    assert not bad, "\n".join(bad)


def test_the_real_check_catches_a_family_import_name_and_internal(tmp_path):
    sample = tmp_path / "bad.py"
    sample.write_text("from vargym.models.var.transformer import VAR\n\ndef f(gen):\n    return gen.vqvae\n")
    found = [v.split(":", 1)[1] for v in _violations_under(sample, tmp_path)]
    assert found.count("imports vargym.models.var.transformer") == 1
    assert "imports VAR" in found and "uses .vqvae" in found
    sample.write_text("from vargym.models import load_generator\n\ndef f(gen):\n    return gen.layout\n")
    assert _violations_under(sample, tmp_path) == []


def _violations_under(path: Path, root: Path) -> list[str]:
    global PACKAGE
    saved, PACKAGE = PACKAGE, root / "vargym"
    try:
        return _violations(path)
    finally:
        PACKAGE = saved


def _imports(path: Path, modules: set[str]) -> set[str]:
    """The vargym modules ``path`` imports anywhere (functions included; TYPE_CHECKING blocks excluded)."""
    tree = ast.parse(path.read_text())
    typing_only = {id(sub) for node in ast.walk(tree) if isinstance(node, ast.If)
                   and "TYPE_CHECKING" in ast.unparse(node.test) for sub in ast.walk(node)}
    out = set()
    for node in ast.walk(tree):
        if id(node) in typing_only:
            continue
        if isinstance(node, ast.ImportFrom) and node.level == 0 and (node.module or "").startswith("vargym"):
            for alias in node.names:
                target = f"{node.module}.{alias.name}"
                out.add(target if target in modules else node.module)
        elif isinstance(node, ast.Import):
            out |= {a.name for a in node.names if a.name.startswith("vargym")}
    return out & modules


def _module_graph() -> dict[str, set[str]]:
    paths = {}
    for path in PACKAGE.rglob("*.py"):
        parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
        paths[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return {name: _imports(path, set(paths)) - {name} for name, path in paths.items()}


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index, low, stack, on_stack, out = {}, {}, [], set(), []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                out.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return out


def test_no_import_cycles():
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]  # the finder works
    graph = _module_graph()
    assert "vargym.models.var.sampling" in graph["vargym.models.var.transformer"]
    assert _cycles(graph) == []


def test_models_import_nothing_above_them():
    graph = _module_graph()
    above = [f"{m} imports {t}" for m, targets in graph.items() if m.startswith("vargym.models")
             for t in targets if not t.startswith("vargym.models") and t.split(".")[1] in
             ("envs", "algos", "train", "evaluation", "bench", "cli", "rewards", "data", "pretrain")]
    assert not above, "\n".join(above)


def test_algos_import_only_torch_tensordict_and_the_env_registry():
    """`import vargym.algos` loads no vargym model, env or reward module. It does import gymnasium: the
    package's ``__init__`` registers the env ids (cheap string entry points), as documented."""
    code = (
        "import sys, vargym.algos\n"
        "bad = sorted(m for m in sys.modules if m.startswith(('vargym.models', 'vargym.envs', 'vargym.rewards',"
        " 'torchrl', 'open_clip', 'torchvision')))\n"
        "print(bad)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]", out
