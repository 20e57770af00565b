"""Fixtures for reward tests: offline mode, a tiny open_clip model saved to disk, the LAION heads."""

import base64
import io
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from tests.conftest import shared_path

TINY_CLIP = "vargym-tiny-clip-test"
TINY_CLIP_CFG = {
    "embed_dim": 768,  # so the real LAION v2 / v1-L14 heads fit
    "quick_gelu": True,
    "vision_cfg": {"image_size": 64, "layers": 2, "width": 64, "patch_size": 16},
    "text_cfg": {"context_length": 77, "vocab_size": 49408, "width": 64, "heads": 2, "layers": 2},
}


@pytest.fixture(autouse=True)
def _offline(monkeypatch, tmp_path_factory):
    """No test here may touch the network or the user's caches."""
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("TORCH_HOME", str(tmp_path_factory.getbasetemp() / "torch_home"))
    yield
    from vargym.rewards.clip_models import clear_clip_cache

    clear_clip_cache()


@pytest.fixture(scope="session")
def tiny_clip(tmp_path_factory):
    """(model name, weights path) of a tiny random open_clip model registered via add_model_config."""
    import open_clip

    folder = tmp_path_factory.mktemp("tiny_clip")
    config = folder / f"{TINY_CLIP}.json"
    config.write_text(json.dumps(TINY_CLIP_CFG))
    open_clip.add_model_config(config)
    torch.manual_seed(0)
    model = open_clip.create_model(TINY_CLIP, pretrained=None)
    path = folder / "tiny_clip.pt"
    torch.save(model.state_dict(), path)
    return TINY_CLIP, path


TINY_RN_CLIP = "vargym-tiny-rn-clip-test"
TINY_RN_CLIP_CFG = {  # a ResNet CLIP (CLIP-IQA's architecture); text width 128 = 2 heads of 64, as OpenAI's layout
    "embed_dim": 64, "quick_gelu": True, "vision_cfg": {"image_size": 64, "layers": [1, 1, 1, 1], "width": 16},
    "text_cfg": {"context_length": 77, "vocab_size": 49408, "width": 128, "heads": 2, "layers": 2},
}


@pytest.fixture(scope="session")
def tiny_rn_clip(tmp_path_factory):
    """(model name, weights path) of a tiny random ResNet open_clip model (CLIP-IQA's RN50 layout, small)."""
    import open_clip

    folder = tmp_path_factory.mktemp("tiny_rn_clip")
    config = folder / f"{TINY_RN_CLIP}.json"
    config.write_text(json.dumps(TINY_RN_CLIP_CFG))
    open_clip.add_model_config(config)
    torch.manual_seed(0)
    model = open_clip.create_model(TINY_RN_CLIP, pretrained=None)
    for module in model.visual.modules():  # at unit running variance the random ResNet's features barely
        if isinstance(module, torch.nn.BatchNorm2d):  # depend on the image: sharpen them
            module.running_var.fill_(0.05)
    with torch.no_grad():  # OpenAI's released CLIP weights are float16 values (piq's build_model rounds to them)
        for tensor in model.state_dict().values():
            if tensor.is_floating_point():
                tensor.copy_(tensor.half().float())
    path = folder / "tiny_rn_clip.pt"
    torch.save(model.state_dict(), path)
    return TINY_RN_CLIP, path


@pytest.fixture
def v2_head():
    return shared_path("fixtures", "aesthetic", "laion_v2", "sac+logos+ava1-l14-linearMSE.pth")


@pytest.fixture
def v1_dir():
    return shared_path("fixtures", "aesthetic", "laion_v1")


@pytest.fixture(scope="session")
def hps_checkpoint(tiny_clip, tmp_path_factory):
    """(model name, path) of a tiny open_clip saved as the HPS releases are: {"state_dict": {"module." + key}}."""
    name, path = tiny_clip
    state = torch.load(path, weights_only=True)
    torch.manual_seed(1)
    state = {f"module.{k}": v + 0.01 * torch.randn_like(v) if v.is_floating_point() else v for k, v in state.items()}
    file = tmp_path_factory.mktemp("hps") / "HPS_v2.1_compressed.pt"
    torch.save({"state_dict": state}, file)
    return name, file


