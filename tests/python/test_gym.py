"""blendarray.gym with real Gymnasium (its own env checker; SyncVectorEnv as the
reference a vector env must step like), real stable-baselines3 and real Blender
(the .venv's bpy).

The example environment (examples/gym_cube.py) turns the demo scene's red cube
under a camera; its observations are checked against fresh renders of the same
scene state by a plain Renderer, and against each other across processes, seeds
and vector environments.
"""
import hashlib
import json
import os
import signal
import subprocess
import sys
import textwrap
import time
import warnings

import numpy as np
import pytest

gym = pytest.importorskip("gymnasium")  # installed by scripts/install.sh: the [gym] extra
from gymnasium.utils.env_checker import check_env, data_equivalence  # noqa: E402

import blendarray as ba  # noqa: E402
from blendarray import BlendArrayError, SetupError  # noqa: E402
from blendarray.gym import BlenderEnv, BlenderVectorEnv  # noqa: E402
from support import PACKAGE_DIR, ROOT, blender_kw, import_without  # noqa: E402

sys.path.insert(0, os.path.join(ROOT, "examples"))
import gym_cube  # noqa: E402

pytestmark = pytest.mark.blender
BPY = dict(blender="bpy")
D3 = gym.spaces.Discrete(3)


def digest(obs):
    if isinstance(obs, dict):
        return {k: digest(v) for k, v in obs.items()}
    return hashlib.sha256(np.ascontiguousarray(obs).tobytes()).hexdigest()


# -- environments of the tests' own (top-level defs: sent to Blender as source) ----------

def pid_reset(scene, rng, options):
    import os
    scene["steps"] = 0
    scene.objects["GreenSphere"].location.x = float(rng.uniform(-1, 1))
    return {"pid": os.getpid()}


def pid_step(scene, action, rng):
    """Action 0 moves the sphere 0.25 right, 1 by the rng (a step's own randomness);
    2 kills this Blender, 3 sleeps 30 s (a hung step), 4 returns a bad tuple, 5 raises."""
    import os
    import time
    a = int(action)
    if a == 2:
        os._exit(7)
    if a == 3:
        time.sleep(30)
    if a == 4:
        return 1.0, False
    if a == 5:
        raise RuntimeError("the step function's own error")
    scene["steps"] += 1
    sphere = scene.objects["GreenSphere"]
    sphere.location.x += 0.25 if a == 0 else float(rng.normal(0, 0.1))
    return float(scene["steps"]), False, False, {"pid": os.getpid(), "steps": scene["steps"],
                                                 "x": sphere.location.x}


def pid_env(**kw):
    kw = {"engine": "WORKBENCH", "resolution": (32, 24), "passes": ["rgba", "depth"], **BPY,
          **kw}
    return BlenderEnv(reset=pid_reset, step=pid_step, action_space=gym.spaces.Discrete(6), **kw)


# -- Gymnasium's own checker, and its registry -----------------------------------------

def test_check_env_passes_on_the_example_without_a_warning():
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        env = gym.make("blendarray/CubeTurn-v0", render_mode="rgb_array",
                       disable_env_checker=True, **BPY)
        try:
            check_env(env.unwrapped)  # render modes (through the spec) and close twice too
            env.reset(seed=0)
            frame = env.render()
        finally:
            env.close()
    said = [str(w.message) for w in caught]
    assert said == [], said
    assert frame.shape == (64, 64, 3) and frame.dtype == np.uint8
    assert env.unwrapped.observation_space == gym.spaces.Box(0, 255, (64, 64, 4), np.uint8)


# -- the scene lives on; observations are what Blender renders --------------------------

def posed(scene, index, rng, params):
    """The example's scene with the cube at params["angle"], set in one go."""
    cube = scene.objects["RedCube"]
    cube.animation_data_clear()
    scene.camera.location = (cube.location.x, cube.location.y, 5.0)
    cube.rotation_euler = (0.0, 0.0, params["angle"])


