"""The README's usage examples run as written."""
import os
import re
import subprocess
import sys

from support import ROOT


def _blocks(lang):
    with open(os.path.join(ROOT, "README.md")) as f:
        text = f.read()
    return re.findall(r"```%s\n(.*?)```" % lang, text, re.S)


def _env():
    return dict(os.environ)


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
    sh = _blocks("sh")[1].replace(".venv/bin/python", sys.executable)
    p = subprocess.run(["bash", "-euc", sh], cwd=ROOT, env=_env(), capture_output=True, text=True,
                       timeout=300)
    assert p.returncode == 0, p.stdout[-2000:] + p.stderr[-2000:]
    assert "<Frame 1 {rgba: float32[72, 96, 4], depth: float32[72, 96], display: uint8[72, 96, 4]}>" in p.stdout
    inblender = _blocks("python")[2] + "\nprint('README-OK', list(frame), list(again))\n"
    p = subprocess.run(["blender", "-b", "--factory-startup", "-noaudio", "scenes/demo.blend",
                        "--python-exit-code", "1", "--python-expr", inblender],
                       cwd=ROOT, env=_env(), capture_output=True, text=True, timeout=300)
    assert p.returncode == 0, p.stdout[-3000:] + p.stderr[-2000:]
    assert "README-OK ['rgba', 'depth', 'normal', 'object_index'] ['rgba'" in p.stdout
    # the command-line block, on the scenes the first block made
    subprocess.run(["make", "-C", ROOT, "cli"], check=True, capture_output=True)
    sh = _blocks("sh")[2].replace(".venv/bin/python", sys.executable)
    p = subprocess.run(["bash", "-euc", sh], cwd=ROOT, env=_env(), capture_output=True, text=True,
                       timeout=300)
    assert p.returncode == 0, p.stdout[-2000:] + p.stderr[-2000:]
    assert "[(72, 96, 4), (72, 96)]" in p.stdout and "object_index" in p.stdout
