"""blendarray.gym: Blender as a Gymnasium environment, its passes as observations.

    import gymnasium as gym
    from blendarray.gym import BlenderEnv

    def reset(scene, rng, options):          # runs inside Blender
        scene.objects["Cube"].rotation_euler.z = rng.uniform(-3.14, 3.14)

    def step(scene, action):                 # runs inside Blender
        cube = scene.objects["Cube"]
        cube.rotation_euler.z += 0.1 * (int(action) - 1)
        error = abs(cube.rotation_euler.z)
        return -error, bool(error < 0.05), False, {"error": error}

    env = BlenderEnv("scene.blend", reset=reset, step=step,
                     action_space=gym.spaces.Discrete(3), passes=["rgba", "depth"],
                     resolution=(64, 64))
    obs, info = env.reset(seed=0)            # obs["rgba"]: (64, 64, 4) float32
    obs, reward, terminated, truncated, info = env.step(2)

One environment is one warm Blender worker, pinned to it for its life, whose
scene lives on from step to step (unlike Renderer's setup hook, which sees
every frame start from the same scene). reset and step are given as the setup
hook is (a def, sent as source; 'file.py:function'; 'module:function'; the
rules of docs/python.md "Setup hooks"):

  reset(scene, rng, options) -> info (a dict, or None)
  step(scene, action[, rng]) -> (reward, terminated, truncated, info)

After each, the worker renders, and the observation is the frame's arrays: a
Dict space of Boxes (pass name -> exact dtype and shape), or one Box when the
frame has one array. rng is numpy.random.default_rng(episode seed), one per
episode, drawn at reset from the environment's np_random (seeded by
reset(seed=...)): the same seed and actions give bit-identical observations,
in any process, with any number of vector environments beside it. action
arrives as NumPy values of the action space's dtype (a Discrete action an
np.int64).

Observations are the ring memory the frame was rendered into (no copy): valid
while you hold them, and never overwritten while you do. An environment holds
ring slots (ring=, default 8): when all but one are held by observations you
keep, each new one is a copy instead. render_mode="rgb_array": render()
returns the display image of the last frame (Blender's colour management), RGB
uint8 (H, W, 3) as Gymnasium's rgb_array mode has it (display=True puts the
RGBA one in the observation).

A worker that dies or times out mid-episode ends that episode: step returns
the last observation (a copy), reward 0.0, truncated=True and
info["worker_error"] (what happened); the next reset starts a fresh Blender.
An error of your reset or step (an exception, a wrong return) raises
SetupError naming the environment and the step, with your traceback; the
episode is over (reset() again). An action outside action_space raises
ValueError before it reaches Blender (the episode goes on).

BlenderVectorEnv(num_envs, scene, ...) is a Gymnasium VectorEnv over num_envs
such workers stepping in parallel (one process: this one), autoreset mode
NEXT_STEP, as gymnasium.vector.SyncVectorEnv of BlenderEnvs would step them.

Needs Gymnasium 1.x: pip install "/path/to/blendarray[gym]".
"""
try:
    import gymnasium as gym
    from gymnasium import spaces
    from gymnasium.utils import seeding
    from gymnasium.vector import AutoresetMode, VectorEnv
    from gymnasium.vector.utils import batch_space, concatenate, create_empty_array, iterate
except ImportError as e:  # gymnasium is an optional extra
    from ._errors import missing_extra
    raise missing_extra("gym", "Gymnasium 1.x", "gymnasium", "gym", e) from e
import numpy as np

from ._errors import BlendArrayError, SetupError, WorkerError
from ._hooks import Spec, make_spec
from ._settings import Settings, takes_settings

__all__ = ["BlenderEnv", "BlenderVectorEnv", "encode_action"]

_SPACES = (spaces.Box, spaces.Discrete, spaces.MultiDiscrete, spaces.MultiBinary, spaces.Dict,
           spaces.Tuple)


def encode_action(space, action):
    """The JSON form of `action` (blendarray.blender.env.decode_action reads it)."""
    if isinstance(space, spaces.Dict):
        return {"dict": {k: encode_action(s, action[k]) for k, s in space.spaces.items()}}
    if isinstance(space, spaces.Tuple):
        return {"tuple": [encode_action(s, a) for s, a in zip(space.spaces, action)]}
    a = np.asarray(action, dtype=space.dtype)
    return {"array": a.tolist(), "dtype": a.dtype.name, "shape": list(a.shape)}


