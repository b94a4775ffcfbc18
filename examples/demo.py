"""Render blendarray's built-in demo scene and show what came back.

    .venv/bin/python examples/demo.py [out.npz]     (any Python where blendarray is installed)

Prints each pass's shape, dtype and value range and saves them all to a .npz
(written to a temporary name, then renamed: never half a file).
"""
import os
import sys
import tempfile
import time

import numpy as np

import blendarray as ba

PASSES = ["rgba", "depth", "normal", "position", "vector", "uv", "object_index",
          "material_index", "diffuse_color", "emission", "cryptomatte_object"]


def main(out):
    t = time.perf_counter()
    frame = ba.render(passes=PASSES, engine="CYCLES", samples=16, resolution=(640, 480),
                      display=True)
    took = time.perf_counter() - t
    m = frame.meta
    print(f"rendered the demo scene with {m['engine']} in Blender {m['blender_version']}: "
          f"{m['resolution'][0]}x{m['resolution'][1]}, {m['samples']} samples, frame {m['frame']}, "
          f"{took:.2f} s in all (render {m['render_seconds'] * 1e3:.0f} ms, "
          f"capture {m['capture_seconds'] * 1e3:.1f} ms)")
    print(f"{'pass':24} {'shape':16} {'dtype':8} {'min':>12} {'max':>12}")
    for name, a in frame.items():
        print(f"{name:24} {str(a.shape):16} {str(a.dtype):8} {a.min():12.6g} {a.max():12.6g}")
    print("K =", np.array(m["K"]).round(3).tolist())
    d = os.path.dirname(os.path.abspath(out))
    os.makedirs(d, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".demo-", suffix=".npz", dir=d)
    try:
        with os.fdopen(fd, "wb") as f:
            np.savez(f, **frame)
        os.replace(tmp, out)
    except BaseException:
        os.unlink(tmp)
        raise
    print(f"saved {len(frame)} arrays to {out}")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "out/demo.npz")
