"""Blender as a Gymnasium environment: turn the red cube square to the camera.

    .venv/bin/python examples/gym_cube.py          (checks the env, then plays an episode)

blendarray's demo scene, seen from above, the camera over the red cube. Each
episode starts with the cube turned by a random angle; the agent turns it by
-0.15, 0 or +0.15 rad a step (Discrete(3)) and is done when the cube sits
square in the image (within 0.08 rad of a multiple of 90 degrees). Reward: minus
the angle left, in radians, each step. The observation is the display image,
uint8 (64, 64, 4), what a CNN policy takes. reset and step run inside Blender;
the scene (the cube's angle, the step count) lives on from step to step.
"""
import math

import gymnasium as gym

from blendarray.gym import BlenderEnv, BlenderVectorEnv

TURN = 0.15  # radians a step, per action: 0 turns left, 1 stays, 2 turns right
SQUARE = 0.08  # within this of a multiple of 90 degrees: done
MAX_STEPS = 30


def off_square(angle):
    """Radians from the nearest multiple of 90 degrees (a square looks the same)."""
    quarter = math.pi / 2
    return abs((angle + quarter / 2) % quarter - quarter / 2)


def reset(scene, rng, options):
    cube = scene.objects["RedCube"]
    cube.animation_data_clear()  # the demo animates it; here the agent turns it
    cam = scene.camera
    cam.location = (cube.location.x, cube.location.y, 5.0)  # straight above the cube
    start = (options or {}).get("angle")
    cube.rotation_euler = (0.0, 0.0, float(rng.uniform(-0.75, 0.75) if start is None else start))
    scene["steps"] = 0
    return {"angle": cube.rotation_euler.z}


def step(scene, action):
    cube = scene.objects["RedCube"]
    cube.rotation_euler.z += TURN * (int(action) - 1)
    scene["steps"] += 1
    left = off_square(cube.rotation_euler.z)
    return -left, left < SQUARE, scene["steps"] >= MAX_STEPS, {"angle": cube.rotation_euler.z}


def make_env(**kw):
    """The environment (keywords: BlenderEnv's and the render settings)."""
    kw = {"engine": "WORKBENCH", "resolution": (64, 64), "passes": [], "display": True, **kw}
    return BlenderEnv(reset=reset, step=step, action_space=gym.spaces.Discrete(3), **kw)


def make_vec_env(num_envs, **kw):
    """num_envs of them stepping in parallel (a Gymnasium VectorEnv)."""
    kw = {"engine": "WORKBENCH", "resolution": (64, 64), "passes": [], "display": True, **kw}
    return BlenderVectorEnv(num_envs, reset=reset, step=step,
                            action_space=gym.spaces.Discrete(3), **kw)


# gymnasium.make("blendarray/CubeTurn-v0") and gymnasium.make_vec(..., num_envs=N,
# vectorization_mode="vector_entry_point") once this module is imported
gym.register("blendarray/CubeTurn-v0", entry_point=make_env, vector_entry_point=make_vec_env)


def main():
    from gymnasium.utils.env_checker import check_env
    with gym.make("blendarray/CubeTurn-v0", render_mode="rgb_array",
                  disable_env_checker=True) as env:
        check_env(env.unwrapped)  # Gymnasium's own checks, render modes and close included
        obs, info = env.reset(seed=0)
        print(f"observation {obs.dtype} {obs.shape}; start angle {info['angle']:+.3f} rad")
        done, steps, total = False, 0, 0.0
        while not done:  # a greedy player: turn towards the nearest square angle
            a = info["angle"]
            quarter = math.pi / 2
            action = 1 if off_square(a) < SQUARE else (0 if (a % quarter) < quarter / 2 else 2)
            obs, reward, terminated, truncated, info = env.step(action)
            steps, total, done = steps + 1, total + reward, terminated or truncated
        print(f"episode over after {steps} steps: return {total:.3f}, "
              f"{'square' if terminated else 'out of time'} at {info['angle']:+.3f} rad")


if __name__ == "__main__":
    main()