def _check_action_space(space, where):
    if not isinstance(space, _SPACES):
        raise TypeError(f"{where}: action_space must be a gymnasium.spaces Box, Discrete, "
                        f"MultiDiscrete, MultiBinary, or a Dict or Tuple of them, not {space!r}")
    for sub in (space.spaces.values() if isinstance(space, spaces.Dict) else
                space.spaces if isinstance(space, spaces.Tuple) else ()):
        _check_action_space(sub, where)
    return space


def _box(a):
    """The Box an observation array belongs to: its exact dtype and shape."""
    if a.dtype.kind == "f":
        low, high = -np.inf, np.inf
    else:
        info = np.iinfo(a.dtype) if a.dtype.kind in "iu" else None
        low, high = (0, 1) if info is None else (info.min, info.max)
    return spaces.Box(low, high, a.shape, a.dtype)


class _Session:
    """One environment's worker: a Renderer of one Blender, and its episode."""

    def __init__(self, name, scene, spec, settings, ring, blender, python, timeout, verbose):
        self.name, self.ring = name, ring
        # retries=0: a frame re-rendered by a fresh Blender would start from the scene
        # as loaded, not from the episode's state; no recycling mid-episode either
        self.kw = dict(workers=1, setup=spec, ring=ring, retries=0, blender=blender,
                       python=python, timeout=timeout, verbose=verbose, settings=settings,
                       max_worker_frames=0, max_worker_memory=0)
        self.scene = scene
        self.r = None
        self.start()
        self.np_random = None
        self.frames = 0  # frames asked for: their indices (the worker's error messages name them)
        self.steps = 0  # steps since the last reset
        self.episode = False  # a reset succeeded and the episode has not ended
        self.last = None  # the last observation and display image

    def start(self):
        from ._renderer import Renderer
        self.r = Renderer(self.scene, **self.kw)

    def stop(self):
        """Stop the worker now (Ctrl-C in a step): nothing is left running; the
        episode is over, and the next reset starts a fresh Blender."""
        self.episode = False
        r, self.r = self.r, None
        if r is not None:
            r.close(kill=True)

    def seed(self, seed):
        if seed is not None or self.np_random is None:
            self.np_random, _ = seeding.np_random(seed)

    def send(self, request):
        if self.r is None:
            self.start()
        self.r._submit(self.frames, {"env": request})
        self.frames += 1

    def take(self, what):
        """The frame of the request sent first; errors name the environment and step."""
        try:
            return self.r._take()
        except BlendArrayError as e:
            if e.args and isinstance(e.args[0], str):
                e.args = (f"{self.name}, {what}: {e.args[0]}",) + e.args[1:]
            raise
        except BaseException:  # Ctrl-C: no Blender left running
            self.stop()
            raise

    def close(self):
        self.last = None
        self.stop()


def _request_reset(s, options, seed=None):
    """Send a reset; its episode seed (drawn from s.np_random unless given: a
    reset tried again on a fresh worker sends the same)."""
    s.episode = False
    s.steps = 0
    if seed is None:
        seed = int(s.np_random.integers(2**63 - 1))
    s.send({"op": "reset", "seed": seed, "options": options or {}})
    return seed


def _reset_again(s, base, options, seed):
    """After a worker died in a reset: the same reset on a fresh Blender, once."""
    _request_reset(s, options, seed)
    return _finish_reset(s, s.take("reset"), base)


