"""blendarray.render(): one render, from any Python, by a Blender worker."""


def render(scene=None, frame=None, passes=None, engine=None, samples=None, resolution=None,
           display=False, denoise=None, threads=None, blender=None, python=None, timeout=None,
           verbose=False, depth_background=None, annotations=False):
    """Render one frame in a fresh Blender worker and return its passes as a Frame.

    scene: path to a .blend file; None renders blendarray's built-in demo scene.
    frame: the frame number (default: the scene's current frame).
    passes: e.g. ["rgba", "depth", "object_index"]; None: every pass the scene renders.
    engine: "CYCLES", "EEVEE" or "WORKBENCH" (default: the scene's). samples,
      resolution=(width, height), denoise, threads: override the scene's settings.
    display: also return "display", Blender's colour-managed image, uint8 (H, W, 4):
      True (made by blendarray with Blender's OpenColorIO where exact, else by
      Blender; meta["display_route"] says which) or "blender" (always Blender).
    blender: "bpy", "blender" or a path to a Blender binary (default:
      $BLENDARRAY_BLENDER, else the first found).
    python: the Python whose bpy renders (implies blender="bpy"; default: this
      one). bpy wheels exist for one Python version each: e.g. bpy 5.2 in a
      Python 3.13 venv serves a consumer running 3.11.
    timeout: seconds to wait for the render before stopping Blender.
    depth_background: replace the engine's marker for "no geometry" in `depth`
      (1e10, 65504 or ~clip_end, by engine) with this value, e.g. float("inf").
    annotations: also the frame's labels in frame.meta["annotations"]: instances
      with boxes, COCO masks and poses (docs/labels.md). Passes "flow_forward" and
      "flow_backward" give optical flow in pixels (x right, y down).

    The arrays live in shared memory that belongs to this process alone; no
    file is written and no Blender process is left running.
    """
    from ._renderer import Renderer
    with Renderer(scene, workers=1, passes=passes, engine=engine, samples=samples,
                  resolution=resolution, display=display, denoise=denoise, threads=threads,
                  retries=0, blender=blender, python=python, timeout=timeout, verbose=verbose,
                  depth_background=depth_background, annotations=annotations) as r:
        return r.render(**({} if frame is None else {"frame": int(frame)}))
