"""Golden values for vargym's GenEval rules, made by the reference's own code.

Runs the unmodified ``evaluate`` and ``relative_position`` of GenEval's ``evaluation/evaluate_images.py`` (a
checkout of djghosh13/geneval, kept outside this repository) on random detections for the shipped GenEval prompt
metadata, and writes ``tests/rewards/golden/geneval_rules.json``. Only those two functions are taken from the
file (by name, through ``ast``), because the module itself needs mmdet and CUDA at import; the CLIP colour
classifier they call is replaced by the colour each test detection carries, and POSITION_THRESHOLD is the
reference's default (0.1).

Usage: python tools/geneval_golden.py /path/to/geneval [--cases 3]
"""

from __future__ import annotations

import argparse
import ast
import json
import random
from pathlib import Path

import numpy as np

COLORS = ["red", "orange", "yellow", "green", "blue", "purple", "pink", "brown", "black", "white"]


def reference_functions(checkout: Path) -> dict:
    source = (checkout / "evaluation" / "evaluate_images.py").read_text()
    tree = ast.parse(source)
    wanted = [node for node in tree.body if isinstance(node, ast.FunctionDef)
              and node.name in ("relative_position", "evaluate")]
    namespace = {"np": np, "POSITION_THRESHOLD": 0.1, "COLORS": COLORS,
                 "color_classification": lambda image, boxes, classname: [COLORS[int(b[0][5])] for b in boxes]}
    exec(compile(ast.Module(body=wanted, type_ignores=[]), str(checkout / "evaluation/evaluate_images.py"), "exec"),
         namespace)
    return namespace


def random_detections(meta: dict, rng: random.Random) -> list[dict]:
    """Objects of the prompt's classes (and a stray one), with random counts, boxes, colours and scores."""
    classes = [c["class"] for c in meta.get("include", [])] + [c["class"] for c in meta.get("exclude", [])]
    classes = list(dict.fromkeys(classes + [rng.choice(["cup", "dog", "person"])]))
    out = []
    for name in classes:
        wanted = next((c for c in meta.get("include", []) if c["class"] == name), {})
        for _ in range(rng.choice([0, 1, 1, 2, 3, 4]) if rng.random() < 0.5 else int(wanted.get("count", 1))):
            x0, y0 = rng.uniform(0, 400), rng.uniform(0, 400)
            w, h = rng.uniform(20, 200), rng.uniform(20, 200)
            color = wanted.get("color") if "color" in wanted and rng.random() < 0.6 else rng.choice(COLORS)
            out.append({"class": name, "box": [x0, y0, x0 + w, y0 + h], "score": rng.choice([0.95, 0.92, 0.5, 0.35]),
                        "color": color})
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("geneval", type=Path)
    parser.add_argument("--cases", type=int, default=1, help="random detection sets per prompt")
    parser.add_argument("--out", type=Path, default=Path("tests/rewards/golden/geneval_rules.json"))
    args = parser.parse_args()
    reference = reference_functions(args.geneval)
    from vargym.data import load_prompts
    from vargym.rewards.geneval import group_detections  # the thresholds are the reference's settings

    prompts = load_prompts("geneval")
    rng = random.Random(0)
    cases, positions = [], []
    for prompt, meta in zip(prompts.prompts, prompts.metadata):
        for _ in range(args.cases):
            detections = random_detections(meta, rng)
            grouped = group_detections(detections, meta["tag"])
            objects = {name: [(np.array([*d["box"], d["score"], COLORS.index(d["color"])]), None) for d in dets]
                       for name, dets in grouped.items()}
            correct, reason = reference["evaluate"](None, objects, meta)
            cases.append({"prompt": prompt, "metadata": meta, "detections": detections, "correct": bool(correct),
                          "reason": reason})
    for _ in range(300):
        a = [rng.uniform(0, 300), rng.uniform(0, 300)]
        b = [rng.uniform(0, 300), rng.uniform(0, 300)]
        box_a = [*a, a[0] + rng.uniform(5, 150), a[1] + rng.uniform(5, 150)]
        box_b = [*b, b[0] + rng.uniform(5, 150), b[1] + rng.uniform(5, 150)]
        rel = reference["relative_position"]((np.array(box_a), None), (np.array(box_b), None))
        positions.append({"a": box_a, "b": box_b, "relations": sorted(rel)})
    args.out.write_text(json.dumps({"source": "djghosh13/geneval evaluation/evaluate_images.py (evaluate, "
                                              "relative_position), unmodified", "cases": cases,
                                    "positions": positions}, separators=(",", ":")))
    n = sum(c["correct"] for c in cases)
    print(f"wrote {len(cases)} cases ({n} correct) and {len(positions)} positions to {args.out}")


if __name__ == "__main__":
    main()