class _Base:
    """What BlenderEnv and BlenderVectorEnv share: the sessions, spaces, frames."""

    def _start(self, n, scene, reset, step, action_space, render_mode, ring, blender, python,
               timeout, verbose, settings, name):
        if render_mode not in (None, "rgb_array"):
            raise ValueError(f"{name}: render_mode must be None or 'rgb_array', not "
                             f"{render_mode!r}")
        if not isinstance(ring, (int, np.integer)) or isinstance(ring, bool) or ring < 2:
            raise ValueError(f"{name}: ring must be an int >= 2 (slots per worker), not {ring!r}")
        self._action = _check_action_space(action_space, name)
        # the display image for render(), not an observation unless asked for
        self._display_only_for_render = render_mode == "rgb_array" and not settings.display
        if self._display_only_for_render:
            settings = Settings.of(settings, display=True)
        spec = Spec({"kind": "env", "reset": make_spec(reset), "step": make_spec(step)})
        self._sessions = []
        try:
            for _ in range(n):
                self._sessions.append(_Session(name, scene, spec, settings, int(ring), blender,
                                               python, timeout, verbose))
            for s in self._sessions:  # the workers start and render side by side
                s.send({"op": "probe"})
            frames = [s.take("the first render (before reset)") for s in self._sessions]
        except BaseException:
            self._close_sessions()
            raise
        names = [k for k in frames[0] if not (k == "display" and self._display_only_for_render)]
        if not names:
            self._close_sessions()
            raise ValueError(f"{name}: the frames have no arrays to observe: ask for passes "
                             f"(passes=['rgba', ...]) or display=True")
        self._names = names
        boxes = {k: _box(frames[0][k]) for k in names}
        self._obs_space = boxes[names[0]] if len(names) == 1 else spaces.Dict(boxes)

    def _observe(self, s, frame):
        """(observation, display) of a frame: views of its ring slot, or copies when
        all but one of the worker's slots are held by what the caller keeps."""
        if s.r.held >= s.ring - 1:
            frame = frame.copy()
        obs = {k: frame[k] for k in self._names}
        display = frame["display"] if "display" in frame else None
        return (obs[self._names[0]] if len(self._names) == 1 else obs), display

    def _live(self):
        """The sessions, or the error of an environment already closed."""
        if not self._sessions:
            raise BlendArrayError(f"{self.name}: the environment is closed")
        return self._sessions

    def _stop_all(self):
        for s in self._sessions:
            s.stop()

    def _close_sessions(self):
        sessions, self._sessions = getattr(self, "_sessions", []), []
        for s in sessions:
            s.close()


def _finish_reset(s, frame, base):
    obs, display = base._observe(s, frame)
    s.episode = True
    s.last = (obs, display)
    return obs, dict(frame.meta["env"]["info"])


def _finish_step(s, frame, base):
    obs, display = base._observe(s, frame)
    out = frame.meta["env"]
    s.steps += 1
    s.last = (obs, display)
    if out["terminated"] or out["truncated"]:
        s.episode = False
    return obs, out["reward"], out["terminated"], out["truncated"], dict(out["info"])


def _died(s, e):
    """What a step whose worker died returns: the episode ends, truncated."""
    s.episode = False
    obs = _copy_obs(s.last[0]) if s.last is not None else None
    return obs, 0.0, False, True, {"worker_error": str(e)}


def _copy_obs(obs):
    return {k: v.copy() for k, v in obs.items()} if isinstance(obs, dict) else obs.copy()


def _check_action(base, s, action, what):
    space = base._action
    if isinstance(space, spaces.Box):
        try:
            action = np.asarray(action, dtype=space.dtype)
        except (TypeError, ValueError):
            pass
    if not space.contains(action):
        raise ValueError(f"{s.name}, {what}: action {action!r} is outside the action space "
                         f"{space}")
    if not s.episode:
        raise BlendArrayError(f"{s.name}, {what}: the episode is over (or never began): call "
                              f"reset() first")
    return action


def _step_label(s):
    return f"step {s.steps + 1} of the episode"


