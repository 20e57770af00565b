"""The end-of-run report: the model's gold metric, tuned against base, where class fidelity does not apply."""

from __future__ import annotations

import torch

from vargym.data.attributes import NUM_LOGITS
from vargym.data.classifier import ClassifierConfig, TinyClassifier, save_classifier
from vargym.train import TrainConfig, Trainer
from vargym.train.summary import run_summary


def test_a_text_run_reports_its_gold_metric_tuned_against_base(tiny_t5, tmp_path):
    torch.manual_seed(0)
    folder = tmp_path / "attr"
    save_classifier(TinyClassifier(ClassifierConfig(num_classes=NUM_LOGITS, input_size=32)), folder)
    config = TrainConfig(model="random:tiny-t2i", text_encoder=str(tiny_t5), prompts="procedural", reward="attr",
                         reward_kwargs={"classifier": str(folder)}, tokens_per_step=16, steps=1, num_labels=2,
                         group_size=2, minibatch_size=4, device="cpu", out=str(tmp_path / "run"), lr=1e-2,
                         sample_every=0, checkpoint_every=0, tensorboard=False)
    trainer = Trainer(config)
    trainer.generator.gold_metric = ("text-fidelity", {"classifier": str(folder)})  # what a shipped model names
    evaluator = trainer.evaluator
    # before any update the policy is its reference: the same prompts and seed give the same score
    assert evaluator.gold_score(trainer.generator, 8) == evaluator.gold_score(trainer.reference, 8)
    history = trainer.train()
    summary = run_summary(trainer, history)
    assert summary["class_top1"] is None
    gold = summary["gold"]
    assert gold["name"] == "text-fidelity" and gold["conditions"] == 64
    assert 0.0 <= gold["tuned"] <= 1.0 and 0.0 <= gold["base"] <= 1.0
    assert run_summary(trainer, history, fidelity_per_class=0)["gold"] is None


def test_a_run_without_a_gold_metric_reports_none(tiny_t5, tmp_path):
    config = TrainConfig(model="random:tiny-llamagen-t2i", text_encoder=str(tiny_t5), prompts="parti", reward="luma",
                         tokens_per_step=16, steps=1, num_labels=2, group_size=2, minibatch_size=4, device="cpu",
                         out=str(tmp_path / "run"), sample_every=0, checkpoint_every=0, tensorboard=False)
    trainer = Trainer(config)
    assert trainer.evaluator.gold_score(trainer.generator) is None and trainer.evaluator.gold_name is None
    assert run_summary(trainer, trainer.train())["gold"] is None
