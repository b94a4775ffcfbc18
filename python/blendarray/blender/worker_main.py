"""Entry point for `blender -b --python worker_main.py`: Blender's Python does
not see the consumer's sys.path, so put this package's parent on it first."""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))

from blendarray.blender.worker import main  # noqa: E402

code = main()
# Blender would go on to its event loop / quit normally; make the exit code ours.
os._exit(code)
