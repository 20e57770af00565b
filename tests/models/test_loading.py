"""Loading: official key/shape manifests, official-format files, our safetensors checkpoints, offline errors."""


import pytest
import torch

from tests.conftest import shared_path
from vargym.errors import CheckpointError, WeightsNotAvailableError
from vargym.models import (
    build_preset,
    from_official_kwargs,
    load_checkpoint,
    load_model,
    load_official,
    load_pretrained,
    preset_configs,
    save_checkpoint,
)
from vargym.models.var.loading import load_state_strict


def _manifest(name):
    rows = []
    for line in shared_path("var_keys", f"{name}.txt").read_text().splitlines():
        if line.strip():
            key, shape = line.split("\t")
            rows.append((key, tuple(int(x) for x in shape.strip("[]").split(",") if x.strip())))
    return rows


@pytest.mark.parametrize("depth", [16, 20, 24, 30])
def test_state_dict_matches_official_manifest(depth):
    with torch.device("meta"):
        vqvae, var = build_preset(f"var-d{depth}")
    for module, name in ((var, f"var_d{depth}"), (vqvae, "vae_ch160v4096z32")):
        ours = [(k, tuple(v.shape)) for k, v in module.state_dict().items()]
        assert ours == _manifest(name)  # same keys, shapes and order, buffers included
        # a state dict built from the manifest loads strictly
        state = {k: torch.empty(shape, device="meta") for k, shape in _manifest(name)}
        load_state_strict(module, state, name)


def test_strict_loading_reports_missing_and_shape():
    with torch.device("meta"):
        _, var = build_preset("var-d16")
    state = {k: torch.empty(s, device="meta") for k, s in _manifest("var_d16")}
    del state["head.bias"]
    with pytest.raises(CheckpointError, match=r"missing \['head.bias'\]"):
        load_state_strict(var, state, "x.pth")
    state["head.bias"] = torch.empty(7, device="meta")
    with pytest.raises(CheckpointError, match="shape mismatch for"):
        load_state_strict(var, state, "x.pth")


def test_official_format_files_load_and_match_golden(tmp_path):
    golden = torch.load(shared_path("golden", "var_tiny_a.pt"), weights_only=True)
    torch.save(golden["vae_state_dict"], tmp_path / "vae.pth")  # flat fp16 state dicts, as released
    torch.save(golden["var_state_dict"], tmp_path / "var.pth")
    ref_vqvae, ref_var = from_official_kwargs({**golden["vae_config"], **golden["vae_structure"]}, golden["var_config"])
    vqvae, var = load_official(tmp_path / "vae.pth", tmp_path / "var.pth", configs=(ref_vqvae.cfg, ref_var.cfg))
    assert var.pos_1LC.dtype == torch.float32 and not var.training
    tf = golden["teacher_forcing"]
    torch.testing.assert_close(var.logits(tf["label_B"], tf["idx_Bl"]), tf["logits_BLV"], atol=1e-4, rtol=1e-4)


def test_corrupt_and_missing_checkpoints(tmp_path):
    (tmp_path / "vae.pth").write_bytes(b"not a checkpoint")
    (tmp_path / "var.pth").write_bytes(b"\x00" * 64)
    with pytest.raises(CheckpointError, match="could not read checkpoint"):
        load_official(tmp_path / "vae.pth", tmp_path / "var.pth", depth=16)
    with pytest.raises(WeightsNotAvailableError, match="does not exist"):
        load_official(tmp_path / "vae.pth", tmp_path / "nope.pth", depth=16)
    torch.save({"model": {"a": torch.zeros(1)}}, tmp_path / "nested.pth")
    with pytest.raises(CheckpointError, match="not a flat state dict"):
        load_official(tmp_path / "nested.pth", tmp_path / "nested.pth", depth=16)


def test_offline_download_fails_fast_and_names_the_option(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    import huggingface_hub

    def no_network(*args, local_files_only=False, **kwargs):  # fails fast: never goes to the network offline
        assert local_files_only, "an offline load must not try to download"
        raise huggingface_hub.errors.LocalEntryNotFoundError("not cached")

    monkeypatch.setattr(huggingface_hub, "hf_hub_download", no_network)
    with pytest.raises(WeightsNotAvailableError) as info:
        load_pretrained("var-d16", cache_dir=str(tmp_path / "cache"))
    message = str(info.value)
    assert "vae_ch160v4096z32.pth" in message and "FoundationVision/var" in message and "vae_path" in message
    with pytest.raises(ValueError, match="unknown release 'var-d99'.*Did you mean 'var-d"):
        load_pretrained("var-d99")


def test_own_presets_have_no_released_weights():
    vqvae, small = build_preset("small")
    assert preset_configs("small")[0] == preset_configs("tiny")[0]  # same VQ-VAE, so the same tokens
    assert (small.cfg.depth, small.C, small.cfg.num_heads) == (6, 192, 6)
    assert sum(p.numel() for p in small.parameters()) == 4_202_084  # the frozen VQ-VAE is not a submodule
    for name in ("tiny", "small"):
        with pytest.raises(ValueError, match=f"'{name}' is one of vargym's own architectures.*random:{name}"):
            load_pretrained(name)
    with pytest.raises(ValueError, match="unknown model 'small'.*'random:<preset>'"):
        load_model("small")
    _, var = load_model("random:small")
    assert var.cfg == small.cfg


def test_safetensors_round_trip(tmp_path):
    vqvae, var = build_preset("tiny")
    save_checkpoint(tmp_path / "m", vqvae, var, extra={"note": "test"})
    vqvae2, var2 = load_checkpoint(tmp_path / "m")
    for a, b in ((vqvae, vqvae2), (var, var2)):
        sa, sb = a.state_dict(), b.state_dict()
        assert sa.keys() == sb.keys() and all(torch.equal(sa[k], sb[k]) for k in sa)
    assert var2.vqvae is vqvae2
    (tmp_path / "m" / "var.safetensors").write_bytes(b"garbage")
    with pytest.raises(CheckpointError, match="could not read checkpoint"):
        load_checkpoint(tmp_path / "m")
    with pytest.raises(ValueError, match="unknown model 'nonsense'"):
        load_model("nonsense")
