"""Write maniqa_tiny_golden.pt: a tiny random MANIQA run by the official IIGROUP/MANIQA code.

Usage (outside CI; needs einops and a checkout of the official code, of which only ``models/`` is used):
    python tests/rewards/data/make_maniqa_golden.py /path/to/MANIQA

The official model hard-codes ``timm.create_model('vit_base_patch8_224', pretrained=True)``; this script
swaps in the same timm architecture at a tiny size (``TINY_VIT``) and leaves everything else as it is.
"""

import sys
from pathlib import Path

import torch

TINY_VIT = {"img_size": 32, "patch_size": 8, "embed_dim": 16, "depth": 10, "num_heads": 2, "num_classes": 10}
TINY_MANIQA = {"embed_dim": 16, "num_outputs": 1, "patch_size": 8, "drop": 0.1, "depths": [2, 2], "window_size": 2,
               "dim_mlp": 32, "num_heads": [2, 2], "img_size": 32, "num_tab": 2, "scale": 0.8}


def main(official: Path) -> None:
    import timm

    sys.path.insert(0, str(official))
    import models.maniqa as official_maniqa

    create = timm.create_model
    official_maniqa.timm.create_model = lambda name, pretrained=False, **kw: create(name, pretrained=False, **TINY_VIT)
    torch.Tensor.cuda = lambda self, *args, **kwargs: self  # the official forward collects scores on CUDA
    torch.manual_seed(0)
    model = official_maniqa.MANIQA(**TINY_MANIQA).eval()
    for p in model.parameters():  # spread the weights so that every branch matters at this size
        p.data.add_(0.05 * torch.randn_like(p))
    model.fc_score[3].bias.data.fill_(1.0)  # keep the final ReLU open, so scores are not all 0
    crops = torch.rand(3, 3, 32, 32, generator=torch.Generator().manual_seed(1)) * 2 - 1
    with torch.no_grad():
        scores = model(crops)
    out = Path(__file__).with_name("maniqa_tiny_golden.pt")
    torch.save({"state_dict": model.state_dict(), "crops": crops, "scores": scores, "vit": TINY_VIT,
                "maniqa": TINY_MANIQA}, out)
    print(f"wrote {out}: scores {scores.tolist()}")


if __name__ == "__main__":
    main(Path(sys.argv[1]))