def test_the_scene_lives_on_between_steps_and_each_observation_is_its_render(flavour):
    """On every Blender of the suite (Debian's 3.4 and the bpy module)."""
    kw = dict(engine="WORKBENCH", resolution=(64, 64), passes=["rgba", "depth"], display=True,
              **blender_kw(flavour))
    angles, obs = [], []
    with gym_cube.make_env(**kw) as env:
        assert set(env.observation_space.spaces) == {"rgba", "depth", "display"}
        o, info = env.reset(seed=1, options={"angle": 0.5})
        angles.append(info["angle"])
        obs.append({k: v.copy() for k, v in o.items()})
        for action in (2, 2, 0, 2):
            o, reward, terminated, truncated, info = env.step(action)
            angles.append(info["angle"])
            obs.append({k: v.copy() for k, v in o.items()})
            assert reward == pytest.approx(-gym_cube.off_square(info["angle"]))
            assert not terminated and not truncated
    # the angle accumulated step by step, in the worker's scene
    assert np.allclose(angles, [0.5, 0.65, 0.8, 0.65, 0.8], atol=1e-6), angles
    # a fresh Blender, the cube set straight to each angle: the same pixels
    with ba.Renderer(None, setup=posed, **kw) as r:
        ref = [{k: np.array(v) for k, v in f.items()}
               for f in r.frames([{"angle": a} for a in angles])]
    for k, (got, want) in enumerate(zip(obs, ref)):
        for name in ("rgba", "depth", "display"):
            assert np.array_equal(got[name], want[name]), (k, name)
    assert not np.array_equal(obs[0]["rgba"], obs[1]["rgba"])
    assert np.array_equal(obs[2]["rgba"], obs[4]["rgba"])  # back at the same angle


def test_observations_are_ring_memory_until_the_agent_keeps_too_many():
    with pid_env(ring=3) as env:
        kept = [env.reset(seed=0)[0]]
        kept += [env.step(0)[0] for _ in range(4)]
        sums = [float(o["rgba"].sum()) for o in kept]
        # distinct frames, none overwritten by a later one while held
        assert len(set(sums)) == len(sums)
        shared = [o["rgba"].base is not None and not o["rgba"].flags.owndata for o in kept]
        assert shared[0] and not shared[-1], shared  # the last ones copied out of the ring


def test_the_episode_rng_reaches_step_seeded_by_reset():
    """step(scene, action, rng) gets the rng of the episode's reset: the same seed,
    the same draws, in a fresh worker too; another seed, other draws."""
    def walk(seed):
        with pid_env() as env:
            _, info = env.reset(seed=seed)
            return [info["pid"]] + [env.step(1)[4]["x"] for _ in range(3)]
    a, b, c = walk(3), walk(3), walk(4)
    assert a[0] != b[0]  # two Blenders
    assert a[1:] == b[1:] and len(set(a[1:])) == 3 and a[1:] != c[1:], (a, b, c)


# -- determinism ------------------------------------------------------------------------

EPISODE = textwrap.dedent("""
    import hashlib, json, sys
    import numpy as np
    sys.path.insert(0, sys.argv[1])
    import gym_cube
    samples = {"CYCLES": 2, "WORKBENCH": 1}[sys.argv[2]]
    with gym_cube.make_env(engine=sys.argv[2], samples=samples, blender="bpy") as env:
        out = []
        obs, _ = env.reset(seed=42)
        out.append(hashlib.sha256(obs.tobytes()).hexdigest())
        for a in (2, 0, 0, 1, 2):
            obs, r, term, trunc, info = env.step(a)
            out.append(hashlib.sha256(obs.tobytes()).hexdigest())
        obs, _ = env.reset()  # the next episode: drawn from the seeded rng
        out.append(hashlib.sha256(obs.tobytes()).hexdigest())
    print("RESULT", json.dumps(out))
""")


@pytest.mark.parametrize("engine", ["WORKBENCH", "CYCLES"])
def test_same_seed_and_actions_give_the_same_observations_in_two_processes(tmp_path, engine):
    script = tmp_path / "episode.py"
    script.write_text(EPISODE)
    env = dict(os.environ, PYTHONPATH=PACKAGE_DIR)
    runs = [subprocess.Popen([sys.executable, str(script), os.path.join(ROOT, "examples"),
                              engine], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             text=True) for _ in range(2)]
    outs = []
    for p in runs:
        out, err = p.communicate(timeout=300)
        assert p.returncode == 0, err
        outs.append(json.loads(out.split("RESULT", 1)[1]))
    assert outs[0] == outs[1]
    assert len(set(outs[0])) >= 4, outs[0]  # the actions changed what was seen


