"""blendarray, installed into Blender like any add-on.

Blender 4.2 and newer install it as an extension (blender_manifest.toml),
3.4 to 4.1 as a legacy add-on (bl_info); scripts/build-blender-addon.py builds
both zips. Enabled, it gives:

- scripts in this Blender: `import blendarray.blender` with nothing else to set.
  The package is bundled in this add-on's `vendor/` folder; register() puts
  that folder, and nothing else, at the front of sys.path, plus a finder that
  answers for `blendarray` alone from it (so that an editable install's import
  hook, which comes before sys.path, cannot shadow it); unregister() takes both
  off again and forgets the modules imported from there (an update loads anew);
- Render > "Render Passes to .npz...": renders the current frame of the
  current scene and saves every pass the view layers render, the display
  image (Blender's colour-managed 8-bit RGBA) and the frame's metadata
  (member meta.json) to the chosen .npz. Arrays are named as
  blendarray.render() names them, so the two compare key by key. The file is
  written by libblendarray under a temporary name and renamed when complete:
  after an error nothing is left. From a script (background mode too):
  bpy.ops.render.blendarray_npz(filepath="/tmp/out.npz").
"""

bl_info = {
    "name": "blendarray",
    "author": "blendarray authors",
    "version": (0, 0, 0),  # set by scripts/build-blender-addon.py from the package's version
    "blender": (3, 4, 0),
    "location": "Render > Render Passes to .npz; scripts: import blendarray.blender",
    "description": "Render passes straight into NumPy arrays; save every pass to an .npz",
    "category": "Render",
}

import json
import os
import sys

import bpy
from bpy.props import BoolProperty, StringProperty
from bpy_extras.io_utils import ExportHelper

VENDOR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "vendor")


def _from_vendor(module):
    f = getattr(module, "__file__", None)
    return bool(f) and os.path.abspath(f).startswith(VENDOR + os.sep)


class _BundledBlendarray:
    """A sys.meta_path finder that answers for `blendarray` (and its modules)
    from VENDOR alone. An editable install of blendarray in the Python that
    runs bpy puts its own finder in sys.meta_path, ahead of sys.path: this one
    goes in front of it, so the add-on always runs the package it was built with."""

    @staticmethod
    def find_spec(name, path=None, target=None):
        if name != "blendarray" and not name.startswith("blendarray."):
            return None
        from importlib.machinery import PathFinder
        return PathFinder.find_spec(name, [VENDOR] if name == "blendarray" else path)


def _add_path():
    if VENDOR not in sys.path:
        sys.path.insert(0, VENDOR)
    if _BundledBlendarray not in sys.meta_path:
        sys.meta_path.insert(0, _BundledBlendarray)


def _remove_path():
    while _BundledBlendarray in sys.meta_path:
        sys.meta_path.remove(_BundledBlendarray)
    while VENDOR in sys.path:
        sys.path.remove(VENDOR)
    for name in [n for n in sys.modules if n == "blendarray" or n.startswith("blendarray.")]:
        if _from_vendor(sys.modules[name]):
            del sys.modules[name]


# Where the settings a warning names (frame.meta["warning_fixes"]) are in Blender's UI:
# this add-on renders the scene as it is set up, so the fix is the scene's own setting.
_SETTING_UI = {"denoise": "Render Properties > Sampling > Render > Denoise"}


def _warning(message, fix):
    """A render's warning in this add-on's words."""
    where = [f"{_SETTING_UI.get(k, k)}: {'on' if v is True else 'off' if v is False else v}"
             for k, v in (fix or {}).items()]
    return f"blendarray: {message}" + (f" ({'; '.join(where)} silences it)" if where else "")


def _add_meta(writer, frame):
    """frame.meta as member "meta.json", through a memfd (RAM) the writer reads at finish;
    returns the fd, to close after finish."""
    meta = json.dumps(frame.meta, default=lambda o: o.tolist() if hasattr(o, "tolist") else str(o))
    fd = os.memfd_create("blendarray-meta", os.MFD_CLOEXEC)
    try:
        data = meta.encode()
        while data:
            data = data[os.write(fd, data):]
        writer.add_file("meta.json", f"/proc/self/fd/{fd}")
    except BaseException:
        os.close(fd)
        raise
    return fd


class BLENDARRAY_OT_render_npz(bpy.types.Operator, ExportHelper):
    """Render the current frame and save every enabled render pass and the display image to an .npz file"""
    bl_idname = "render.blendarray_npz"
    bl_label = "Render Passes to .npz"
    bl_options = {"REGISTER"}

    filename_ext = ".npz"
    filter_glob: StringProperty(default="*.npz", options={"HIDDEN"})
    compress: BoolProperty(name="Compress", default=False,
                           description="Deflate the arrays (smaller file, slower; as numpy.savez_compressed)")

    def execute(self, context):
        import blendarray.blender as bab
        from blendarray import BlendArrayError

        path = bpy.path.abspath(self.filepath)
        if not path:
            self.report({"ERROR"}, "blendarray: no file chosen")
            return {"CANCELLED"}
        if not path.lower().endswith(".npz"):
            path += ".npz"
        scene = context.scene
        wm = context.window_manager
        wm.progress_begin(0, 100)
        meta_fd = None
        try:
            import numpy as np
            from blendarray import _lib
            # Opened first: it reserves the temporary file beside `path`, so an
            # unwritable folder fails before the render, not after it.
            with _lib.NpzWriter(path, compress=self.compress, overwrite=True) as writer:
                self.report({"INFO"}, f"blendarray: rendering frame {scene.frame_current} of scene "
                                      f"{scene.name!r} ({scene.render.engine})")
                wm.progress_update(5)
                frame = bab.render(passes=None, display=True, scene=scene)
                fixes = frame.meta.get("warning_fixes") or ()
                for k, w in enumerate(frame.meta.get("warnings") or ()):
                    self.report({"WARNING"}, _warning(w, fixes[k] if k < len(fixes) else None))
                wm.progress_update(70)
                names = list(frame)
                self.report({"INFO"}, f"blendarray: writing {len(names)} arrays to {path}")
                for name in names:
                    writer.add_array(name, np.ascontiguousarray(frame[name]))
                meta_fd = _add_meta(writer, frame)
                writer.finish()  # renamed into place; on any error before, nothing is left
            wm.progress_update(100)
        except BlendArrayError as e:
            self.report({"ERROR"}, f"blendarray: {e}")
            return {"CANCELLED"}
        finally:
            if meta_fd is not None:
                os.close(meta_fd)
            wm.progress_end()
        self.report({"INFO"}, f"blendarray: saved {', '.join(names)} to {path}")
        return {"FINISHED"}


def _menu(self, context):
    self.layout.separator()
    self.layout.operator(BLENDARRAY_OT_render_npz.bl_idname, text="Render Passes to .npz...",
                         icon="RENDER_STILL")


def register():
    _add_path()
    try:
        import blendarray.blender  # noqa: F401  (checks this Blender's version: a clear error if too old)
        bpy.utils.register_class(BLENDARRAY_OT_render_npz)
    except BaseException:
        _remove_path()
        raise
    bpy.types.TOPBAR_MT_render.append(_menu)


def unregister():
    bpy.types.TOPBAR_MT_render.remove(_menu)
    bpy.utils.unregister_class(BLENDARRAY_OT_render_npz)
    _remove_path()
