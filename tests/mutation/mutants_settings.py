"""Deliberate bugs in the one definition of the render settings (issue 22:
python/blendarray/_settings.py, and where the entry points and the worker use it)."""

T_SETTINGS = "tests/python/test_settings.py"

SETTINGS_MUTANTS = [
    {
        "id": "settings-size-rounded-down",
        "promise": "the size error says how many GiB a pass would take (5.96, not 5)",
        "edits": [("python/blendarray/_settings.py", "{w * h * 16 / (1 << 30):.2f} GiB",
                   "{w * h * 16 >> 30} GiB")],
        "tests": [["pytest", T_SETTINGS, "-k", "size_error"]],
    },
    {
        "id": "settings-typo-unnamed",
        "promise": "a misspelt keyword of any entry point names the one meant",
        "edits": [("python/blendarray/_settings.py", 'f"{did_you_mean(k, [*own, *NAMES])}")',
                   'f"")')],
        "tests": [["pytest", T_SETTINGS, "-k", "misspelt"]],
    },
    {
        "id": "renderer-frame-settings-unchecked",
        "promise": "a frame's own settings get the Settings' checks",
        "edits": [("python/blendarray/_renderer.py", "_protocol.dumps(frame_params(params))",
                   "_protocol.dumps(params)")],
        "tests": [["pytest", T_SETTINGS, "-k", "each_frames_settings"]],
    },
    {
        "id": "worker-unknown-setting-untyped",
        "promise": "a client that sends an unknown setting hears its name and the close ones",
        "edits": [("python/blendarray/_settings.py", "            if name not in NAMES:\n",
                   "            if False:\n")],
        "tests": [["pytest", T_SETTINGS, "-k", "unknown_setting"]],
    },
    {
        "id": "worker-trusts-client-settings",
        "promise": "the worker checks a client's settings as the Python API does",
        "edits": [("python/blendarray/blender/worker.py",
                   'st = Settings.from_json(msg.get("settings") or {})',
                   'st = Settings.from_json({k: v for k, v in (msg.get("settings") or {}).items() '
                   'if k not in ("resolution", "engine")})')],
        "tests": [["pytest", T_SETTINGS, "-k", "refuses_what_python_refuses"]],
    },
    {
        "id": "worker-trusts-frame-params",
        "promise": "a frame's own params from any client (--params, a C program) get the Settings' checks",
        "edits": [("python/blendarray/blender/__init__.py",
                   "    s = frame_params(dict(engine=engine, samples=samples, resolution=resolution,\n",
                   "    s = (lambda p: p)(dict(engine=engine, samples=samples, resolution=resolution,\n")],
        "tests": [["pytest", T_SETTINGS, "-k", "per_frame_params_as_python"]],
    },
]
