"""A Gymnasium environment's two functions, run inside Blender by the worker
that the environment is pinned to (blendarray.gym is the consumer's side).

The worker keeps its scene between frames, so the state an episode builds up
lives on from one step to the next. Each render request of an environment
carries one of (params["env"]):

  {"op": "probe"}                           render the scene as it is (the
                                            consumer learns the observation's arrays)
  {"op": "reset", "seed": s, "options": o}  reset(scene, rng, options) -> info
  {"op": "step", "action": a}               step(scene, action[, rng])
                                              -> (reward, terminated, truncated, info)

rng is numpy.random.default_rng(s), made at each reset from the episode seed
the consumer drew, and handed to the episode's steps when step takes three
parameters. Actions travel as JSON (encode_action in blendarray.gym): arrays as
{"array": values, "dtype", "shape"}, dicts and tuples of them as {"dict": ...}
and {"tuple": [...]}, so that step gets NumPy values of the action space's
dtype, exactly as the agent chose them.
"""
import numbers

import numpy as np

from .. import _hooks
from .._errors import SetupError


def decode_action(a):
    """The NumPy value an encoded action stands for."""
    if isinstance(a, dict):
        if "array" in a:
            v = np.array(a["array"], dtype=np.dtype(a["dtype"])).reshape(a["shape"])
            return v[()] if v.ndim == 0 else v  # a Discrete action: a NumPy scalar
        if "dict" in a:
            return {k: decode_action(v) for k, v in a["dict"].items()}
        if "tuple" in a:
            return tuple(decode_action(v) for v in a["tuple"])
    return a


class Env:
    """The reset and step functions of one environment, and its episode's rng."""

    def __init__(self, spec, namespace):
        self.reset_fn = _hooks.load(spec["reset"], namespace)
        self.step_fn = _hooks.load(spec["step"], namespace)
        self.rng = None

    def __call__(self, scene, request):
        """Run what `request` asks; the dict merged into the frame's meta (its "env")."""
        if not isinstance(request, dict):
            raise SetupError("this worker serves an environment: each frame's params must "
                             "carry an \"env\" request (blendarray.gym sends them)")
        op = request.get("op")
        if op == "probe":
            return {}
        if op == "reset":
            self.rng = np.random.default_rng(int(request["seed"]))
            fn, nargs = self.reset_fn
            options = request.get("options") or {}
            info = _run("reset", fn, (scene, self.rng, options)[:max(nargs, 2)])
            return {"env": {"info": _info("reset", info)}}
        if op == "step":
            if self.rng is None:
                raise SetupError("step before reset: call reset() first")
            fn, nargs = self.step_fn
            action = decode_action(request.get("action"))
            out = _run("step", fn, (scene, action, self.rng)[:max(nargs, 2)])
            return {"env": _step_result(out)}
        raise SetupError(f"unknown environment request {op!r}")


def _run(name, fn, args):
    try:
        return fn(*args)
    except Exception as e:
        raise SetupError(f"the environment's {name} function raised: {type(e).__name__}: {e}\n"
                         f"{_hooks._user_traceback(e, skip=1)}") from None


def _info(name, info):
    if info is None:
        return {}
    if not isinstance(info, dict):
        raise SetupError(f"the environment's {name} function returned {type(info).__name__} as "
                         f"its info; return a dict (or None)")
    return info


_STEP_RETURNS = "return (reward, terminated, truncated, info): a number, two bools and a dict"


def _step_result(out):
    if not isinstance(out, tuple) or len(out) != 4:
        what = f"a tuple of {len(out)}" if isinstance(out, tuple) else type(out).__name__
        raise SetupError(f"the environment's step function returned {what}; {_STEP_RETURNS}")
    reward, terminated, truncated, info = out
    if isinstance(reward, (bool, np.bool_)) or not isinstance(reward, numbers.Real):
        raise SetupError(f"the environment's step function returned a reward of type "
                         f"{type(reward).__name__}; {_STEP_RETURNS}")
    for name, flag in (("terminated", terminated), ("truncated", truncated)):
        if not isinstance(flag, (bool, np.bool_)):
            raise SetupError(f"the environment's step function returned {name} of type "
                             f"{type(flag).__name__}; {_STEP_RETURNS}")
    return {"reward": float(reward), "terminated": bool(terminated), "truncated": bool(truncated),
            "info": _info("step", info)}
