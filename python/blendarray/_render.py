"""blendarray.render(): one render, from any Python, by a Blender worker."""
from ._settings import takes_settings


@takes_settings
def render(scene=None, frame=None, *, blender=None, python=None, timeout=None, verbose=False,
           settings=None):
    """Render one frame in a fresh Blender worker and return its passes as a Frame.

    scene: path to a .blend file; None renders blendarray's built-in demo scene.
    frame: the frame number (default: the scene's current frame).
    blender: "bpy", "blender" or a path to a Blender binary (default:
      $BLENDARRAY_BLENDER, else the first found).
    python: the Python whose bpy renders (implies blender="bpy"; default: this
      one). bpy wheels exist for one Python version each: e.g. bpy 5.2 in a
      Python 3.13 venv serves a consumer running 3.11.
    timeout: seconds to wait for the render before stopping Blender.
    verbose: show Blender's output.

    The arrays live in shared memory that belongs to this process alone; no
    file is written and no Blender process is left running.
    """
    from ._renderer import Renderer
    with Renderer(scene, workers=1, retries=0, blender=blender, python=python, timeout=timeout,
                  verbose=verbose, settings=settings) as r:
        return r.render(**({} if frame is None else {"frame": int(frame)}))
