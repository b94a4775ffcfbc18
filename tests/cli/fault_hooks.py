"""Setup hooks for the CLI's fault tests (they run inside Blender, before each frame).

Each leaves its trace in the folder $BA_TEST_DIR, so that a test can assert that
the fault it asked for really happened (and how many times). None changes the
scene: a frame renders as it would without the hook.
"""
import os
import signal
import time


def _path(name):
    return os.path.join(os.environ["BA_TEST_DIR"], name)


def _first(name):
    """True for the first caller only, in any process (an O_EXCL marker file)."""
    try:
        os.close(os.open(_path(name), os.O_CREAT | os.O_EXCL | os.O_WRONLY))
    except FileExistsError:
        return False
    return True


def kill_once_on_two(scene, index, rng):
    """The first Blender to set up index 2 is killed (as a crash would); its retry renders."""
    if index == 2 and _first("killed-2"):
        os.kill(os.getpid(), signal.SIGKILL)
    return {}


def kill_always_on_one(scene, index, rng):
    """Every attempt at index 1 leaves attempt-1-<pid>, then is killed."""
    if index == 1:
        open(_path(f"attempt-1-{os.getpid()}"), "w").close()
        os.kill(os.getpid(), signal.SIGKILL)
    return {}


def hang_once_on_one(scene, index, rng):
    """The first attempt at index 1 never finishes: the consumer's --timeout must stop it."""
    if index == 1 and _first("hung-1"):
        time.sleep(3600)
    return {}


def wait_on_two(scene, index, rng):
    """Index 2 waits (at most 60 s) for the file 'go': the test looks at the running CLI."""
    if index == 2:
        _first("waiting-2")
        deadline = time.time() + 60
        while not os.path.exists(_path("go")) and time.time() < deadline:
            time.sleep(0.02)
    return {}


def raise_on_three(scene, index, rng):
    """Index 3's hook raises, as a user's bug would."""
    if index == 3:
        raise ValueError(f"no good value for frame {scene.frame_current}")
    return {}
