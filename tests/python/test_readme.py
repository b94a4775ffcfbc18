"""The README's usage examples run as written."""
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from support import PACKAGE_DIR, ROOT, build_runtime

pytestmark = pytest.mark.blender  # every example renders


with open(os.path.join(ROOT, "README.md")) as f:
    README = f.read()


def _blocks(lang):
    return re.findall(r"```%s\n(.*?)```" % lang, README, re.S)


def _block(lang, needle):
    """The README's one `lang` block that holds `needle`."""
    (b,) = [b for b in _blocks(lang) if needle in b]
    return b


def _env(**extra):
    return dict(os.environ, **extra)


def test_python_example():
    code = _blocks("python")[0]
    p = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=_env(), capture_output=True,
                       text=True, timeout=300)
    assert p.returncode == 0, p.stderr
    assert "(480, 640)" in p.stdout and "888.88" in p.stdout


def test_renderer_example(tmp_path):
    script = tmp_path / "stream.py"  # as a user would: a script file (the hook is sent as source)
    script.write_text(_blocks("python")[1])
    p = subprocess.run([sys.executable, str(script)], cwd=ROOT, env=_env(), capture_output=True,
                       text=True, timeout=300)
    assert p.returncode == 0, p.stderr
    lines = p.stdout.splitlines()
    assert [int(x.split()[0]) for x in lines] == list(range(10))


def test_shell_example_then_inblender_example():
    sh = _block("sh", "make_scenes.py").replace(".venv/bin/python", sys.executable)
    p = subprocess.run(["bash", "-euc", sh], cwd=ROOT, env=_env(), capture_output=True, text=True,
                       timeout=300)
    assert p.returncode == 0, p.stdout[-2000:] + p.stderr[-2000:]
    assert "<Frame 1 {rgba: float32[72, 96, 4], depth: float32[72, 96], display: uint8[72, 96, 4]}>" in p.stdout
    inblender = _blocks("python")[2] + "\nprint('README-OK', list(frame), list(again))\n"
    # Blender finds the package as the README says a checkout can: PYTHONPATH=build/dev/python
    # (the add-on's way is tests/python/test_blender_addon.py's)
    assert "PYTHONPATH=build/dev/python" in README
    p = subprocess.run(["blender", "-b", "--factory-startup", "-noaudio", "scenes/demo.blend",
                        "--python-exit-code", "1", "--python-expr", inblender],
                       cwd=ROOT, env=_env(PYTHONPATH=PACKAGE_DIR), capture_output=True, text=True,
                       timeout=300)
    assert p.returncode == 0, p.stdout[-3000:] + p.stderr[-2000:]
    assert "README-OK ['rgba', 'depth', 'normal', 'object_index'] ['rgba'" in p.stdout
    # the command-line block, on the scenes the first block made
    build_runtime()
    sh = _block("sh", "inspect out/demo3.npz").replace(".venv/bin/python", sys.executable)
    p = subprocess.run(["bash", "-euc", sh], cwd=ROOT, env=_env(), capture_output=True, text=True,
                       timeout=300)
    assert p.returncode == 0, p.stdout[-2000:] + p.stderr[-2000:]
    assert "[(72, 96, 4), (72, 96)]" in p.stdout and "object_index" in p.stdout
    # the COCO block, on the same scenes
    sh = _block("sh", "--coco out/coco")
    p = subprocess.run(["bash", "-euc", sh], cwd=ROOT, env=_env(), capture_output=True, text=True,
                       timeout=300)
    assert p.returncode == 0, p.stdout[-2000:] + p.stderr[-2000:]
    doc = json.loads((Path(ROOT) / "out" / "coco" / "annotations.json").read_text())
    assert len(doc["images"]) == 3 and len(doc["annotations"]) == 12
    assert (Path(ROOT) / "out" / "labels.png").stat().st_size > 0


def test_torch_example(tmp_path):
    script = tmp_path / "train.py"
    script.write_text(_block("python", "RenderDataset"))
    p = subprocess.run([sys.executable, str(script)], cwd=ROOT, env=_env(), capture_output=True,
                       text=True, timeout=300)
    assert p.returncode == 0, p.stderr
    lines = p.stdout.splitlines()
    assert len(lines) == 4  # 64 frames, batches of 16
    assert "torch.Size([16, 4, 64, 64]) torch.Size([16, 64, 64])" in lines[0]
    firsts = sorted(int(x.split("[")[1].split(",")[0]) for x in lines)
    assert firsts == [0, 1, 32, 33]  # two loader workers, each its interleaved half


def test_ray_example(tmp_path):
    script = tmp_path / "ray_example.py"
    script.write_text(_block("python", "read_renders"))
    # a local Ray on loopback only; out/renders goes to a scratch folder
    p = subprocess.run([sys.executable, str(script)], cwd=tmp_path, capture_output=True,
                       text=True, timeout=600, env=_env(RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER="0"))
    assert p.returncode == 0, p.stderr[-3000:]
    line = [x for x in p.stdout.splitlines() if "(64, 64, 4)" in x]
    assert line and line[0].split()[0].isdigit() and '{"frame"' in line[0], p.stdout[-2000:]
    assert len(list((tmp_path / "out" / "renders").glob("*.parquet"))) >= 1


def test_labels_example(tmp_path):
    script = tmp_path / "labels_example.py"
    script.write_text(_block("python", "annotations=True)"))
    p = subprocess.run([sys.executable, str(script)], cwd=tmp_path, env=_env(), capture_output=True,
                       text=True, timeout=300)
    assert p.returncode == 0, p.stderr[-3000:]
    lines = p.stdout.splitlines()
    names = sorted(x.split()[0] for x in lines[:-1])
    assert names == ["BlueCone", "GreenSphere", "Ground", "RedCube"], p.stdout
    for x in lines[:-1]:  # the area printed equals the decoded mask's pixel count
        parts = x.replace(",", " ").replace("[", " ").replace("]", " ").split()
        assert parts[-1] == parts[-2], x
    assert lines[-1].startswith("(72, 96, 2)"), lines[-1]
