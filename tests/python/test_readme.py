"""The documentation's examples run as written.

Every `python`, `sh` and `c` block of README.md and docs/*.md says in its fence's
info string what becomes of it: `test=NAME` (a test below runs it, at a tiny size,
and checks what it prints or writes) or `illustrative` (shown, not run). A block
with neither, a name no test runs and a test whose block is gone all fail
(test_every_code_block_is_run_or_marked). Blocks run in the test's own temporary
folder, never in the checkout.

Also: no page, and no message or docstring in python/, blender_addon/, examples/
or scripts/, says `pip install blendarray` (it is not on PyPI: a path or a wheel
is the form that works), docs/cli.md's copies of the `--help` texts are the
command's own, and scripts/demo.sh installs only what the demo runs.
"""
import ast
import json
import os
import re
import shlex
import subprocess
import sys
import tomllib
import zipfile

import numpy as np
import pytest

from support import BUILD_DIR, EDITABLE_OFF, PACKAGE_DIR, ROOT, build_runtime

renders = pytest.mark.blender  # the tests that run a block which renders

DOCS = ["README.md"] + sorted(os.path.join("docs", n) for n in os.listdir(os.path.join(ROOT, "docs"))
                              if n.endswith(".md"))
CODE = {"python", "sh", "c"}  # the languages a reader would run; text and json blocks are data
FENCE = re.compile(r"^```([^\n`]*)\n(.*?)^```[ \t]*$", re.M | re.S)
CLI = os.path.join(BUILD_DIR, "blendarray")


def _read(rel):
    with open(os.path.join(ROOT, rel), encoding="utf-8") as f:
        return f.read()


def blocks():
    """[(doc, line, lang, marks, text)] of every fenced block of the documentation;
    marks: the info string's words after the language ("test=NAME", "illustrative",
    "help=CMD")."""
    out = []
    for doc in DOCS:
        text = _read(doc)
        for m in FENCE.finditer(text):
            info = m.group(1).split()
            line = text.count("\n", 0, m.start()) + 1
            out.append((doc, line, info[0] if info else "", info[1:], m.group(2)))
    return out


def block(name):
    """The text of the one block marked test=NAME."""
    found = [t for _, _, _, marks, t in blocks() if f"test={name}" in marks]
    assert len(found) == 1, f"{len(found)} blocks are marked test={name}"
    return found[0]


RUN = set()  # the names the tests below run


def runs(*names):
    RUN.update(names)
    return lambda f: f


def _env(**extra):
    # the build folder's command and this Python first on PATH: `blendarray` and
    # `python` as a pip install into this environment has them
    path = os.pathsep.join([BUILD_DIR, os.path.dirname(sys.executable), os.environ.get("PATH", "")])
    return dict(os.environ, PATH=path, **extra)


def _run(args, cwd, timeout=300, **env):
    # PWD too: Blender makes relative paths absolute with it
    p = subprocess.run(args, cwd=cwd, env=_env(PWD=str(cwd), **env), capture_output=True, text=True,
                       timeout=timeout)
    assert p.returncode == 0, p.stdout[-3000:] + p.stderr[-3000:]
    return p.stdout


def _python(name, tmp_path, timeout=300, extra="", **env):
    # a script file, as a user runs one (a hook is sent as source), named as no module is
    script = tmp_path / f"example_{name.replace('-', '_')}.py"
    script.write_text(block(name) + extra)
    return _run([sys.executable, str(script)], tmp_path, timeout, **env)


def _sh(name, tmp_path, text=None, **env):
    return _run(["bash", "-euo", "pipefail", "-c", block(name) if text is None else text], tmp_path, **env)


# ---------------------------------------------------------------------------
# What the documentation says, checked without running Blender


def test_every_code_block_is_run_or_marked():
    names = []
    for doc, line, lang, marks, _ in blocks():
        tests = [m for m in marks if m.startswith("test=")]
        assert lang, f"{doc}:{line}: a block names its language (```python, ```sh, ```text, ...)"
        if lang in CODE:
            assert len(tests) + ("illustrative" in marks) == 1, (
                f"{doc}:{line}: a ```{lang} block says `test=NAME` (a test in "
                f"tests/python/test_readme.py runs it) or `illustrative`, once: {marks}")
        names += [m.split("=", 1)[1] for m in tests]
    assert len(names) == len(set(names)), sorted(n for n in names if names.count(n) > 1)
    assert set(names) == RUN, {"marked but not run": sorted(set(names) - RUN),
                               "run but not in the documentation": sorted(RUN - set(names))}