@takes_settings
class BlenderEnv(_Base, gym.Env):
    """A Gymnasium environment rendered by one warm Blender (see the module's doc).

    scene: a .blend file (None: blendarray's demo scene).
    reset: (scene, rng, options) -> info, run inside Blender by reset().
    step: (scene, action[, rng]) -> (reward, terminated, truncated, info), run
      inside Blender by step(); the frame is rendered after it.
    action_space: a gymnasium.spaces Box, Discrete, MultiDiscrete, MultiBinary,
      or a Dict or Tuple of them.
    passes (a setting): what the observation holds (a Dict of Boxes by pass
      name, or one Box); display=True adds the display image.
    render_mode: None or "rgb_array" (render() gives the display image).
    ring: shared-memory slots of the worker (>= 2): observations you may keep
      uncopied at once.
    blender, python, timeout, verbose: as blendarray.Renderer takes them; a
      step that takes longer than timeout seconds ends the episode (its worker
      is stopped).
    name: what errors call the environment (default: "BlenderEnv(<step's name>)").
    """

    metadata = {"render_modes": ["rgb_array"], "render_fps": 30}

    def __init__(self, scene=None, *, reset, step, action_space, render_mode=None, ring=8,
                 blender=None, python=None, timeout=None, verbose=False, name=None,
                 settings=None):
        name = name or f"BlenderEnv({getattr(step, '__name__', step)})"
        self.name = name
        self.render_mode = render_mode
        self._start(1, scene, reset, step, action_space, render_mode, ring, blender, python,
                    timeout, verbose, settings, name)
        self.action_space = self._action
        self.observation_space = self._obs_space

    def reset(self, *, seed=None, options=None):
        """Start an episode: reset(scene, rng, options) in Blender, then a render."""
        super().reset(seed=seed)
        s = self._live()[0]
        s.np_random = self.np_random  # the episode seeds come from Gymnasium's rng
        seed = _request_reset(s, options)
        try:
            return _finish_reset(s, s.take("reset"), self)
        except WorkerError:
            return _reset_again(s, self, options, seed)

    def step(self, action):
        """One step: step(scene, action) in Blender, then a render."""
        s = self._live()[0]
        what = _step_label(s)
        action = _check_action(self, s, action, what)
        s.send({"op": "step", "action": encode_action(self._action, action)})
        try:
            return _finish_step(s, s.take(what), self)
        except WorkerError as e:
            return _died(s, e)
        except BlendArrayError:
            s.episode = False  # the scene's state is unknown: reset() again
            raise

    def render(self):
        """The last frame's display image, RGB uint8 (H, W, 3) (a copy), with
        render_mode="rgb_array"."""
        if self.render_mode != "rgb_array":
            return None
        s = self._live()[0]
        if s.last is None:
            raise BlendArrayError(f"{self.name}: nothing rendered yet: call reset() first")
        return s.last[1][..., :3].copy()  # Gymnasium's rgb_array: RGB, (H, W, 3)

    def close(self):
        """Stop the worker (safe to call twice)."""
        self._close_sessions()

    def __del__(self):
        self._close_sessions()