class FakeJudge(ThreadingHTTPServer):
    """Answers each chat request with 10 x the mean pixel value of the image it got (or as `mode` says: "unit"
    answers the mean itself, within any score range from 0 to 1 or more)."""

    def __init__(self):
        super().__init__(("127.0.0.1", 0), Handler)
        self.mode, self.failures, self.delay = "mean", 0, 0.0
        self.questions, self.in_flight, self.max_in_flight, self.lock = [], 0, 0, threading.Lock()

    @property
    def url(self):
        return f"http://127.0.0.1:{self.server_address[1]}/v1"


class Handler(BaseHTTPRequestHandler):
    def log_message(self, *args):
        pass

    def _send(self, code, payload):
        body = json.dumps(payload).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self):
        self._send(200, {"data": [{"id": "fake-vlm"}]})

    def do_POST(self):
        server = self.server
        request = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        with server.lock:
            server.in_flight += 1
            server.max_in_flight = max(server.max_in_flight, server.in_flight)
            failing = server.failures > 0
            server.failures -= failing
        try:
            time.sleep(server.delay)
            if failing:
                return self._send(503, {"error": "busy"})
            image_part, text_part = request["messages"][0]["content"]
            with server.lock:
                server.questions.append(text_part["text"])
            data = base64.b64decode(image_part["image_url"]["url"].split(",", 1)[1])
            mean = np.asarray(Image.open(io.BytesIO(data)).convert("RGB"), dtype=np.float64).mean() / 255
            answer = {"mean": f'Looks fine.\n```json\n{{"score": {10 * mean:.6f}}}\n```',
                      "unit": f'{{"score": {mean:.6f}}}',
                      "garbage": "I cannot rate images.", "out-of-range": '{"score": 42}'}[server.mode]
            self._send(200, {"choices": [{"message": {"role": "assistant", "content": answer}}]})
        finally:
            with server.lock:
                server.in_flight -= 1


@pytest.fixture
def judge():
    server = FakeJudge()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


@pytest.fixture(scope="session")
def tiny_pickscore(tmp_path_factory):
    """A tiny random Hugging Face CLIPModel saved with save_pretrained (PickScore's format)."""
    from transformers import CLIPConfig, CLIPModel

    torch.manual_seed(0)
    config = CLIPConfig(
        text_config={"vocab_size": 49408, "hidden_size": 32, "intermediate_size": 64, "num_hidden_layers": 2,
                     "num_attention_heads": 2, "max_position_embeddings": 77},
        vision_config={"hidden_size": 32, "intermediate_size": 64, "num_hidden_layers": 2, "num_attention_heads": 2,
                       "image_size": 32, "patch_size": 8},
        projection_dim=16,
    )
    folder = tmp_path_factory.mktemp("pickscore")
    CLIPModel(config).save_pretrained(folder)
    return folder


@pytest.fixture(scope="session")
def brisque_svr(tmp_path_factory):
    """A random SVR in piq's file layout (sv_coef [770], sv [770, 36]), named as piq's release file."""
    generator = torch.Generator().manual_seed(0)
    path = tmp_path_factory.mktemp("torch_home") / "hub" / "checkpoints" / "brisque_svm_weights.pt"
    path.parent.mkdir(parents=True)
    torch.save((torch.randn(770, generator=generator), torch.rand(770, 36, generator=generator) * 2 - 1), path)
    return path


MANIQA_GOLDEN = Path(__file__).with_name("data") / "maniqa_tiny_golden.pt"


@pytest.fixture(scope="session")
def tiny_maniqa(tmp_path_factory):
    """(checkpoint path, config dict) of the tiny MANIQA that the official code was run on (data/README)."""
    golden = torch.load(MANIQA_GOLDEN, weights_only=True)
    g = golden["maniqa"]
    config = {"vit_kwargs": golden["vit"], **{k: g[k] for k in (
        "img_size", "patch_size", "embed_dim", "dim_mlp", "num_heads", "window_size", "depths", "num_tab", "scale")}}
    path = tmp_path_factory.mktemp("maniqa") / "ckpt_koniq10k.pt"
    torch.save({f"module.{k}": v for k, v in golden["state_dict"].items()}, path)  # as saved from DDP
    return path, config