def test_the_vector_env_steps_as_gymnasiums_sync_vector_env_of_blender_envs():
    """Through an autoreset (NEXT_STEP): observations, rewards, flags and infos equal,
    bit for bit, to SyncVectorEnv([BlenderEnv, BlenderEnv]); and sub-environment i
    to a lone BlenderEnv reset with seed + i."""
    options = {"angle": 0.1}  # action 0 turns it square: terminated in one step
    actions = [[0, 2], [1, 0], [2, 1], [1, 0]]
    vec = gym.make_vec("blendarray/CubeTurn-v0", num_envs=2,
                       vectorization_mode="vector_entry_point", **BPY)
    assert isinstance(vec, BlenderVectorEnv)
    ref = gym.vector.SyncVectorEnv([lambda: gym_cube.make_env(**BPY)] * 2)
    try:
        assert vec.metadata["autoreset_mode"] == gym.vector.AutoresetMode.NEXT_STEP
        assert vec.observation_space == ref.observation_space
        assert vec.action_space == ref.action_space
        got, want = [vec.reset(seed=5, options=options)], [ref.reset(seed=5, options=options)]
        for a in actions:
            got.append(vec.step(np.array(a)))
            want.append(ref.step(np.array(a)))
        got.append(vec.reset(seed=9))  # random angles: seed 9 for env 0, 10 for env 1
        want.append(ref.reset(seed=9))
        for k, (g, w) in enumerate(zip(got, want)):
            assert data_equivalence(g, w, exact=True), (k, g[1:], w[1:])
        assert got[1][2].tolist() == [True, False]
        assert not np.array_equal(got[0][0][0], got[2][0][0])  # env 0 was reset
        assert got[-1][1]["angle"][0] != got[-1][1]["angle"][1]
    finally:
        vec.close()
        ref.close()
    with gym_cube.make_env(**BPY) as lone:
        obs, _ = lone.reset(seed=6, options=options)
        assert np.array_equal(obs, got[0][0][1])
        assert np.array_equal(lone.step(2)[0], got[1][0][1])


# -- a real learner ---------------------------------------------------------------------

def test_stable_baselines3_ppo_trains_on_the_example():
    sb3 = pytest.importorskip("stable_baselines3")
    with gym_cube.make_env(**BPY) as env:
        model = sb3.PPO("CnnPolicy", env, n_steps=64, batch_size=32, n_epochs=1, seed=0,
                        device="cpu")
        model.learn(total_timesteps=256)  # 4 rollouts of 64 steps, 4 updates
        assert model.num_timesteps == 256
        obs, _ = env.reset(seed=0)
        action, _ = model.predict(obs, deterministic=True)
        assert env.action_space.contains(int(action))


# -- actions arrive as the agent chose them ---------------------------------------------

def echo_reset(scene, rng, options):
    return None


def echo_step(scene, action):
    def describe(a):
        if isinstance(a, dict):
            return {k: describe(v) for k, v in a.items()}
        return {"type": type(a).__name__, "dtype": str(a.dtype), "value": a.tolist()}
    return 0, False, False, {"action": describe(action)}


def test_actions_reach_the_step_function_with_their_exact_dtype_and_values():
    space = gym.spaces.Dict({"turn": gym.spaces.Box(-1, 1, (2,), np.float32),
                             "pick": gym.spaces.Discrete(4),
                             "bits": gym.spaces.MultiBinary(3)})
    with BlenderEnv(reset=echo_reset, step=echo_step, action_space=space, engine="WORKBENCH",
                    resolution=(8, 8), passes=["depth"], **BPY) as env:
        assert env.observation_space == gym.spaces.Box(-np.inf, np.inf, (8, 8), np.float32)
        env.reset(seed=0)
        turn = np.array([0.1, -0.7], np.float32)  # not exact in float64: must stay float32
        action = {"turn": turn, "pick": np.int64(3), "bits": np.array([1, 0, 1], np.int8)}
        _, reward, *_, info = env.step(action)
        assert type(reward) is float
        assert info["action"] == {
            "turn": {"type": "ndarray", "dtype": "float32", "value": turn.tolist()},
            "pick": {"type": "int64", "dtype": "int64", "value": 3},
            "bits": {"type": "ndarray", "dtype": "int8", "value": [1, 0, 1]}}
    box = gym.spaces.Box(-1, 1, (2,), np.float32)
    with BlenderEnv(reset=echo_reset, step=echo_step, action_space=box, engine="WORKBENCH",
                    resolution=(8, 8), passes=["depth"], **BPY) as env:
        env.reset(seed=0)
        info = env.step([0.25, -1.0])[4]  # a list, cast to the space's dtype
        assert info["action"] == {"type": "ndarray", "dtype": "float32", "value": [0.25, -1.0]}


