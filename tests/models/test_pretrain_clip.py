"""Pretraining the tiny CLIP: its loss, a shortened run that open_clip and `load_clip` both load, exact resume,
bad settings, and the shipped `tiny-clip` reading its world."""

import json
import os

import pytest
import torch
from safetensors.torch import load_file
from typer.testing import CliRunner

from tests.models.test_pretrain import _Interrupt
from vargym.cli.main import app
from vargym.errors import CheckpointError, WeightsNotAvailableError
from vargym.pretrain.clip import contrastive_loss, run_pretrain_clip, zero_shot_accuracy
from vargym.pretrain.config import TinyClipConfig
from vargym.rewards.clip_models import SHIPPED_CLIPS, load_clip

RUN = {"steps": 6, "batch_size": 16, "embed_dim": 32, "vision_width": 32, "vision_layers": 1, "text_width": 32,
       "text_layers": 1, "context_length": 16, "checkpoint_every": 2, "log_every": 2, "eval_images": 6}


def test_rows_with_the_same_attributes_are_positives_of_each_other():
    g = torch.Generator().manual_seed(0)
    image, text = torch.randn(4, 8, generator=g), torch.randn(4, 8, generator=g)
    rows = torch.tensor([[1, 2, 3, 0], [1, 2, 3, 0], [4, 5, 6, 1], [7, 0, 1, -1]])
    scale = torch.tensor(2.0)
    loss = contrastive_loss(image, text, scale, rows)
    swapped = text[[1, 0, 2, 3]]  # the captions of two equal compositions trade places
    torch.testing.assert_close(contrastive_loss(image, swapped, scale, rows), loss)
    distinct = torch.arange(16).view(4, 4)
    assert not torch.allclose(contrastive_loss(image, swapped, scale, distinct), contrastive_loss(image, text, scale,
                                                                                                 distinct))
    # matching pairs aligned and the others apart give a far smaller loss than random embeddings
    aligned = torch.eye(4, 8)
    assert contrastive_loss(aligned, aligned, torch.tensor(4.0), distinct) < 0.5 * contrastive_loss(image, text, scale,
                                                                                                    distinct)


@pytest.mark.parametrize("field, value, match", [
    ("batch_size", 1, "batch_size must be at least 2"), ("objects", 3, "objects must be 1 or 2"),
    ("patch_size", 7, "patch_size must divide"), ("vision_width", 48, "vision_width must be a multiple of 32"),
    ("steps", 0, "steps must be a positive integer"), ("lr", 0.0, r"lr must be in \(0, 1\)"),
])
def test_bad_settings_are_refused_naming_the_field(field, value, match):
    with pytest.raises(ValueError, match=match):
        TinyClipConfig(**{field: value})


def test_a_short_run_writes_open_clips_layout_that_both_loaders_read_and_resumes_exactly(tmp_path):
    import open_clip

    out = run_pretrain_clip(TinyClipConfig(out_dir=str(tmp_path / "full"), **RUN))
    config = json.loads((out / "open_clip_config.json").read_text())
    assert config["model_cfg"]["vision_cfg"]["image_size"] == 64 and config["model_cfg"]["embed_dim"] == 32
    assert {"clip_final_loss", "seen_color", "held_out_mean"} <= set(config["vargym"]["figures"])
    assert "| seen_mean |" in (out / "MODEL_CARD.md").read_text()
    weights = load_file(str(out / "open_clip_model.safetensors"))
    assert all(v.dtype == torch.float16 for v in weights.values())

    with pytest.raises(ValueError, match="already holds a checkpoint"):  # a fresh run never overwrites one
        run_pretrain_clip(TinyClipConfig(out_dir=str(out), **{**RUN, "resume": False}))

    backbone = load_clip(str(out))
    for key, value in backbone.model.state_dict().items():
        torch.testing.assert_close(value, weights[key].float(), rtol=0, atol=0)
    assert load_clip(f"local-dir:{out}") is backbone  # one backbone per folder, device and dtype
    images = torch.rand(3, 3, 64, 64, generator=torch.Generator().manual_seed(1))
    captions = ["a small red circle on a blue background", "green stripes, navy backdrop", "a yellow star"]
    if hasattr(open_clip.factory, "LOCAL_DIR_PREFIX"):  # open_clip's own reader of the layout (3.2 on)
        model = open_clip.create_model(f"local-dir:{out}").eval()
        tokenizer = open_clip.get_tokenizer(f"local-dir:{out}")
        with torch.no_grad():
            theirs = torch.nn.functional.normalize(model.encode_text(tokenizer(captions)), dim=-1)
            pixels = backbone.preprocess(images)
            theirs_images = torch.nn.functional.normalize(model.encode_image(pixels), dim=-1)
        torch.testing.assert_close(backbone.encode_texts(captions), theirs)
        torch.testing.assert_close(backbone.encode_images(images), theirs_images)

    def interrupt(stage, step, total, metrics):
        if step == 4:  # right after the step-4 checkpoint, as a kill would
            raise _Interrupt

    with pytest.raises(_Interrupt):
        run_pretrain_clip(TinyClipConfig(out_dir=str(tmp_path / "cut"), **RUN), progress=interrupt)
    seen = []
    cut = run_pretrain_clip(TinyClipConfig(out_dir=str(tmp_path / "cut"), **RUN),
                            progress=lambda stage, step, total, m: seen.append(step))
    assert seen[0] == 5
    resumed = load_file(str(cut / "open_clip_model.safetensors"))
    for key in weights:
        torch.testing.assert_close(resumed[key], weights[key], rtol=0, atol=0, msg=key)


