"""Deliberate bugs in the PyTorch dataset (blendarray.torch), the Ray Data source
(blendarray.ray) and what they rest on (per-frame seeds, indices=, held frames):
each must make its tests fail. Same format as mutants.py."""

from mutants_cli import _replay

T_TORCH = "tests/python/test_torch.py"
T_RR = "tests/python/test_renderer.py"
T_RAY = "tests/python/test_ray.py"
TORCH = "python/blendarray/torch.py"

INTEGRATION_MUTANTS = [
    {
        "id": "torch-loader-workers-not-sharded",
        "promise": "frames are split without overlap across DataLoader workers",
        "edits": [(TORCH, "wid, nw = (info.id, info.num_workers) if info is not None else (0, 1)",
                   "wid, nw = (0, 1)")],
        "tests": [["pytest", T_TORCH, "-k", "whatever_the_split and 2-1"]],
    },
    {
        "id": "torch-rank-share-depends-on-workers",
        "promise": "a rank's share of the frames is what len() says, whatever num_workers",
        "edits": [(TORCH, "return order[rank::world][wid::nw]", "return order[rank * nw + wid::world * nw]")],
        "tests": [["pytest", "tests/python/test_props_torch.py", "-k", "split_the_epoch"]],
    },
    {
        "id": "cli-params-nul-hides-a-line",
        "promise": "a --params line is read whole: a NUL byte in it is an error, not a shorter line",
        "edits": [("cli/render_args.c", "json_t *j = json_loadb(line, (size_t)got, 0, &jerr);",
                   "json_t *j = json_loads(line, 0, &jerr);")],
        "tests": [["pytest", "tests/cli/test_props_frames.py", "-k", "params_file"]],
    },
    {
        "id": "torch-rank-lost-in-spawned-workers",
        "promise": "torch.distributed ranks split the frames, also with spawned loader workers",
        "edits": [(TORCH, 'state["_dist"] = self._rank_world()', 'state["_dist"] = None')],
        "tests": [["pytest", T_TORCH, "-k", "two_ranks"]],
    },
    {
        "id": "torch-epoch-ignored",
        "promise": "set_epoch(e) gives each epoch its own randomization",
        "edits": [(TORCH, 'p.setdefault("seed", [self.seed, self.epoch])',
                   'p.setdefault("seed", [self.seed, 0])')],
        "tests": [["pytest", T_TORCH, "-k", "epochs"]],
    },
    {
        "id": "worker-per-frame-seed-ignored",
        "promise": "a per-frame seed replaces the Renderer's for that frame's hook rng",
        "edits": [("python/blendarray/blender/worker.py", 'seed = params.get("seed", self.seed)',
                   "seed = self.seed")],
        "tests": [["pytest", T_RR, "-k", "per_frame_seed"]],
    },
    {
        "id": "c-per-frame-seed-unchecked",
        "promise": "a per-frame seed that numpy cannot take is refused before any frame",
        "edits": [("src/reply.c", "&& !seed_ok(seed)) {", "&& !seed_ok(seed) && 0) {")],
        "tests": [["pytest", T_RR, "-k", "per_frame_seed"]],
    },
    {
        "id": "renderer-indices-ignored",
        "promise": "Renderer.frames(indices=) renders a shard of a stream as the whole stream does",
        "edits": [("python/blendarray/_renderer.py",
                   "return self._run(zip((int(i) for i in indices), jobs, strict=True), ordered)",
                   "return self._run(enumerate(jobs), ordered)")],
        "tests": [["pytest", T_RR, "-k", "per_frame_seed"]],
    },
    {
        "id": "torch-never-copies-when-ring-full",
        "promise": "a consumer keeping more frames than the ring holds gets copies, never a stall",
        "edits": [(TORCH, "if r.held > spare:", "if False:")],
        "tests": [["pytest", T_TORCH, "-k", "share_the_ring"]],
    },
    {
        "id": "c-held-always-zero",
        "promise": "Renderer.held counts the frames handed out and still alive",
        "edits": [("src/renderer.c", "    int n = m->outstanding;\n", "    int n = 0;\n")],
        "tests": [["pytest", T_TORCH, "-k", "share_the_ring"]],
    },
    {
        "id": "torch-copies-always",
        "promise": "with num_workers=0 the tensors are the ring memory (no copy)",
        "edits": [(TORCH, "if r.held > spare:", "if True:")],
        "tests": [["pytest", T_TORCH, "-k", "share_the_ring"]],
    },
    {
        "id": "torch-blender-kept-after-iteration",
        "promise": "breaking out of the loop or Ctrl-C stops the loader process's Blenders",
        "edits": [(TORCH, "        with Renderer(self.scene, workers=workers, ring=ring, **self._render_kw) as r:\n",
                   "        r = Renderer(self.scene, workers=workers, ring=ring, **self._render_kw)\n"
                   "        globals().setdefault('_kept', []).append(r)\n"
                   "        if True:\n")],
        "tests": [["pytest", T_TORCH, "-k", "break-0 or sigint-0"]],
    },
    {
        "id": "torch-meta-stacked",
        "promise": "the default collate keeps a batch's metadata as a list of dicts",
        "edits": [(TORCH, "default_collate_fn_map[Meta] = _collate_meta", "pass")],
        "tests": [["pytest", T_TORCH, "-k", "whatever_the_split and 0-1"]],
    },
    {
        "id": "c-negative-seed-accepted",
        "promise": "the params fuzzer's check: an accepted seed is one numpy takes",
        "edits": [("src/reply.c", "if (json_is_integer(v)) return json_integer_value(v) >= 0;",
                   "if (json_is_integer(v)) return 1;")],
        "tests": [_replay("params_fuzzer")],
    },
    {
        "id": "worker-frame-settings-leak",
        "promise": "a frame's own settings apply to that frame only, not to the next ones",
        "edits": [("python/blendarray/blender/worker.py", "            self.base.restore(bpy.context.scene)\n",
                   "            pass\n")],
        "tests": [["pytest", T_RR, "-k", "apply_to_their_frame_only"]],
    },
    # -- blendarray.ray --
    {
        "id": "ray-index-off-by-one",
        "promise": "row i of read_renders is frame i, bit for bit (its index column says which)",
        "edits": [("python/blendarray/ray.py", '                index.append(f.meta["index"])\n',
                   '                index.append(f.meta["index"] + 1)\n')],
        "tests": [["pytest", T_RAY, "-k", "both_worker_nodes"]],
    },
    {
        "id": "ray-drops-a-row-per-batch",
        "promise": "every frame index appears exactly once in the dataset",
        "edits": [("python/blendarray/ray.py", '        ids = batch["id"]\n',
                   '        ids = batch["id"][1:]\n')],
        "tests": [["pytest", T_RAY, "-k", "both_worker_nodes"]],
    },
    {
        "id": "ray-node-column-is-host",
        "promise": "the node column names the Ray node that rendered the row",
        "edits": [("python/blendarray/ray.py", '"node": lambda: np.full(n, self.node)',
                   '"node": lambda: np.full(n, self.host)')],
        "tests": [["pytest", T_RAY, "-k", "both_worker_nodes"]],
    },
    {
        "id": "ray-actor-not-restarted",
        "promise": "an actor or a node lost mid-run costs only time (the dataset stays complete)",
        "edits": [("python/blendarray/ray.py",
                   "        compute=_pool(actors, max(1, min(most, len(blocks)))), num_cpus=num_cpus,",
                   "        compute=_pool(actors, max(1, min(most, len(blocks)))), max_restarts=0, "
                   "num_cpus=num_cpus,")],
        "tests": [["pytest", T_RAY, "-k", "removed_node"]],
    },
    {
        "id": "ray-actors-pinned-to-1",
        "promise": "without actors=, the actor pool fills the cluster: rows come from every worker node",
        "edits": [("python/blendarray/ray.py",
                   "    most = actors or _capacity(num_cpus, num_gpus, memory, resources)\n",
                   "    most = actors or 1\n")],
        "tests": [["pytest", T_RAY, "-k", "both_worker_nodes"]],
    },
    {
        "id": "ray-capacity-ignores-custom-resources",
        "promise": "the pool's most counts what each actor asks for, custom resources too",
        "edits": [("python/blendarray/ray.py",
                   '    ask = {"CPU": num_cpus, "GPU": num_gpus, "memory": memory, **(resources or {})}',
                   '    ask = {"CPU": num_cpus, "GPU": num_gpus, "memory": memory}')],
        "tests": [["pytest", T_RAY, "-k", "capacity_counts"]],
    },
    {
        "id": "ray-capacity-counts-dead-nodes",
        "promise": "the pool's most counts the alive nodes only",
        "edits": [("python/blendarray/ray.py", '        if node.get("Alive"):', "        if True:")],
        "tests": [["pytest", T_RAY, "-k", "capacity_counts"]],
    },
    {
        "id": "ray-actors-not-pinned",
        "promise": "actors=N pins the pool at N actors",
        "edits": [("python/blendarray/ray.py",
                   "    most = actors or _capacity(num_cpus, num_gpus, memory, resources)\n",
                   "    most = _capacity(num_cpus, num_gpus, memory, resources)\n"),
                  ("python/blendarray/ray.py", "    if actors is not None:\n        kw = dict(size=actors)",
                   "    if False:\n        kw = dict(size=actors)")],
        "tests": [["pytest", T_RAY, "-k", "write_webdataset"]],
    },
    {
        "id": "ray-recycling-not-passed-on",
        "promise": "read_renders passes max_worker_frames and max_worker_memory on to each actor's Renderer",
        "edits": [("python/blendarray/ray.py", "              blender=blender, python=python, timeout=timeout, **recycle)",
                   "              blender=blender, python=python, timeout=timeout)")],
        "tests": [["pytest", T_RAY, "-k", "recycling_arguments_reach"]],
    },
    {
        "id": "ray-memory-limit-not-passed-on",
        "promise": "read_renders passes max_worker_memory on to each actor's Renderer",
        "edits": [("python/blendarray/ray.py",
                   'max_worker_memory=_check_limit("max_worker_memory", max_worker_memory, -1))',
                   'max_worker_memory=_check_limit("max_worker_memory", None, -1))')],
        "tests": [["pytest", T_RAY, "-k", "recycling_arguments_reach"]],
    },
    {
        "id": "ray-webdataset-key-not-the-index",
        "promise": "to_webdataset_row's sample key is the index on 9 digits",
        "edits": [("python/blendarray/ray.py", """out = {"__key__": f"{int(row['index']):09d}"}""",
                   """out = {"__key__": f"{int(row['index']):06d}"}""")],
        "tests": [["pytest", T_RAY, "-k", "write_webdataset"]],
    },
    {
        "id": "ray-webdataset-arrays-not-exact",
        "promise": "the shards written from Ray hold each pass bit for bit",
        "edits": [("python/blendarray/ray.py", "            np.save(buf, a, allow_pickle=False)",
                   "            np.save(buf, a.astype(np.float16), allow_pickle=False)")],
        "tests": [["pytest", T_RAY, "-k", "write_webdataset"]],
    },
    {
        "id": "ray-webdataset-meta-as-json-string",
        "promise": "a sample's .json member is the frame's metadata (a JSON object)",
        "edits": [("python/blendarray/ray.py", '    out["json"] = json.dumps(meta).encode()',
                   '    out["json"] = json.dumps(json.dumps(meta)).encode()')],
        "tests": [["pytest", T_RAY, "-k", "write_webdataset"]],
    },
    {
        "id": "ray-webdataset-keeps-timings",
        "promise": "a sample's .json leaves out the worker and the timings, as blendarray's shard writer does",
        "edits": [("python/blendarray/ray.py", "        meta.pop(k, None)\n", "        pass\n")],
        "tests": [["pytest", T_RAY, "-k", "write_webdataset"]],
    },
    {
        "id": "ray-node-without-blender-unnamed",
        "promise": "a node without Blender is named by the error, with what to install",
        "edits": [("python/blendarray/ray.py",
                   'f"Ray node {self.node} ({self.host}, {_ip()}) has no Blender: {e}; every node "',
                   'f"has no Blender: {e}; every node "')],
        "tests": [["pytest", T_RAY, "-k", "without_blender"]],
    },
    {
        "id": "detection-boxes-as-xywh",
        "promise": "detection_target's boxes are x1, y1, x2, y2, as torchvision takes them",
        "edits": [("python/blendarray/torch.py", "[[x, y, x + w, y + h] for x, y, w, h in",
                   "[[x, y, w, h] for x, y, w, h in")],
        "tests": [["pytest", T_TORCH, "-k", "annotations_ride"]],
    },
    {
        "id": "detection-keeps-uncategorised",
        "promise": "detection_target leaves out instances without a category, as the COCO export does",
        "edits": [("python/blendarray/torch.py", 'if inst["category_id"] is not None]',
                   'if inst is not None]')],
        "tests": [["pytest", T_TORCH, "-k", "uncategorised"]],
    },
]
