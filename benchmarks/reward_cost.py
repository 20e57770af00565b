"""CPU cost of each reward, in seconds per image (random CLIP weights: cost does not depend on them).

Usage: ``python benchmarks/reward_cost.py [--reps 3] [--size 256] [--skip-large]``.
Runs with 2 torch threads, one warm-up call per reward, reports the median (and minimum) over
``--reps`` calls (at least 20 for the cheap classical rewards; a shared CPU makes medians noisy),
prints a table and writes ``benchmarks/results/reward_cost.json``.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import tempfile
import time
from pathlib import Path

import torch

from vargym.rewards import make
from vargym.rewards.aesthetic import AestheticV2Head
from vargym.rewards.clip_models import ClipBackbone

CLASSICAL = ["brightness", "luma", "colorfulness", "contrast", "saturation", "sharpness", "jpeg", "loo-fid"]


def _random_backbone(model_name: str) -> ClipBackbone:
    import open_clip

    torch.manual_seed(0)
    model = open_clip.create_model(model_name, pretrained=None)
    return ClipBackbone(model, model_name, open_clip.get_tokenizer(model_name))


def _time(reward, images: torch.Tensor, reps: int) -> dict[str, float]:
    reward(images)  # warm-up (also encodes the prompt once)
    times = []
    for _ in range(reps):
        batch = images.clone()  # a fresh tensor: no embedding cache hits
        start = time.perf_counter()
        reward(batch)
        times.append(time.perf_counter() - start)
    n = images.shape[0]
    return {"s_per_image": statistics.median(times) / n, "min_s_per_image": min(times) / n}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--size", type=int, default=256, help="side of the generated images")
    parser.add_argument("--batch", type=int, default=8, help="batch for classical rewards and ViT-B/32")
    parser.add_argument("--batch-large", type=int, default=4, help="batch for ViT-L/14 rewards")
    parser.add_argument("--skip-large", action="store_true", help="skip the ViT-L/14 rewards")
    parser.add_argument("--skip-huge", action="store_true", help="skip the ViT-H/14 rewards (hpsv2, pickscore)")
    parser.add_argument("--only-maniqa", action="store_true",
                        help="time MANIQA alone and merge its rows into an existing --out file")
    parser.add_argument("--batch-huge", type=int, default=2, help="batch for ViT-H/14 rewards")
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results" / "reward_cost.json")
    args = parser.parse_args()
    torch.set_num_threads(2)
    generator = torch.Generator().manual_seed(0)

    def images(batch: int) -> torch.Tensor:
        return torch.rand(batch, 3, args.size, args.size, generator=generator)

    if args.only_maniqa:
        old = json.loads(args.out.read_text()) if args.out.is_file() else {"meta": {}, "results": []}
        rows = _maniqa_rows(args, images)
        kept = [r for r in old["results"] if r["reward"] != "maniqa"]
        args.out.write_text(json.dumps({"meta": old["meta"], "results": kept + rows}, indent=2) + "\n")
        _print_table(rows)
        return
    rows = []
    for name in CLASSICAL:
        rows.append(
            {
                "reward": name,
                "model": "-",
                "batch": args.batch,
                **_time(make(name), images(args.batch), max(args.reps, 20)),
            }
        )

    with tempfile.TemporaryDirectory() as tmp:
        head_path = Path(tmp) / "random_v2_head.pth"
        torch.save(AestheticV2Head().state_dict(), head_path)
        b32 = _random_backbone("ViT-B-32-quickgelu")
        rows.append(
            {
                "reward": "clip",
                "model": "ViT-B-32",
                "batch": args.batch,
                **_time(make("clip", backbone=b32), images(args.batch), args.reps),
            }
        )
        del b32
        if not args.skip_large:
            l14 = _random_backbone("ViT-L-14-quickgelu")
            batch = images(args.batch_large)
            for spec, kwargs in [
                ("clip", {"clip": {"backbone": l14}}),
                ("aesthetic", {"aesthetic": {"backbone": l14, "head_path": head_path}}),
                (
                    "aesthetic+0.5*clip",
                    {"aesthetic": {"backbone": l14, "head_path": head_path}, "clip": {"backbone": l14}},
                ),
            ]:
                reward = make(spec, **kwargs) if "+" in spec else make(spec, **kwargs[spec])
                rows.append(
                    {
                        "reward": spec,
                        "model": "ViT-L-14",
                        "batch": args.batch_large,
                        **_time(reward, batch, args.reps),
                    }
                )

        rows += _quality_and_preference_rows(args, images, Path(tmp))
    rows += _maniqa_rows(args, images)

    _print_table(rows)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    meta = {
        "torch": torch.__version__,
        "threads": 2,
        "image_size": args.size,
        "reps": args.reps,
        "machine": platform.processor() or platform.machine(),
        "statistic": "median seconds per image",
    }
    args.out.write_text(json.dumps({"meta": meta, "results": rows}, indent=2) + "\n")


def _quality_and_preference_rows(args, images, tmp: Path) -> list[dict]:
    """brisque, clip-iqa, the FID Inception, the VLM judge's client side, hpsv2 and pickscore."""
    rows = []
    svr = tmp / "brisque_svm_weights.pt"
    torch.save((torch.randn(770), torch.rand(770, 36) * 2 - 1), svr)
    batch = images(args.batch)
    rows.append({"reward": "brisque", "model": "SVR", "batch": args.batch,
                 **_time(make("brisque", weights_path=svr), batch, max(args.reps, 10))})
    rows.append({"reward": "clip-iqa", "model": "RN50", "batch": args.batch,
                 **_time(make("clip-iqa", backbone=_random_backbone("RN50-quickgelu")), batch, args.reps)})
    inception = _random_fid_inception(tmp)
    rows.append({"reward": "FID features alone", "model": "FID Inception", "batch": args.batch,
                 **_time(make(lambda images, context: inception(images).mean(1), name="fid-features"), batch,
                         args.reps)})
    rows.append({"reward": "loo-fid (inception)", "model": "FID Inception", "batch": args.batch,
                 **_time(make("loo-fid", feature_extractor=inception), batch, args.reps)})
    rows.append(_judge_client_row(args, batch))
    if not args.skip_huge:
        batch = images(args.batch_huge)
        hps = make("hpsv2", backbone=_random_backbone("ViT-H-14"), prompt="a photo of a dog")
        rows.append({"reward": "hpsv2", "model": "ViT-H-14", "batch": args.batch_huge, **_time(hps, batch, args.reps)})
        del hps
        rows.append({"reward": "pickscore", "model": "ViT-H-14 (HF)", "batch": args.batch_huge,
                     **_time(make("pickscore", model=_random_pickscore(), prompt="a photo of a dog"), batch, args.reps)})
    return rows


