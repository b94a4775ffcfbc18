"""Entry point of a Blender worker: `blender -b --python <package>/blender/worker_main.py`
or, for bpy, `<python> <package>/blender/worker_main.py`.

The consumer names this file inside the blendarray package it wants run (its
own, installed or built). Blender's Python does not see the consumer's
sys.path, and must not: putting a venv's site-packages on it would shadow
Blender's own NumPy. So only `blendarray` is made importable, from the folder
this file lives in, by a finder that answers for that one package.
"""
import importlib.abc
import importlib.machinery
import os
import sys

_PACKAGE = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


class _ThisBlendarray(importlib.abc.MetaPathFinder):
    """blendarray and its modules from _PACKAGE, ahead of any other finder
    (an editable install's, or another blendarray on PYTHONPATH)."""

    def find_spec(self, name, path=None, target=None):
        if name != "blendarray" and not name.startswith("blendarray."):
            return None
        where = [os.path.dirname(_PACKAGE)] if name == "blendarray" else path
        return importlib.machinery.PathFinder.find_spec(name, where)


if sys.path and os.path.abspath(sys.path[0] or ".") == os.path.dirname(os.path.abspath(__file__)):
    del sys.path[0]  # `python worker_main.py` put blender/ first: its modules are not top-level
sys.meta_path.insert(0, _ThisBlendarray())

from blendarray.blender.worker import main  # noqa: E402

code = main()
# Blender would go on to its event loop / quit normally; make the exit code ours.
os._exit(code)
