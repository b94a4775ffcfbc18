"""Train a tiny CNN on frames streamed from Blender: no image file is written.

The setup hook moves the demo scene's green sphere to a random x for every
frame and returns that x; the network learns to read it off the picture.

    python examples/train_torch.py [--steps 200] [--loader-workers 2]

Needs PyTorch: pip install "/path/to/blendarray[torch]" (blendarray's checkout).
"""
import argparse

import torch
from torch import nn
from torch.utils.data import DataLoader

from blendarray.torch import RenderDataset


def move_sphere(scene, index, rng):
    """Runs inside Blender before frame `index` is rendered."""
    x = float(rng.uniform(-2.0, 2.0))
    scene.objects["GreenSphere"].location.x = x
    return {"x": x}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--steps", type=int, default=200)
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--loader-workers", type=int, default=0)
    ap.add_argument("--blender", default=None, help='"bpy", "blender" or a path (default: found)')
    a = ap.parse_args()

    torch.manual_seed(0)
    data = RenderDataset(None, frames=a.steps * a.batch, passes=["rgba"], resolution=(48, 48),
                         engine="WORKBENCH", setup=move_sphere, seed=0, batch_size=a.batch,
                         blender=a.blender)
    loader = DataLoader(data, batch_size=a.batch, num_workers=a.loader_workers)
    net = nn.Sequential(nn.Conv2d(3, 8, 5, stride=2), nn.ReLU(), nn.Conv2d(8, 16, 5, stride=2),
                        nn.ReLU(), nn.Flatten(), nn.Linear(16 * 9 * 9, 1))
    opt = torch.optim.Adam(net.parameters(), lr=3e-3)
    for step, batch in enumerate(loader):
        image = batch["rgba"][..., :3].permute(0, 3, 1, 2)  # (B, H, W, C) -> (B, C, H, W)
        target = torch.tensor([m["x"] for m in batch["meta"]], dtype=torch.float32)
        loss = nn.functional.mse_loss(net(image).squeeze(1), target)
        opt.zero_grad()
        loss.backward()
        opt.step()
        print(f"step {step:4d} loss {loss.item():.4f}", flush=True)


if __name__ == "__main__":
    main()