def _anchors(text):
    """The #anchors of a Markdown page's headings, as GitHub makes them."""
    text = FENCE.sub("", text)
    return {re.sub(r"[^\w\- ]", "", h.strip().lower()).replace(" ", "-")
            for h in re.findall(r"^#+ (.*)$", text, re.M)}


def test_links_resolve():
    bad = []
    for doc in DOCS:
        text = _read(doc)
        for target in re.findall(r"\]\(([^)\s]+)\)", FENCE.sub("", text)):
            if re.match(r"[a-z]+:", target):
                continue  # another site's
            path, _, anchor = target.partition("#")
            rel = os.path.normpath(os.path.join(os.path.dirname(doc), path)) if path else doc
            if not os.path.exists(os.path.join(ROOT, rel)):
                bad.append(f"{doc}: {target}: no {rel}")
            elif anchor and anchor not in _anchors(_read(rel)):
                bad.append(f"{doc}: {target}: {rel} has no heading #{anchor}")
    assert not bad, "\n".join(bad)


# `pip install blendarray`, `pip install 'blendarray[torch]'`, `python -m pip install -U
# blendarray`: an index name, which pip cannot find. A path or a wheel file works.
UNPUBLISHED = re.compile(r"""pip3?\s+install\s+(?:-{1,2}[\w-]+\s+)*["'`]?blendarray(?:\[[^\]]*\])?"""
                         r"""(?=[\s"'`),;:.]|$)""")


def test_no_page_installs_blendarray_from_an_index():
    for bad in ["pip install blendarray", "pip install 'blendarray[torch]'",
                'pip install "blendarray[ray]"', "python -m pip install -U blendarray",
                "(pip install blendarray)", "`pip install blendarray[bpy]`"]:
        assert UNPUBLISHED.search(bad), bad
    for good in ["pip install /path/to/blendarray", 'pip install "/path/to/blendarray[torch]"',
                 "pip install ./blendarray-0.3.0-cp311-cp311-linux_x86_64.whl",
                 'pip install "blendarray-0.3.0-cp311-cp311-linux_x86_64.whl[torch]"',
                 "pip install --no-build-isolation -e .", "pip install bpy"]:
        assert not UNPUBLISHED.search(good), good
    # the documentation, and the messages and docstrings of the sources a user reads
    files = DOCS + sorted(os.path.relpath(os.path.join(d, n), ROOT)
                          for top in ("examples", "blender_addon", "python", "scripts")
                          for d, _, names in os.walk(os.path.join(ROOT, top))
                          for n in names if n.endswith((".py", ".sh", ".c", ".h")))
    found = [f"{rel}:{i}: {line.strip()}" for rel in files
             for i, line in enumerate(_read(rel).splitlines(), 1) if UNPUBLISHED.search(line)]
    assert not found, "blendarray is not on PyPI: say `pip install /path/to/blendarray`:\n" + "\n".join(found)


def test_cli_reference_is_the_commands_help():
    build_runtime()
    helps = {m.split("=", 1)[1]: text for doc, _, _, marks, text in blocks() if doc == "docs/cli.md"
             for m in marks if m.startswith("help=")}
    assert set(helps) == {"render", "inspect", "preview"}, sorted(helps)
    for cmd, text in helps.items():
        p = subprocess.run([CLI, cmd, "--help"], capture_output=True, text=True, timeout=30)
        assert p.returncode == 0, p.stderr
        assert text == p.stdout, f"docs/cli.md's `blendarray {cmd} --help` is not the command's: update it"


def _would_run(out, prefix):
    """The commands a --dry-run printed, as argument lists."""
    return [shlex.split(line.split(":", 1)[1].split("would run:", 1)[1]) for line in out.splitlines()
            if line.startswith(prefix) and "would run:" in line]


def _pip_requirements(cmds):
    """What the pip commands among `cmds` install: the arguments after `install` that
    are not options (-e's value, ".", is one)."""
    reqs = []
    for c in cmds:
        if "pip" in c and "install" in c:
            reqs += [a for a in c[c.index("install") + 1:] if not a.startswith("-")]
    return reqs


