"""LlamaGen pretraining: a shortened run writes a loadable LlamaGen, resume is exact, the shipped one is good."""

import pytest
import torch
from safetensors.torch import load_file

from tests.models.test_pretrain import TINY_RUN, _Interrupt
from vargym.models import LlamaGenGenerator, load_generator
from vargym.pretrain.stages import PretrainConfig, run_pretrain

RUN = {**TINY_RUN, "decoder_steps": 0, "preset": "tiny-llamagen", "eval_per_class": 1, "eval_cfgs": (1.0, 3.0),
       "classifier_steps": 2, "classifier_batch_size": 4}


@pytest.mark.parametrize("stage", ["vq", "gpt"])
def test_llamagen_pretrain_writes_a_loadable_model_and_resumes_exactly(tmp_path, stage):
    full = run_pretrain(PretrainConfig(out_dir=str(tmp_path / "full"), **RUN))
    generator = load_generator(full.out_dir)
    assert isinstance(generator, LlamaGenGenerator) and generator.class_names[0] == "circle"
    assert {"vq_final_loss", "gpt_final_loss", "samples_cfg3_classifier_top1"} <= set(full.figures)
    assert (full.out_dir / "MODEL_CARD.md").read_text().startswith("# vargym pretrained LlamaGen")
    assert (full.out_dir / "samples.png").is_file()

    def interrupt(s, step, total, metrics):
        if (s, step) == (stage, 2):  # right after the step-2 checkpoint, as a kill would
            raise _Interrupt

    with pytest.raises(_Interrupt):
        run_pretrain(PretrainConfig(out_dir=str(tmp_path / "cut"), **RUN), progress=interrupt)
    seen = []
    cut = run_pretrain(PretrainConfig(out_dir=str(tmp_path / "cut"), resume=True, **RUN),
                       progress=lambda s, step, total, m: seen.append((s, step))).out_dir
    assert (stage, 3) == next(x for x in seen if x[0] == stage)
    for name in ("vq.safetensors", "gpt.safetensors"):
        a, b = load_file(str(full.out_dir / name)), load_file(str(cut / name))
        for key in a:
            torch.testing.assert_close(a[key], b[key], rtol=0, atol=0, msg=f"{name} {key}")


def test_shipped_tiny_llamagen_samples_are_recognised():
    """The shipped model draws its classes: measured 0.907 at cfg 3 and 0.813 unguided with the tiny classifier
    (30 per class, 3 seeds; MODEL_CARD.md); chance is 0.10, so these bounds catch a broken model with margin."""
    from vargym.data.classifier import classifier_accuracy, load_classifier
    from vargym.data.diversity import pairwise_diversity
    from vargym.models import ClassCondition, SamplingConfig
    from vargym.models.files import TINY_DIR

    generator = load_generator("tiny-llamagen")
    assert isinstance(generator, LlamaGenGenerator) and generator.layout.num_tokens == 64
    classifier = load_classifier(TINY_DIR)
    labels = torch.arange(10).repeat_interleave(4)
    for cfg, bound in ((3.0, 0.6), (1.0, 0.5)):
        tokens = generator.sample(ClassCondition(labels), SamplingConfig(cfg=cfg), torch.Generator().manual_seed(123))
        images = generator.decode(tokens)
        top1 = classifier_accuracy(classifier, images, labels, topk=(1,))["top1"]
        assert top1 > bound, f"shipped LlamaGen samples at cfg {cfg} classified at {top1:.2f} (chance 0.10)"
        assert pairwise_diversity(images.flatten(1), labels)["min_distance"] > 0.02  # no copies