# -- bad input --------------------------------------------------------------------------

def test_bad_actions_steps_and_passes_get_errors_that_name_the_env_and_step():
    with pid_env(name="Sphere") as env:
        with pytest.raises(BlendArrayError, match=r"^Sphere, step 1 of the episode: the "
                           r"episode is over \(or never began\): call reset\(\) first$"):
            env.step(0)
        _, info = env.reset(seed=0)
        pid = info["pid"]
        env.step(0)
        with pytest.raises(ValueError, match=r"^Sphere, step 2 of the episode: action 9 is "
                           r"outside the action space Discrete\(6\)$"):
            env.step(9)
        assert env.step(0)[4]["steps"] == 2  # a refused action did not end the episode
        with pytest.raises(SetupError, match=r"^Sphere, step 3 of the episode: .*the "
                           r"environment's step function returned a tuple of 2; return "
                           r"\(reward, terminated, truncated, info\)"):
            env.step(4)
        with pytest.raises(BlendArrayError, match="call reset"):
            env.step(0)  # the scene's state is unknown after an error: reset first
        env.reset(seed=0)
        with pytest.raises(SetupError, match=r"(?s)^Sphere, step 1 of the episode: .*raised: "
                           r"RuntimeError: the step function's own error.*in pid_step"):
            env.step(5)
        _, info = env.reset(seed=0)
        assert info["pid"] == pid  # the worker was kept through all of it
    with pytest.raises(ba.PassError, match=r"^BlenderEnv\(pid_step\), the first render "
                       r"\(before reset\): .*the BLENDER_WORKBENCH render did not produce "
                       r"pass\(es\) vector; this engine's render has: rgba"):
        pid_env(passes=["rgba", "vector"])  # a pass Workbench does not render
    with pytest.raises(ba.PassError, match=r"^BlenderEnv\(pid_step\), .*nonsense"):
        pid_env(passes=["rgba", "nonsense"])
    with pytest.raises(ValueError, match=r"render_mode must be None or 'rgb_array'"):
        pid_env(render_mode="human")
    with pytest.raises(TypeError, match=r"action_space must be a gymnasium.spaces"):
        BlenderEnv(reset=pid_reset, step=pid_step, action_space=gym.spaces.Text(4), **BPY)


def test_gym_without_gymnasium_says_how_to_install_it():
    msg = import_without("gymnasium", "gym")
    assert "blendarray.gym needs Gymnasium 1.x" in msg and "[gym]" in msg, msg


# -- faults -----------------------------------------------------------------------------

def test_a_worker_that_dies_or_hangs_ends_the_episode_truncated():
    with pid_env(timeout=3) as env:
        obs, info = env.reset(seed=0)
        first = info["pid"]
        obs, *_ = env.step(0)
        last = obs["rgba"].copy()
        obs, reward, terminated, truncated, info = env.step(2)  # os._exit in the step
        assert (reward, terminated, truncated) == (0.0, False, True)
        assert "exited with status 7" in info["worker_error"], info
        assert np.array_equal(obs["rgba"], last)
        with pytest.raises(BlendArrayError, match="call reset"):
            env.step(0)
        _, info = env.reset(seed=0)
        assert info["pid"] != first
        with pytest.raises(ProcessLookupError):
            os.kill(first, 0)
        second = info["pid"]
        obs, reward, terminated, truncated, info = env.step(3)  # hangs past the timeout
        assert truncated and "did not finish a frame within 3 s" in info["worker_error"], info
        with pytest.raises(ProcessLookupError):
            os.kill(second, 0)
        _, info = env.reset(seed=0)
        assert info["pid"] not in (first, second)
        assert env.step(0)[4]["steps"] == 1