def _maniqa_rows(args, images) -> list[dict]:
    """MANIQA at its released size (ViT-B/8 features, 224 px crops), random weights, 1 and 5 crops."""
    from vargym.rewards.maniqa import MANIQA

    torch.manual_seed(0)
    model, batch, rows = MANIQA(), images(args.batch_huge), []
    for crops in (1, 5):
        reward = make("maniqa", model=model, num_crops=crops)
        rows.append({"reward": "maniqa", "model": f"ViT-B/8, {crops} crop{'s' * (crops > 1)}",
                     "batch": args.batch_huge, **_time(reward, batch, args.reps)})
    return rows


def _random_fid_inception(tmp: Path):
    from torch_fidelity import feature_extractor_inceptionv3 as fidelity

    from vargym.rewards.inception import fid_inception

    load = fidelity.FeatureExtractorInceptionV3.load_state_dict
    fidelity.FeatureExtractorInceptionV3.load_state_dict = lambda *a, **k: None
    original_url = fidelity.load_state_dict_from_url
    fidelity.load_state_dict_from_url = lambda *a, **k: {}
    try:
        network = fidelity.FeatureExtractorInceptionV3("inception-v3-compat", ["2048"])
    finally:
        fidelity.FeatureExtractorInceptionV3.load_state_dict, fidelity.load_state_dict_from_url = load, original_url
    # calibrate the batch norms: uncalibrated random layers shrink activations into denormals, which are
    # ten times slower on CPU and would misstate the cost of the real network
    for module in network.modules():
        if isinstance(module, torch.nn.BatchNorm2d):
            module.momentum = None
    network.train()
    with torch.no_grad():
        network(torch.randint(0, 256, (8, 3, 64, 64), dtype=torch.uint8))
    torch.save(network.state_dict(), tmp / "fid_inception.pth")
    return fid_inception(tmp / "fid_inception.pth")


def _random_pickscore():
    from transformers import CLIPConfig, CLIPModel

    config = CLIPConfig(  # laion/CLIP-ViT-H-14-laion2B-s32B-b79K, PickScore's architecture
        text_config={"hidden_size": 1024, "intermediate_size": 4096, "num_attention_heads": 16,
                     "num_hidden_layers": 24, "hidden_act": "gelu"},
        vision_config={"hidden_size": 1280, "intermediate_size": 5120, "num_attention_heads": 16,
                       "num_hidden_layers": 32, "patch_size": 14, "image_size": 224, "hidden_act": "gelu"},
        projection_dim=1024,
    )
    return CLIPModel(config)


def _judge_client_row(args, batch: torch.Tensor) -> dict:
    """The VLM judge's own cost (PNG encoding, HTTP) against a server that answers at once."""
    import json as json_lib
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    class Instant(BaseHTTPRequestHandler):
        def log_message(self, *a):
            pass

        def _answer(self):
            length = int(self.headers.get("Content-Length") or 0)
            self.rfile.read(length)
            body = json_lib.dumps({"data": [], "choices": [{"message": {"content": '{"score": 5}'}}]}).encode()
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        do_GET = do_POST = _answer

    server = ThreadingHTTPServer(("127.0.0.1", 0), Instant)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        judge = make("vlm-judge", base_url=f"http://127.0.0.1:{server.server_address[1]}/v1",
                     question="Rate this image from 0 to 10.")
        return {"reward": "vlm-judge (client only)", "model": "-", "batch": args.batch,
                **_time(judge, batch, max(args.reps, 5))}
    finally:
        server.shutdown()


def _print_table(rows: list[dict]) -> None:
    try:
        from rich.console import Console
        from rich.table import Table
    except ImportError:
        for row in rows:
            print(
                f"{row['reward']:<22} {row['model']:<10} {row['batch']:>5} {row['s_per_image'] * 1000:>12.2f} ms/img"
            )
        return
    table = Table(title="Reward cost on CPU (2 threads, median)")
    for column in ("reward", "model", "batch", "median ms / image", "min ms / image"):
        table.add_column(column, justify="right" if column != "reward" else "left")
    for row in rows:
        table.add_row(
            row["reward"],
            row["model"],
            str(row["batch"]),
            f"{row['s_per_image'] * 1000:.2f}",
            f"{row['min_s_per_image'] * 1000:.2f}",
        )
    Console().print(table)


if __name__ == "__main__":
    main()