def test_demo_installs_only_what_the_demo_runs():
    p = subprocess.run([os.path.join(ROOT, "scripts", "demo.sh"), "--dry-run", "x.npz"], cwd=ROOT,
                       capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, p.stdout + p.stderr
    assert "install-blenders" not in p.stdout + p.stderr  # no extra Blender downloaded or checked
    cmds = _would_run(p.stdout, "install.sh")
    demo = _would_run(p.stdout, "demo.sh")
    assert demo == [[".venv/bin/python", "examples/demo.py", "x.npz"]], p.stdout
    # what examples/demo.py imports is what `pip install -e .` brings: blendarray and the
    # dependencies pyproject.toml declares (read independently of the script)
    project = tomllib.loads(_read("pyproject.toml"))
    declared = {re.split(r"[<>=!~\[; ]", r)[0] for r in project["project"]["dependencies"]}
    tree = ast.parse(_read(os.path.join("examples", "demo.py")))
    imported = {a.name.split(".")[0] for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
    imported |= {n.module.split(".")[0] for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and n.module}
    assert imported - set(sys.stdlib_module_names) <= {"blendarray"} | declared, imported
    reqs = _pip_requirements(cmds)
    assert sorted(reqs) == sorted(project["build-system"]["requires"] + ["."]), reqs
    apt = next(line for line in p.stdout.splitlines() if line.startswith("install.sh: apt packages:")).split()
    assert "blender" in apt and not {"clang", "llvm", "valgrind"} & set(apt), apt
    # and the tests' install still installs the rest (scripts/test.sh runs it)
    p = subprocess.run([os.path.join(ROOT, "scripts", "install.sh"), "--dry-run"], cwd=ROOT,
                       capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, p.stdout + p.stderr
    cmds = _would_run(p.stdout, "install.sh")
    assert ["./scripts/install-blenders.sh"] in cmds, p.stdout
    reqs = _pip_requirements(cmds)
    assert ".[test,torch,ray,gym]" in reqs and any(r.startswith("bpy==") for r in reqs), reqs
    assert re.search(r"^step install \./scripts/install\.sh$", _read("scripts/test.sh"), re.M)


@runs("addon-zip")
def test_addon_zip_from_an_installed_package(tmp_path):
    """The README's add-on build, from a package laid out as pip installs it: the
    build folder's complete package, imported with the editable install off."""
    build_runtime()
    sh = block("addon-zip").replace("/path/to/blendarray", ROOT)
    _sh("addon-zip", tmp_path, sh, PYTHONPATH=PACKAGE_DIR, **EDITABLE_OFF)
    (ext,) = (tmp_path / "dist").glob("blendarray-*-extension.zip")
    (legacy,) = (tmp_path / "dist").glob("blendarray-*-addon.zip")
    names = set(zipfile.ZipFile(ext).namelist())
    assert {"blender_manifest.toml", "__init__.py", "vendor/blendarray/libblendarray.so",
            "vendor/blendarray/blender/worker_main.py"} <= names, sorted(names)[:20]
    assert "blendarray_addon/vendor/blendarray/libblendarray.so" in zipfile.ZipFile(legacy).namelist()


# ---------------------------------------------------------------------------
# The blocks that render (tiny sizes, few samples)

def _fx_is_blenders(k_text, width):
    """K printed as a list: its focal length in pixels is what Blender's camera model
    gives the demo scene's camera: a 50 mm lens on the default 36 mm sensor, fitted
    to the image's width."""
    k = ast.literal_eval(k_text.strip())
    return abs(k[0][0] - 50 / 36 * width) < 1e-3 and abs(k[0][2] - width / 2) < 1e-3


@renders
@runs("python-quickstart")
def test_python_example(tmp_path):
    out = _python("python-quickstart", tmp_path).splitlines()
    assert out[0] == "<Frame 1 {rgba: float32[120, 160, 4], depth: float32[120, 160]}>", out
    depth, k = out[1].split(" ", 1)
    assert 0 < float(depth) < 100 and _fx_is_blenders(k, 160), out[1]  # the centre pixel sees an object
    frames = [line.split(" ", 1) for line in out[2:]]
    assert [f[0] for f in frames] == ["1", "2", "3"], out
    assert all(f[1].startswith("(48, 64, 4) ") and int(f[1].split()[-1]) > 0 for f in frames), out


@renders
@runs("python-coco")
def test_python_coco_example(tmp_path):
    from PIL import Image
    out = _python("python-coco", tmp_path).split()
    ann = tmp_path / "out" / "coco" / "annotations.json"  # out/ made by write_coco
    assert len(out) == 1 and (tmp_path / out[0]).resolve() == ann.resolve(), out  # the path it wrote
    doc = json.loads(ann.read_text())
    assert len(doc["images"]) == 3 and len(doc["annotations"]) > 0
    for im in doc["images"]:
        with Image.open(ann.parent / im["file_name"]) as png:
            assert png.size == (96, 72) == (im["width"], im["height"])


@renders
@runs("cli-quickstart")
def test_cli_quickstart(tmp_path):
    build_runtime()
    out = _sh("cli-quickstart", tmp_path)
    for f in (1, 2, 3):
        assert np.load(tmp_path / "out" / f"rgba_{f:04d}.npy").shape == (72, 96, 4)
        assert np.load(tmp_path / "out" / f"depth_{f:04d}.npy").shape == (72, 96)
        assert np.load(tmp_path / "out" / f"object_index_{f:04d}.npy").dtype == np.int32
    assert "(72, 96)" in out and "<f4" in out, out
    with np.load(tmp_path / "out" / "demo.npz") as z:
        assert z["rgba"].shape == (3, 72, 96, 4)
    doc = json.loads((tmp_path / "out" / "coco" / "annotations.json").read_text())
    assert len(doc["images"]) == 3 and len(doc["annotations"]) > 0
    assert (tmp_path / "out" / "sheet.png").stat().st_size > 0


@renders
@runs("c-quickstart", "c-build")
def test_c_program(tmp_path):
    """The README's C program, built with its command against the build tree (a
    blendarray.pc for it); the installed library's way is tests/python/test_install.py's."""
    build_runtime()
    src = block("c-quickstart")
    anchor = "if (ba_renderer_options_new(&o) != BA_OK) return 1;\n"
    assert src.count(anchor) == 1
    # the build tree is no install: it is told where its package is, which an
    # installed library knows by itself
    pkg = json.dumps(os.path.join(PACKAGE_DIR, "blendarray"))
    src = src.replace(anchor, anchor + f"    if (ba_renderer_options_set_str(o, BA_OPT_PACKAGE_DIR, {pkg})) return 1;\n")
    (tmp_path / "prog.c").write_text(src)
    pc = tmp_path / "pc"
    pc.mkdir()
    (pc / "blendarray.pc").write_text(
        f"Name: blendarray\nDescription: the build tree\nVersion: 0\n"
        f"Cflags: -I{ROOT}/include -I{BUILD_DIR}/include\nLibs: -L{BUILD_DIR} -lblendarray\n")
    out = _sh("c-build", tmp_path, PKG_CONFIG_PATH=str(pc), LD_LIBRARY_PATH=BUILD_DIR)
    assert out.splitlines() == [f"frame {f} {name} 48 x 64" for f in (1, 2, 3) for name in ("rgba", "depth")], out


@renders
@runs("python-render")
def test_render_example(tmp_path):
    out = _python("python-render", tmp_path)
    assert out.startswith("(120, 160) ") and _fx_is_blenders(out.split(" ", 3)[3], 160), out


@renders
@runs("python-stream")
def test_renderer_example(tmp_path):
    lines = _python("python-stream", tmp_path).splitlines()
    assert [int(x.split()[0]) for x in lines] == list(range(10))


@renders
@runs("python-scenes", "python-inblender")
def test_scenes_then_inblender_example(tmp_path):
    sh = block("python-scenes").replace("tests/scenes/make_scenes.py", os.path.join(ROOT, "tests/scenes/make_scenes.py"))
    sh = sh.replace(".venv/bin/python", sys.executable)
    out = _sh("python-scenes", tmp_path, sh)
    assert "<Frame 1 {rgba: float32[72, 96, 4], depth: float32[72, 96], display: uint8[72, 96, 4]}>" in out
    # Blender finds the package as docs/python.md says a checkout can: PYTHONPATH=build/dev/python
    # (the add-on's way is tests/python/test_blender_addon.py's)
    assert "PYTHONPATH=build/dev/python" in _read("docs/python.md")
    code = block("python-inblender") + "\nprint('README-OK', list(frame), list(again))\n"
    out = _run(["blender", "-b", "--factory-startup", "-noaudio", "scenes/demo.blend",
                "--python-exit-code", "1", "--python-expr", code], tmp_path, PYTHONPATH=PACKAGE_DIR)
    assert "README-OK ['rgba', 'depth', 'normal', 'object_index'] ['rgba'" in out


@renders
@runs("cli-examples", "cli-coco")
def test_cli_examples(tmp_path):
    build_runtime()
    out = _sh("cli-examples", tmp_path)
    assert "1 [(72, 96, 4), (72, 96)]" in out and "object_index" in out, out
    with np.load(tmp_path / "out" / "demo3.npz") as z:
        assert z["depth"].shape == (3, 72, 96)
    _sh("cli-coco", tmp_path)
    doc = json.loads((tmp_path / "out" / "coco" / "annotations.json").read_text())
    assert len(doc["images"]) == 3 and len(doc["annotations"]) == 12  # 4 categorised objects a frame
    assert (tmp_path / "out" / "labels.png").stat().st_size > 0


@renders
@runs("cli-shards", "cli-shards-doc")
def test_cli_shards_examples(tmp_path):
    """The README's shards and --resume (of a complete dataset: nothing left to
    render, nothing rewritten); docs/cli.md's, whose index lists three shards."""
    import tarfile
    build_runtime()
    _sh("cli-shards", tmp_path)
    d = tmp_path / "out" / "shards"
    lines = [json.loads(x) for x in (d / "shards.jsonl").read_text().splitlines()]
    assert [(e["shard"], e["samples"]) for e in lines] == [
        ("shard-000000.tar", 20), ("shard-000001.tar", 20), ("shard-000002.tar", 10)]
    with tarfile.open(d / "shard-000002.tar") as t:
        names = t.getnames()
    assert names[:3] == ["000000040.rgba.npy", "000000040.depth.npy", "000000040.json"], names
    out = _sh("cli-shards-doc", tmp_path)
    assert [json.loads(x)["samples"] for x in out.splitlines()] == [5, 5, 2], out


@renders
@renders
@runs("python-gym")
def test_python_gym_example(tmp_path):
    out = _python("python-gym", tmp_path).strip().splitlines()
    assert len(out) == 1 and out[0].startswith("(64, 64, 4) float32 -"), out
    assert "{'angle': " in out[0], out


@runs("python-shards")
def test_python_shards_example(tmp_path):
    out = _python("python-shards", tmp_path).splitlines()
    assert len(out) == 50, out
    assert [x.split()[0] for x in out] == [f"{i:09d}" for i in range(50)]
    assert all(x.split()[1:4] == ["(48,", "64,", "4)"] and "[[" in x for x in out), out[:2]


@renders
@runs("torch")
def test_torch_example(tmp_path):
    lines = _python("torch", tmp_path).splitlines()
    assert len(lines) == 4  # 64 frames, batches of 16
    assert "torch.Size([16, 4, 64, 64]) torch.Size([16, 64, 64])" in lines[0]
    firsts = sorted(int(x.split("[")[1].split(",")[0]) for x in lines)
    assert firsts == [0, 1, 32, 33]  # two loader workers, each its interleaved half


@renders
@runs("ray")
def test_ray_example(tmp_path):
    # a local Ray on loopback only; out/renders goes to the test's folder
    out = _python("ray", tmp_path, timeout=600, RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER="0")
    line = [x for x in out.splitlines() if "(64, 64, 4)" in x]
    assert line and line[0].split()[0].isdigit() and '{"frame"' in line[0], out[-2000:]
    assert len(list((tmp_path / "out" / "renders").glob("*.parquet"))) >= 1


@renders
@runs("python-labels")
def test_labels_example(tmp_path):
    lines = _python("python-labels", tmp_path).splitlines()
    names = sorted(x.split()[0] for x in lines[:-1])
    assert names == ["BlueCone", "GreenSphere", "Ground", "RedCube"], lines
    for x in lines[:-1]:  # the area printed equals the decoded mask's pixel count
        parts = x.replace(",", " ").replace("[", " ").replace("]", " ").split()
        assert parts[-1] == parts[-2], x
    assert lines[-1].startswith("(72, 96, 2)"), lines[-1]


@renders
@runs("labels-masks")
def test_labels_masks_example(tmp_path):
    check = "\nprint(m.shape, one.shape, soft.dtype, float(soft.min()), float(soft.max()))\n"
    out = _python("labels-masks", tmp_path, extra=check).split()
    assert out[:6] == ["(4,", "72,", "96)", "(72,", "96)", "float32"], out
    assert 0 <= float(out[6]) and float(out[7]) <= 1, out