def test_a_vector_env_truncates_the_env_whose_worker_died_and_resets_it_next_step():
    with BlenderVectorEnv(2, reset=pid_reset, step=pid_step, action_space=gym.spaces.Discrete(6),
                          engine="WORKBENCH", resolution=(32, 24), passes=["rgba"],
                          **BPY) as vec:
        _, info = vec.reset(seed=0)
        pids = info["pid"].tolist()
        _, rew, term, trunc, info = vec.step(np.array([0, 2]))
        assert trunc.tolist() == [False, True] and rew.tolist() == [1.0, 0.0]
        assert info["_worker_error"].tolist() == [False, True]
        assert "exited with status 7" in info["worker_error"][1]
        _, rew, term, trunc, info = vec.step(np.array([0, 0]))  # env 1: reset, fresh Blender
        assert info["pid"][0] == pids[0] and info["pid"][1] != pids[1]
        assert info["_steps"].tolist() == [True, False] and rew.tolist() == [2.0, 0.0]


CTRL_C = textwrap.dedent("""
    import json, os, sys, time
    import numpy as np
    import gymnasium as gym
    sys.path.insert(0, sys.argv[1])
    import test_gym
    from blendarray.gym import BlenderVectorEnv
    from support import descendants

    vec = BlenderVectorEnv(2, reset=test_gym.pid_reset, step=test_gym.slow_step,
                           action_space=gym.spaces.Discrete(2), engine="WORKBENCH",
                           resolution=(16, 16), passes=["rgba"], blender="bpy")
    vec.reset(seed=0)
    vec.step(np.array([0, 0]))
    print("RUNNING", flush=True)
    try:
        vec.step(np.array([0, 1]))  # env 1 hangs: the test's Ctrl-C comes during this step
        where = "no interrupt"
    except KeyboardInterrupt:
        import traceback
        where = traceback.format_exc()
    time.sleep(0.5)  # the consumer is alive: what is left is what blendarray cleaned
    tmp = os.environ["TMPDIR"]
    print("RESULT", json.dumps({"where": where, "children": descendants(),
                                "tmp": sorted(n for n in os.listdir(tmp)
                                              if n.startswith("blendarray-"))}), flush=True)
    vec.close()
""")


def slow_step(scene, action):
    import time
    time.sleep(0.1 if int(action) == 0 else 60)
    return 0.0, False, False, {}


def test_ctrl_c_in_a_vector_step_leaves_no_blender_running(tmp_path):
    """Ctrl-C (SIGINT to the process group, as a terminal sends it) while a vector
    step waits on a hung worker: the step raises KeyboardInterrupt at once and every
    Blender of the env is gone while the consumer lives on (blendarray's clean-up,
    not the kernel's PR_SET_PDEATHSIG), their folders removed."""
    script = tmp_path / "loop.py"
    script.write_text(CTRL_C)
    here = os.path.join(ROOT, "tests", "python")
    env = dict(os.environ, TMPDIR=str(tmp_path), PYTHONPATH=os.pathsep.join([PACKAGE_DIR, here]))
    p = subprocess.Popen([sys.executable, str(script), here], env=env, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True, start_new_session=True)
    try:
        line = p.stdout.readline()
        assert line.startswith("RUNNING"), line + p.stderr.read()
        time.sleep(1.0)  # into the step that hangs
        t = time.monotonic()
        os.killpg(p.pid, signal.SIGINT)
        out, err = p.communicate(timeout=120)
        took = time.monotonic() - t
    finally:
        if p.poll() is None:
            os.killpg(p.pid, signal.SIGKILL)
    result = json.loads(out.split("RESULT", 1)[1])
    assert "in step" in result["where"] and "KeyboardInterrupt" in result["where"], result
    assert took < 20, took  # the hung step (60 s) was not waited for
    assert result["children"] == [], err
    assert result["tmp"] == [], err
    assert p.returncode == 0, err
