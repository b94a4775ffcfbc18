"""Deliberate bugs in blendarray.gym (issue 25: Blender as a Gymnasium
environment; python/blendarray/gym.py, the consumer; python/blendarray/blender/env.py,
inside Blender). Same format as mutants.py."""
T_GYM = "tests/python/test_gym.py"
GYM = "python/blendarray/gym.py"
ENV = "python/blendarray/blender/env.py"

GYM_MUTANTS = [
    {
        "id": "gym-worker-recycled-mid-episode",
        "promise": "an environment's worker is never replaced between steps: the scene "
                   "lives on",
        "edits": [(GYM, "                       max_worker_frames=0, max_worker_memory=0)",
                   "                       max_worker_frames=3, max_worker_memory=0)")],
        "tests": [["pytest", T_GYM, "-k", "scene_lives_on"]],
    },
    {
        "id": "gym-step-retried-on-a-fresh-worker",
        "promise": "a worker that dies in a step ends the episode, truncated: the step is not "
                   "run again on a fresh scene",
        "edits": [(GYM, "self.kw = dict(workers=1, setup=spec, ring=ring, retries=0,",
                   "self.kw = dict(workers=1, setup=spec, ring=ring, retries=1,")],
        "tests": [["pytest", T_GYM, "-k", "dies_or_hangs"]],
    },
    {
        "id": "gym-episode-seed-from-entropy",
        "promise": "the episode's rng comes from np_random, seeded by reset(seed=...)",
        "edits": [(GYM, "        seed = int(s.np_random.integers(2**63 - 1))",
                   "        seed = int(np.random.default_rng().integers(2**63 - 1))")],
        "tests": [["pytest", T_GYM, "-k", "two_processes and WORKBENCH"]],
    },
    {
        "id": "gym-asked-display-hidden",
        "promise": "render_mode='rgb_array' keeps the display image out of the observation "
                   "only when display=True was not asked for",
        "edits": [(GYM, '        self._display_only_for_render = render_mode == "rgb_array" and not settings.display',
                   '        self._display_only_for_render = render_mode == "rgb_array"')],
        "tests": [["pytest", T_GYM, "-k", "check_env"]],
    },
    {
        "id": "gym-step-rng-unseeded",
        "promise": "step's rng is the one its episode's reset seeded",
        "edits": [(ENV, "            out = _run(\"step\", fn, (scene, action, self.rng)[:max(nargs, 2)])",
                   "            out = _run(\"step\", fn, (scene, action, np.random.default_rng())"
                   "[:max(nargs, 2)])")],
        "tests": [["pytest", T_GYM, "-k", "rng_reaches_step"]],
    },
    {
        "id": "gym-vector-seeds-not-offset",
        "promise": "reset(seed=s) of a vector env seeds sub-environment i with s + i",
        "edits": [(GYM, "seeds = [None if seed is None else int(seed) + i for i in range(self.num_envs)]",
                   "seeds = [None if seed is None else int(seed) for i in range(self.num_envs)]")],
        "tests": [["pytest", T_GYM, "-k", "sync_vector_env"]],
    },
    {
        "id": "gym-vector-autoreset-same-step",
        "promise": "NEXT_STEP autoreset: an ended sub-environment is reset at the next step, "
                   "which returns its reset observation, reward 0",
        "edits": [(GYM, "        self._autoreset = terminated | truncated\n",
                   "        self._autoreset[:] = False\n")],
        "tests": [["pytest", T_GYM, "-k", "sync_vector_env"]],
    },
    {
        "id": "gym-kept-observations-never-copied",
        "promise": "when all but one ring slot are held by observations the agent keeps, the "
                   "next one is a copy (never the ring-full error)",
        "edits": [(GYM, "        if s.r.held >= s.ring - 1:", "        if False:")],
        "tests": [["pytest", T_GYM, "-k", "ring_memory"]],
    },
    {
        "id": "gym-ctrl-c-leaves-workers",
        "promise": "Ctrl-C in a vector step stops every worker of the env",
        "edits": [(GYM, "        for s in self._sessions:\n            s.stop()\n",
                   "        pass\n")],
        "tests": [["pytest", T_GYM, "-k", "ctrl_c"]],
    },
    {
        "id": "gym-step-tuple-unchecked",
        "promise": "a step function that returns the wrong tuple is a SetupError naming it",
        "edits": [(ENV, "    if not isinstance(out, tuple) or len(out) != 4:",
                   "    if not isinstance(out, tuple):")],
        "tests": [["pytest", T_GYM, "-k", "name_the_env_and_step"]],
    },
    {
        "id": "gym-action-as-float64",
        "promise": "a Box action reaches step in the space's dtype, exactly",
        "edits": [(ENV, '            v = np.array(a["array"], dtype=np.dtype(a["dtype"])).reshape(a["shape"])',
                   '            v = np.array(a["array"]).reshape(a["shape"])')],
        "tests": [["pytest", T_GYM, "-k", "exact_dtype"]],
    },
    {
        "id": "gym-died-step-not-truncated",
        "promise": "the step whose worker died returns truncated=True",
        "edits": [(GYM, '    return obs, 0.0, False, True, {"worker_error": str(e)}',
                   '    return obs, 0.0, False, False, {"worker_error": str(e)}')],
        "tests": [["pytest", T_GYM, "-k", "worker_died or dies_or_hangs"]],
    },
    {
        "id": "gym-error-keeps-the-episode",
        "promise": "after an error of the step function the episode is over: reset first",
        "edits": [(GYM, "            s.episode = False  # the scene's state is unknown: reset() again\n",
                   "")],
        "tests": [["pytest", T_GYM, "-k", "name_the_env_and_step"]],
    },
]
