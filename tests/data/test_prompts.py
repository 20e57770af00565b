"""Prompt sets: the shipped PartiPrompts and GenEval sets, the four file formats, splits and bad files."""

import pytest

from vargym.data.prompts import PromptFileError, PromptSet, load_prompts


def test_shipped_sets_with_their_metadata():
    parti = load_prompts("parti")
    assert len(parti) == 1632 and parti.prompts[0] == "bond"
    assert parti.metadata[0] == {"Category": "Abstract", "Challenge": "Basic",
                                 "Note": "Biology-inspired concepts with multiple meanings"}
    geneval = load_prompts("geneval")
    assert len(geneval) == 553 and geneval.prompts[0] == "a photo of a bench"
    assert geneval.metadata[0] == {"tag": "single_object", "include": [{"class": "bench", "count": 1}]}
    assert {m["tag"] for m in geneval.metadata} == {"single_object", "two_object", "counting", "colors", "position",
                                                    "color_attr"}
    coco = load_prompts("coco")
    assert len(coco) == 1000 and coco.prompts[1] == "A motorcycle parked in a parking space next to another motorcycle."
    assert all(p.strip() for p in coco.prompts)


def test_split_is_disjoint_complete_ordered_and_seeded():
    prompts = PromptSet("p", tuple(f"p{i}" for i in range(100)), tuple({"i": i} for i in range(100)))
    train, held_out = prompts.split(eval_fraction=0.1, seed=3)
    train_ids, eval_ids = [m["i"] for m in train.metadata], [m["i"] for m in held_out.metadata]
    assert len(eval_ids) == 10 and sorted(train_ids + eval_ids) == list(range(100))  # disjoint and complete
    assert train_ids == sorted(train_ids) and eval_ids == sorted(eval_ids)  # each side keeps the set's order
    assert train.prompts == tuple(f"p{i}" for i in train_ids)
    assert prompts.split(0.1, seed=3) == (train, held_out) and prompts.split(0.1, seed=4)[1] != held_out
    parti_train, parti_eval = load_prompts("parti").split(eval_fraction=0.1, seed=0)
    assert (len(parti_train), len(parti_eval)) == (1632 - 163, 163)
    with pytest.raises(ValueError, match=r"eval_fraction must be in \(0, 1\)"):
        prompts.split(eval_fraction=1.0)


@pytest.mark.parametrize("suffix, body", [
    (".txt", "a red cube\n\n  a blue sphere  \n"),
    (".jsonl", '{"prompt": "a red cube", "tag": "colors"}\n\n{"prompt": "a blue sphere", "tag": "colors"}\n'),
    (".csv", 'caption,source\n"a red cube",mine\n"a blue sphere",mine\n'),
    (".tsv", "Prompt\tCategory\na red cube\tShapes\na blue sphere\tShapes\n"),
])
def test_file_formats(tmp_path, suffix, body):
    path = tmp_path / f"mine{suffix}"
    path.write_text(body, encoding="utf-8")
    prompts = load_prompts(path)
    assert prompts.prompts == ("a red cube", "a blue sphere") and prompts.name == "mine"
    if suffix != ".txt":
        assert len(prompts.metadata[0]) == 1  # the other field or column


@pytest.mark.parametrize("name, content, match", [
    ("empty.txt", b"  \n\n", "is empty: it holds no prompts"),
    ("latin1.txt", "café\n".encode("latin-1"), r"not UTF-8 text \(byte 3, line 1\)"),
    ("bad.jsonl", b'{"prompt": "ok"}\n{"prompt": \n', r"bad.jsonl, line 2: not a JSON object"),
    ("noprompt.jsonl", b'{"text": "x"}\n', r'line 1: each line must be a JSON object with a non-empty string "prompt"'),
    ("nocolumn.csv", b"a,b\n1,2\n", r"no prompt column; the header must name one of \['prompt', 'Prompt'"),
    ("emptyrow.tsv", b"prompt\tx\n\t1\n", r"line 2: empty 'prompt'"),
    ("prompts.yaml", b"- a\n", r"end in .txt, .jsonl, .csv or .tsv"),
])
def test_bad_files_are_named(tmp_path, name, content, match):
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(PromptFileError, match=match):
        load_prompts(path)


def test_unknown_name_suggests_a_shipped_set():
    with pytest.raises(PromptFileError, match="neither a shipped set .*Did you mean 'parti'"):
        load_prompts("party")
    with pytest.raises(PromptFileError, match="holds no prompts"):
        PromptSet("none", ())
