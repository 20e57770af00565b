"""The layers above `vargym.models` speak only the generator interface: no family module, class or internal."""

import ast
import subprocess
import sys
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "vargym"
LAYERS = ("envs", "algos", "train", "evaluation", "bench", "cli")
FAMILY_MODULES = {
    "vargym.models.var", "vargym.models.vqvae", "vargym.models.var_generator", "vargym.models.sampling",
    "vargym.models.quantizer", "vargym.models.vae_blocks", "vargym.models.presets", "vargym.models.loading",
    "vargym.models.llamagen", "vargym.models.llamagen_vq", "vargym.models.llamagen_generator",
    "vargym.models.llamagen_presets", "vargym.models.llamagen_loading",
}
FAMILY_NAMES = {
    "VAR", "VQVAE", "VARConfig", "VQVAEConfig", "VARGenerator", "ScaleSampler", "KVCache", "build_preset",
    "load_model", "load_pretrained", "load_official", "load_checkpoint", "from_official_kwargs",
    "preset_configs", "PRESETS", "LlamaGen", "LlamaGenConfig", "LlamaGenVQ", "LlamaGenVQConfig", "LlamaGenGenerator",
    "TokenSampler", "LLAMAGEN_PRESETS", "llamagen_from_official_kwargs", "load_llamagen_official",
    "load_llamagen_checkpoint",
}
FAMILY_INTERNALS = {"vqvae", "patch_nums", "v_patch_nums", "tokens_to_img", "img_to_tokens", "fhat_to_img"}


def _layer_files():
    for layer in LAYERS:
        yield from sorted((PACKAGE / layer).rglob("*.py"))


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
        elif isinstance(node, ast.Attribute) and node.attr in FAMILY_NAMES | FAMILY_INTERNALS:
            found.append(f"uses .{node.attr}")
    return [f"{path.relative_to(PACKAGE.parent)}:{v}" for v in found]


@pytest.mark.parametrize("layer", LAYERS)
def test_no_layer_above_models_knows_a_family(layer):
    assert any((PACKAGE / layer).rglob("*.py"))
    bad = [v for path in sorted((PACKAGE / layer).rglob("*.py")) for v in _violations(path)]
    assert not bad, "\n".join(bad)


def test_the_check_catches_a_family_import(tmp_path):
    sample = tmp_path / "bad.py"
    sample.write_text("from vargym.models.var import VAR\n\ndef f(gen):\n    return gen.vqvae\n")
    assert len(_violations_for(sample)) == 3


def _violations_for(path: Path) -> list[str]:
    tree = ast.parse(path.read_text())
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module in FAMILY_MODULES:
            out.append(node.module)
            out += [a.name for a in node.names if a.name in FAMILY_NAMES]
        elif isinstance(node, ast.Attribute) and node.attr in FAMILY_INTERNALS:
            out.append(node.attr)
    return out


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