def test_the_cli_trains_a_clip_and_names_bad_flags(tmp_path):
    runner = CliRunner()
    flags = [f"--{k.replace('_', '-')}={v}" for k, v in {**RUN, "steps": 2, "eval_images": 0}.items()]
    result = runner.invoke(app, ["pretrain-clip", "--out", str(tmp_path / "clip"), "--quiet", *flags])
    assert result.exit_code == 0, result.output
    assert "--reward clip --reward-arg clip_model=" in result.output
    assert load_clip(str(tmp_path / "clip")).embed_dim == 32
    bad = runner.invoke(app, ["pretrain-clip", "--out", str(tmp_path / "bad"), "--batch-size", "1"])
    assert bad.exit_code == 2 and "batch_size must be at least 2" in bad.output


def test_a_rewritten_folder_is_read_again_and_its_old_backbone_dropped(tmp_path):
    import shutil

    from vargym.rewards import clip_models

    folder = tmp_path / "clip"
    shutil.copytree(SHIPPED_CLIPS["tiny-clip"], folder)
    first = load_clip(str(folder))
    weights = folder / "open_clip_model.safetensors"
    os.utime(weights, ns=(weights.stat().st_atime_ns, weights.stat().st_mtime_ns + 10**9))  # as a retraining would
    second = load_clip(str(folder))
    assert second is not first
    assert sum(1 for key in clip_models._BACKBONES if key[0] == str(folder.resolve())) == 1


def test_folder_errors_say_what_is_missing(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(WeightsNotAvailableError, match="open_clip_config.json and open_clip_model.safetensors"):
        load_clip(f"local-dir:{tmp_path / 'empty'}")
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "open_clip_config.json").write_text(json.dumps({"model_cfg": {"embed_dim": 8}}))
    (broken / "open_clip_model.safetensors").write_bytes(b"not safetensors")
    with pytest.raises(CheckpointError, match="cannot load the CLIP folder"):
        load_clip(str(broken))
    shipped_config = (SHIPPED_CLIPS["tiny-clip"] / "open_clip_config.json").read_text()
    (broken / "open_clip_config.json").write_text(shipped_config)  # a good architecture, a corrupt weights file
    with pytest.raises(CheckpointError, match="cannot load the CLIP folder"):
        load_clip(str(broken))
    (broken / "open_clip_model.safetensors").write_bytes((SHIPPED_CLIPS["tiny-clip"] / "open_clip_model.safetensors")
                                                         .read_bytes()[:5000])  # a truncated download
    with pytest.raises(CheckpointError, match="cannot load the CLIP folder"):
        load_clip(str(broken))
    with pytest.raises(ValueError, match="weights_path does not apply"):
        load_clip("tiny-clip", weights_path=tmp_path / "x.safetensors")
    with pytest.raises(ValueError, match="tiny-clip"):
        load_clip("tiny-clipp")


def test_the_shipped_tiny_clip_reads_its_world():
    """Its card (512 renders per split): seen shape 0.92, colour, background and size 1.0; held-out mean 0.97
    (chance 0.1-0.5 per attribute). The bounds leave wide margins for 96 renders."""
    assert (SHIPPED_CLIPS["tiny-clip"] / "open_clip_model.safetensors").is_file()
    backbone = load_clip("tiny-clip")
    seen = zero_shot_accuracy(backbone, "seen", 96, seed=5)
    assert seen["color"] > 0.8 and seen["background"] > 0.8 and seen["shape"] > 0.6 and seen["size"] > 0.7
    held_out = zero_shot_accuracy(backbone, "held_out", 96, seed=5)
    assert held_out["mean"] > 0.5  # compositions it never saw: still far above chance


def test_the_clip_reward_on_the_shipped_tiny_clip_prefers_the_prompt_drawn():
    from vargym.data.captioned import caption, draw, render
    from vargym.rewards import RewardContext, make

    g = torch.Generator().manual_seed(3)
    rows = draw(48, g, "seen")
    images = render(rows, g)
    own = [caption(r, torch.Generator().manual_seed(i)) for i, r in enumerate(rows)]
    other = own[1:] + own[:1]  # each image with its neighbour's prompt
    reward = make("clip", clip_model="tiny-clip")
    right = reward(images, RewardContext(image_prompts=own)).total
    wrong = reward(images, RewardContext(image_prompts=other)).total
    assert (right > wrong).float().mean() > 0.8
