#!/usr/bin/env python3
"""A fake worker, started by the consumer as if it were a Blender binary
(blender="tests/python/rogue_worker.py"; the Blender arguments it gets are
ignored): it speaks the control channel with blendarray's own transport
(ctypes, no NumPy), renders nothing, and behaves as $ROGUE says.

Broken or hostile workers:

  version    answers init with a protocol version nobody knows
  malformed  answers init correctly, then answers a render with bytes that are not JSON
  outside    answers a render with an array lying past the end of its ring slot
  nostart    exits (status 1) at once, every time: a worker that cannot start

Well-behaved ones (tests/c/test_renderer.c), "good" and its variants: every
frame is one float32 array "rgba" of shape [4, 4, 4] filled with the request's
index, meta {"frame": params.frame or 1, "user": the request's user keys}; the
first frame (no ring yet) comes in a sealed memfd, later ones in the ring slot
the request names.

  good       as above
  hookerror  index 0 fails as a setup hook would (SetupError "boom"); others as good
  die        exits (status 1) when asked for index 2 the first time, that is while
             the file $ROGUE_MARKER does not exist (it creates it); otherwise as good
  badslot    as good, but index 3's array (in a ring slot) starts past the slot's end
             the first time, that is while $ROGUE_MARKER does not exist (it creates it)
  labels     as good, plus a uint8 "display" array [4, 4, 4] (255 everywhere) and
             meta["annotations"] = the JSON text of $ROGUE_LABELS, whatever it is
  plan       as good, each index as the JSON file $ROGUE_PLAN says (read at each render
             and init; keys are indices as strings, tests/python/test_props_scheduling.py):
               "delay": {"i": s or [s0, s1, ...]}  seconds before answering index i, per
                        attempt (the last one repeats); $ROGUE_DELAY is not used
               "die":   {"i": n}  exits (status 1) on the first n requests for index i
               "die_init": n  the first n inits (of all workers) exit before replying
               "fail":  {"i": n}  the first n requests for index i fail as a setup hook
                        would (SetupError "boom i")
             Requests are counted across processes and restarts with files named
             $ROGUE_PLAN.asked-<i>-<n> (created exclusively, one per request); each
             render appends {"ev": "start" | "end", "index", "attempt", "pid", "t":
             time.monotonic()} as a JSON line to $ROGUE_PLAN.log.

$ROGUE_DELAY (seconds, default 0): how long each good-family render takes.
$ROGUE_SIZE (bytes, default the arrays' 256): the size a frame in its own memfd
states (and has), which a first frame makes the ring's slot size.
$ROGUE_MEMORY ("BASE,STEP", bytes): each good-family reply reports "memory" BASE +
STEP x the frames this process has rendered (a steady leak), and meta "pid".

It checks nothing about Blender: it stands for a worker that is broken or hostile,
or for a quick Blender in the consumer's own tests.
"""
import ctypes
import fcntl
import json
import os
import struct
import sys
import time

if os.environ.get("ROGUE") == "nostart":
    print("rogue worker: cannot start", file=sys.stderr, flush=True)
    sys.exit(1)
sys.path.insert(0, os.environ["ROGUE_PYTHONPATH"])
from blendarray import _lib  # noqa: E402

fd = int(os.environ["BLENDARRAY_FD"])
mode = os.environ.get("ROGUE", "version")
GOOD = ("good", "hookerror", "die", "badslot", "labels", "plan")
ring = None


def send(obj, fds=()):
    _lib.msg_send(fd, json.dumps(obj).encode(), fds)


def sealed_memfd(data, size):
    """A memfd of `size` bytes starting with `data`, sealed against resizing."""
    mem = os.memfd_create("rogue", os.MFD_CLOEXEC | os.MFD_ALLOW_SEALING)
    os.ftruncate(mem, size)
    os.pwrite(mem, data, 0)
    fcntl.fcntl(mem, fcntl.F_ADD_SEALS, fcntl.F_SEAL_SHRINK | fcntl.F_SEAL_GROW)
    return mem


def log_event(plan_file, ev, index, attempt):
    line = json.dumps({"ev": ev, "index": index, "attempt": attempt, "pid": os.getpid(),
                       "t": time.monotonic()}) + "\n"
    with open(plan_file + ".log", "a") as f:  # one write, O_APPEND: lines never mix
        f.write(line)


def follow_plan(index):
    """Mode "plan": count this request, log it, die or wait as $ROGUE_PLAN says;
    True when the request is to fail."""
    plan_file = os.environ["ROGUE_PLAN"]
    with open(plan_file) as f:
        plan = json.load(f)
    attempt = 0
    while True:  # the first free number is this request's (0-based)
        try:
            os.close(os.open(f"{plan_file}.asked-{index}-{attempt}",
                             os.O_CREAT | os.O_EXCL | os.O_WRONLY))
            break
        except FileExistsError:
            attempt += 1
    log_event(plan_file, "start", index, attempt)
    if attempt < int(plan.get("die", {}).get(str(index), 0)):
        print(f"rogue worker: dying on index {index}", file=sys.stderr, flush=True)
        os._exit(1)
    delay = plan.get("delay", {}).get(str(index), 0)
    if isinstance(delay, list):
        delay = delay[min(attempt, len(delay) - 1)]
    time.sleep(float(delay))
    log_event(plan_file, "end", index, attempt)
    return attempt < int(plan.get("fail", {}).get(str(index), 0))