@takes_settings
class BlenderVectorEnv(_Base, VectorEnv):
    """num_envs environments, each its own warm Blender, stepping in parallel: a
    Gymnasium VectorEnv (autoreset mode NEXT_STEP). The arguments are
    BlenderEnv's. Sub-environment i is reset with seed + i when reset(seed=int)
    is called (a list gives each its own), as Gymnasium's SyncVectorEnv does:
    it steps exactly as BlenderEnv i of a SyncVectorEnv would, frame for frame.
    Observations are batched (stacked: new arrays each call); a sub-environment
    whose worker died is truncated with info["worker_error"] and reset at the
    next step."""

    metadata = {"render_modes": ["rgb_array"], "render_fps": 30,
                "autoreset_mode": AutoresetMode.NEXT_STEP}

    def __init__(self, num_envs, scene=None, *, reset, step, action_space, render_mode=None,
                 ring=4, blender=None, python=None, timeout=None, verbose=False, name=None,
                 settings=None):
        name = name or f"BlenderVectorEnv({getattr(step, '__name__', step)})"
        if not isinstance(num_envs, (int, np.integer)) or isinstance(num_envs, bool) \
                or num_envs < 1:
            raise ValueError(f"{name}: num_envs must be an int >= 1, not {num_envs!r}")
        self.name = name
        self.num_envs = int(num_envs)
        self.render_mode = render_mode
        self._start(self.num_envs, scene, reset, step, action_space, render_mode, ring, blender,
                    python, timeout, verbose, settings, name)
        for i, s in enumerate(self._sessions):
            s.name = f"{name}[{i}]"
        self.single_action_space = self._action
        self.action_space = batch_space(self._action, self.num_envs)
        self.single_observation_space = self._obs_space
        self.observation_space = batch_space(self._obs_space, self.num_envs)
        self._autoreset = np.zeros(self.num_envs, bool)

    def _batch(self, observations):
        out = create_empty_array(self.single_observation_space, self.num_envs)
        return concatenate(self.single_observation_space, observations, out)

    def reset(self, *, seed=None, options=None):
        """Reset every sub-environment (in parallel)."""
        sessions = self._live()
        if seed is None or isinstance(seed, (int, np.integer)):
            seeds = [None if seed is None else int(seed) + i for i in range(self.num_envs)]
        else:
            seeds = list(seed)
            if len(seeds) != self.num_envs:
                raise ValueError(f"{self.name}: reset(seed=...) got {len(seeds)} seeds for "
                                 f"{self.num_envs} environments")
        if seed is not None:  # the vector env's own rng, as Gymnasium's VectorEnvs seed it
            self._np_random, self._np_random_seed = seeding.np_random(seeds[0])
        try:
            return self._reset(sessions, seeds, options)
        except BlendArrayError:
            raise
        except BaseException:  # Ctrl-C: the other workers are rendering; stop them all
            self._stop_all()
            raise

    def _reset(self, sessions, seeds, options):
        episode_seeds = []
        for s, sd in zip(sessions, seeds):
            s.seed(sd)
            episode_seeds.append(_request_reset(s, options))

        def take(i, s):
            try:
                return _finish_reset(s, s.take("reset"), self)
            except WorkerError:  # a fresh Blender for this one, once
                return _reset_again(s, self, options, episode_seeds[i])

        obs, infos = self._collect(sessions, take)
        self._autoreset[:] = False
        return self._batch(obs), infos

    def _collect(self, sessions, take):
        """take(i, session) -> (observation, info) of each sub-environment, in
        order, its info added to the vector's; the first error is raised once
        every frame sent is taken (none is left to a later call)."""
        obs, infos, error = [], {}, None
        for i, s in enumerate(sessions):
            try:
                o, info = take(i, s)
            except BlendArrayError as e:
                s.episode = False  # its scene's state is unknown: reset() it again
                error = error or e
                continue
            obs.append(o)
            infos = self._add_info(infos, info, i)
        if error is not None:
            raise error
        return obs, infos

    def step(self, actions):
        """One step of every sub-environment; one that ended last step is reset instead."""
        sessions = self._live()
        acts = list(iterate(self.action_space, actions))
        if len(acts) != self.num_envs:
            raise ValueError(f"{self.name}: {len(acts)} actions for {self.num_envs} environments")
        checked = []
        for i, (s, a) in enumerate(zip(sessions, acts)):  # all checked before any is sent
            checked.append(None if self._autoreset[i] else
                           _check_action(self, s, a, _step_label(s)))
        try:
            return self._step(sessions, checked)
        except BlendArrayError:
            raise
        except BaseException:  # Ctrl-C: the other workers are rendering; stop them all
            self._stop_all()
            raise

    def _step(self, sessions, checked):
        what, episode_seeds = [], {}
        for i, s in enumerate(sessions):
            if self._autoreset[i]:
                s.seed(None)
                episode_seeds[i] = _request_reset(s, None)
                what.append("reset")
            else:
                what.append(_step_label(s))
                s.send({"op": "step", "action": encode_action(self._action, checked[i])})
        rewards = np.zeros(self.num_envs, np.float64)
        terminated = np.zeros(self.num_envs, bool)
        truncated = np.zeros(self.num_envs, bool)

        def take(i, s):
            if what[i] == "reset":  # reward 0, neither flag: as SyncVectorEnv's autoreset
                try:
                    return _finish_reset(s, s.take("reset"), self)
                except WorkerError:  # a fresh Blender for this one, once
                    return _reset_again(s, self, None, episode_seeds[i])
            try:
                o, rewards[i], terminated[i], truncated[i], info = _finish_step(
                    s, s.take(what[i]), self)
            except WorkerError as e:
                o, rewards[i], terminated[i], truncated[i], info = _died(s, e)
            return o, info

        obs, infos = self._collect(sessions, take)
        self._autoreset = terminated | truncated
        return self._batch(obs), rewards, terminated, truncated, infos

    def render(self):
        """Each sub-environment's last display image (copies), with render_mode="rgb_array"."""
        if self.render_mode != "rgb_array":
            return None
        sessions = self._live()
        if any(s.last is None for s in sessions):
            raise BlendArrayError(f"{self.name}: nothing rendered yet: call reset() first")
        return tuple(s.last[1][..., :3].copy() for s in sessions)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
        return False

    def close_extras(self, **kwargs):
        self._close_sessions()

    def __del__(self):
        self._close_sessions()