def starting():
    """Mode "plan": the first `die_init` inits (of all workers, restarts included) die
    before they reply."""
    plan_file = os.environ["ROGUE_PLAN"]
    with open(plan_file) as f:
        plan = json.load(f)
    attempt = 0
    while True:
        try:
            os.close(os.open(f"{plan_file}.init-{attempt}", os.O_CREAT | os.O_EXCL | os.O_WRONLY))
            break
        except FileExistsError:
            attempt += 1
    log_event(plan_file, "init", -1, attempt)
    if attempt < int(plan.get("die_init", 0)):
        print("rogue worker: dying while starting", file=sys.stderr, flush=True)
        os._exit(1)


def render_good(msg):
    index = msg["index"]
    if mode == "die" and index == 2 and not os.path.exists(os.environ["ROGUE_MARKER"]):
        open(os.environ["ROGUE_MARKER"], "w").close()
        print("rogue worker: dying on index 2", file=sys.stderr, flush=True)
        os._exit(1)
    if mode == "plan":
        if follow_plan(index):
            send({"ok": False, "job": msg["job"],
                  "error": {"type": "SetupError", "message": f"boom {index}"}})
            return
    else:
        time.sleep(float(os.environ.get("ROGUE_DELAY", "0")))
    if mode == "hookerror" and index == 0:
        send({"ok": False, "job": msg["job"],
              "error": {"type": "SetupError", "message": "boom"}})
        return
    data = struct.pack("<64f", *([float(index)] * 64))
    arrays = [{"name": "rgba", "dtype": "<f4", "shape": [4, 4, 4], "offset": 0,
               "nbytes": len(data)}]
    reply = {"ok": True, "job": msg["job"],
             "meta": {"frame": (msg.get("params") or {}).get("frame", 1),
                      "user": msg.get("user") or {}}}
    if os.environ.get("ROGUE_MEMORY"):
        base, step = map(int, os.environ["ROGUE_MEMORY"].split(","))
        RENDERED.append(index)
        reply["memory"] = base + step * len(RENDERED)
        reply["meta"]["pid"] = os.getpid()
    if mode == "labels":
        arrays.append({"name": "display", "dtype": "|u1", "shape": [4, 4, 4],
                       "offset": len(data), "nbytes": 64})
        data += b"\xff" * 64
        reply["meta"]["annotations"] = json.loads(os.environ["ROGUE_LABELS"])
    slot = msg.get("slot")
    if slot is None or ring is None:
        size = int(os.environ.get("ROGUE_SIZE", len(data)))
        mem = sealed_memfd(data, size)
        reply["parts"] = [{"slot": None, "size": size, "arrays": arrays}]
        send(reply, [mem])
        os.close(mem)
    else:
        ctypes.memmove(ring.slot(slot), data, len(data))
        if mode == "badslot" and index == 3 and not os.path.exists(os.environ["ROGUE_MARKER"]):
            open(os.environ["ROGUE_MARKER"], "w").close()
            arrays[0]["offset"] = ring.slot_size
        reply["parts"] = [{"slot": slot, "size": ring.slot_size, "arrays": arrays}]
        send(reply)


RENDERED = []  # the indices this process rendered ($ROGUE_MEMORY)
while True:
    got = _lib.msg_recv(fd)
    if got is None:
        sys.exit(0)
    msg = json.loads(got[0])
    extras = got[1]
    if msg["op"] == "quit":
        sys.exit(0)
    if msg["op"] == "init":
        if mode == "plan":
            starting()
        send({"ok": True, "protocol": 99 if mode == "version" else msg["protocol"],
              "blender_version": "rogue"})
    elif msg["op"] == "ring":
        if mode in GOOD:
            if ring is not None:
                ring.close()
            ring = _lib.Ring.attach(extras[0])
        send({"ok": True})
    elif msg["op"] == "render":
        if mode in GOOD:
            render_good(msg)
        elif mode == "malformed":
            _lib.msg_send(fd, b"\x00not json{")
        else:  # "outside": a sealed 4 KiB memfd said to hold a 4 GiB array
            mem = sealed_memfd(b"", 4096)
            reply = {"ok": True, "job": msg["job"], "meta": {"frame": 1},
                     "parts": [{"slot": None, "size": 4096,
                                "arrays": [{"name": "rgba", "dtype": "<f4",
                                            "shape": [16384, 16384, 4], "offset": 0,
                                            "nbytes": 1 << 32}]}]}
            _lib.msg_send(fd, json.dumps(reply).encode(), [mem])
            os.close(mem)
    for extra in extras:
        os.close(extra)
