/* render_args.c — the command line of `blendarray render`: one table of
 * options, parsed into render_args (render.h), and the frames it asks for.
 * Render settings go into the JSON object the workers read ("settings",
 * docs/protocol.md), the one the Python API's blendarray.Settings writes and
 * the worker checks with the same code: the command has every setting the
 * Python API has, with the same messages. Here only their form is checked (a
 * number in range, WxH, on|off), for a message before any Blender starts. */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "render.h"

static const char HELP[] =
    "usage: blendarray render [SCENE.blend] [options] -o OUTPUT\n"
    "       blendarray render [SCENE.blend] [options] --coco DIR [-o OUTPUT]\n"
    "       blendarray render [SCENE.blend] [options] --shards DIR [--coco] [--resume]\n"
    "\n"
    "Render frames with Blender workers and write every pass as arrays.\n"
    "Without SCENE, the built-in demo scene is rendered.\n"
    "\n"
    "output (-o):\n"
    "  -o out.npz            one array per pass with a leading frame axis (N, H, W[, C])\n"
    "  -o frames/            one .npy per frame and pass: frames/rgba_0001.npy ..., named\n"
    "                        by scene frame number (by index 0000, 0001, ... with --count\n"
    "                        or a frame list that repeats a number), and meta_0001.json\n"
    "  -o stack/ --stack     one (N, H, W[, C]) .npy per pass, written as frames arrive\n"
    "                        (memory stays bounded; np.load(..., mmap_mode='r') opens it)\n"
    "  -o -                  a stream of NPY arrays on stdout, frame after frame in order:\n"
    "                        first a uint8 array (n,) holding the frame's metadata (JSON\n"
    "                        text, UTF-8; its \"pass_order\" lists the names of the arrays\n"
    "                        that follow), then one array per pass in the order of --passes\n"
    "                        (all passes: Blender's order), then display. In Python,\n"
    "                        blendarray.read_stream(sys.stdin.buffer) yields each frame as\n"
    "                        a blendarray.Frame (pass name -> array, and .meta), reading a\n"
    "                        pipe strictly forwards (np.load seeks: it cannot read a pipe)\n"
    "  Any other -o (a.txt, out) is refused: a folder needs a trailing / unless it exists.\n"
    "\n"
    "datasets (docs/datasets.md):\n"
    "  --shards DIR          WebDataset shards, for long runs: DIR/shard-000000.tar ...,\n"
    "                        each sample <index>.<pass>.npy, <index>.display.png and\n"
    "                        <index>.json (its metadata); a shard is written under a\n"
    "                        temporary name and listed in DIR/shards.jsonl when complete\n"
    "  --shard-size N        samples per shard (default 1000)\n"
    "  --shard-bytes SIZE    also close a shard once it holds SIZE bytes (e.g. 1G)\n"
    "  --coco                with --shards: a COCO file beside each shard\n"
    "                        (shard-000000.coco.json; its images are the shard's PNGs)\n"
    "  --resume              go on with DIR's dataset after a crash, Ctrl-C or kill:\n"
    "                        render only the indices no complete shard holds; the\n"
    "                        result equals an uninterrupted run, byte for byte. Refused\n"
    "                        (saying what differs) when scene, settings, hook, seed or\n"
    "                        frames are not those the dataset was made with\n"
    "\n"
    "labels (docs/labels.md):\n"
    "  --annotations         each frame's labels in its metadata (meta.json): instances\n"
    "                        with names, categories, boxes, areas, COCO RLE masks,\n"
    "                        poses; also captures cryptomatte_object_00 (Cycles, EEVEE)\n"
    "  --coco DIR            a COCO dataset: DIR/images/000000.png ... (the display image,\n"
    "                        named by frame index) and DIR/annotations.json (instances\n"
    "                        from Cryptomatte: masks as RLE, boxes, areas, the 8 box\n"
    "                        corners as keypoints; categories from each object's\n"
    "                        category_id property or pass_index; objects with neither\n"
    "                        are left out, with a note). Alone or with -o (the arrays\n"
    "                        then include display and the Cryptomatte passes, meta.json\n"
    "                        the labels). DIR must be new or empty (--force replaces\n"
    "                        it); it is filled beside it and renamed into place at the\n"
    "                        end. Cycles or EEVEE (Workbench renders no Cryptomatte)\n"
    "\n"
    "metadata: every output holds each frame's metadata, as blendarray's frame.meta: frame\n"
    "number, resolution, engine, samples, camera, K, world_to_camera, camera_to_world, clip,\n"
    "per-pass descriptions (\"passes\"), index, worker, and what --setup's hook returned.\n"
    "  out.npz               member meta.json: a JSON list, one object per frame in order\n"
    "                        (np.load('out.npz')['meta.json'] gives its bytes: json.loads)\n"
    "  frames/               meta_0001.json beside rgba_0001.npy: one object per frame\n"
    "  stack/ --stack        meta.json: a JSON list, one object per frame, written at the end\n"
    "  -                     the record before each frame's arrays (above)\n"
    "\n"
    "what to render:\n"
    "  -f, --frames LIST     frame numbers: 1-250, 1,5,9, 1-100:10 or a mix (1-3,7)\n"
    "                        (default: the scene's current frame)\n"
    "  -n, --count N         render the scene as it is N times (with --setup: N variations)\n"
    "  -p, --passes LIST     comma-separated: rgba,depth,normal,object_index,... (default: all)\n"
    "  -e, --engine NAME     cycles, eevee or workbench (default: the scene's)\n"
    "  -s, --samples N       render samples\n"
    "      --size WxH        resolution, e.g. 640x480\n"
    "      --display [blender]  also the colour-managed image, uint8 (H, W, 4): the bytes\n"
    "                        of Blender's own PNG, made from rgba with Blender's\n"
    "                        OpenColorIO where exact, else by Blender (meta:\n"
    "                        display_route); --display blender: always by Blender\n"
    "      --depth-background V  what depth holds where no geometry was seen: inf, nan\n"
    "                        or a number (default: the engine's own marker, 1e10,\n"
    "                        65504 or about clip_end)\n"
    "      --dtype TYPE      float32 (default) or float16 for float passes\n"
    "      --denoise on|off  Cycles denoising (default: the scene's)\n"
    "      --setup FILE[:FN] a Python function (scene, index, rng[, params]) run in\n"
    "                        Blender before each frame: FILE.py[:FN] (default function\n"
    "                        name: setup) or MODULE:FN (imported by Blender)\n"
    "      --params FILE     per-frame params, one JSON object per line, one frame each\n"
    "                        (\"frame\", \"engine\", \"samples\", \"resolution\": [w, h],\n"
    "                        \"denoise\", \"threads\", and your own keys for the hook)\n"
    "      --seed N          the setup hook's rng is numpy.random.default_rng([seed, index])\n"
    "\n"
    "workers:\n"
    "  -w, --workers N       Blender processes (default 1)\n"
    "      --threads N       render threads per worker\n"
    "      --blender PATH    a Blender binary, or 'bpy' for a Python with the bpy module\n"
    "                        (default: $BLENDARRAY_BLENDER, else blender on PATH)\n"
    "      --python PATH     with --blender bpy: the Python that has bpy (default:\n"
    "                        $BLENDARRAY_PYTHON, else the python3 beside this\n"
    "                        program (a venv's), else python3 on PATH); bpy is\n"
    "                        also the default when no blender is on PATH\n"
    "      --ring N          shared-memory slots per worker (default: as many as fit\n"
    "                        in 64 MiB, 4 to 16, by the frame's size)\n"
    "      --retries N       re-renders of a frame whose worker died (default 1)\n"
    "      --timeout SEC     stop a worker that takes longer for a frame (and retry it)\n"
    "      --max-worker-frames N   replace a worker by a fresh Blender after N frames\n"
    "                        (what a leaking --setup hook keeps goes with it)\n"
    "      --max-worker-memory SIZE  replace a worker whose memory passed SIZE after a\n"
    "                        frame (e.g. 4G; 0: never; default: half the machine's\n"
    "                        memory shared by the workers)\n"
    "\n"
    "  -z, --compress        deflate the .npz (like numpy.savez_compressed)\n"
    "      --force           overwrite existing outputs\n"
    "  -q, --quiet           no progress; -v, --verbose  Blender's own output on stderr\n"
    "\n"
    "examples:\n"
    "  blendarray render scene.blend --frames 1-250 --passes rgba,depth,object_index \\\n"
    "      --engine cycles --samples 16 --size 640x480 --workers 2 -o out.npz\n"
    "  blendarray render scene.blend -f 1,5,9 -o frames/\n"
    "  blendarray render scene.blend -f 1-100 -o stack/ --stack\n"
    "  blendarray render scene.blend -f 1-3 -o - | python -c 'import blendarray as ba, sys; "
    "[print(f.meta[\"frame\"], {k: a.shape for k, a in f.items()}) "
    "for f in ba.read_stream(sys.stdin.buffer)]'\n"
    "  blendarray render scene.blend -n 1000 --setup randomize.py --seed 7 -o data.npz\n"
    "  blendarray render scene.blend -f 1-100 -e cycles --coco coco/\n"
    "  blendarray render scene.blend -n 100000 --setup randomize.py --shards data/ \\\n"
    "      --shard-size 1000 --coco -e cycles    (again with --resume after a crash)\n"
    "\n"
    "Every file is written under a temporary name and renamed when complete: an interrupted\n"
    "(Ctrl-C) or failed run leaves no partial file. An .npz or --stack output is complete or\n"
    "absent (an earlier complete file stays); a folder of .npy keeps the frames it completed\n"
    "(each frame's arrays and meta_NNNN.json; the message says how many); a stream ends\n"
    "after its last complete frame; a --coco folder is complete or absent; a --shards\n"
    "folder keeps its complete shards (--resume finishes it).\n"
    "Exit status: 0 success, 1 failure, 2 bad usage, 130 interrupted.\n";

enum kind {
    K_FLAG,     /* int field = 1 */
    K_INT,      /* long long field, lo..hi */
    K_SECONDS,  /* double field > 0 */
    K_STR,      /* const char * field */
    K_DTYPE,    /* --dtype float32|float16: f16 */
    S_INT,      /* settings[key] = integer lo..hi */
    S_STR,      /* settings[key] = string */
    S_LIST,     /* settings[key] = [comma-separated strings] */
    S_SIZE,     /* settings[key] = [w, h] from WxH */
    S_ONOFF,    /* settings[key] = true|false from on|off */
    S_TRUE,     /* settings[key] = true */
    S_DISPLAY,  /* settings[key] = true, or "blender" (--display blender) */
    S_NUMBER,   /* settings[key] = the number as text ("inf", "nan", "0.5": JSON has no inf) */
    K_BYTES,    /* long long field: bytes, 4096, 64K, 1.5G (powers of 1024), lo..hi; "auto":
                   -1 where lo is -1 */
    K_COCO,     /* --coco DIR, or --coco alone (with --shards: a COCO file per shard) */
};

typedef struct opt {
    const char *name;
    int letter;         /* the short option, or 0 */
    enum kind kind;
    const char *key;    /* S_*: the setting */
    size_t field;       /* K_*: offsetof(render_args, ...) */
    long long lo, hi;   /* K_INT, S_INT */
} opt;

#define F(m) offsetof(render_args, m)
static const opt OPTS[] = {
    {"frames", 'f', K_STR, NULL, F(frames), 0, 0},
    {"count", 'n', K_INT, NULL, F(count), 1, MAX_FRAMES},
    {"params", 0, K_STR, NULL, F(params), 0, 0},
    {"passes", 'p', S_LIST, "passes", 0, 0, 0},
    {"engine", 'e', S_STR, "engine", 0, 0, 0},
    {"samples", 's', S_INT, "samples", 0, 1, 1 << 24},
    {"size", 0, S_SIZE, "resolution", 0, 0, 0},
    {"display", 0, S_DISPLAY, "display", 0, 0, 0},
    {"depth-background", 0, S_NUMBER, "depth_background", 0, 0, 0},
    {"annotations", 0, S_TRUE, "annotations", 0, 0, 0},
    {"denoise", 0, S_ONOFF, "denoise", 0, 0, 0},
    {"threads", 0, S_INT, "threads", 0, 1, 1024},
    {"dtype", 0, K_DTYPE, NULL, 0, 0, 0},
    {"setup", 0, K_STR, NULL, F(setup), 0, 0},
    {"seed", 0, K_INT, NULL, F(seed), 0, LLONG_MAX},
    {"workers", 'w', K_INT, NULL, F(workers), 1, 256},
    {"blender", 0, K_STR, NULL, F(blender), 0, 0},
    {"python", 0, K_STR, NULL, F(python), 0, 0},
    {"ring", 0, K_INT, NULL, F(ring), 1, 1024},
    {"retries", 0, K_INT, NULL, F(retries), 0, 100},
    {"timeout", 0, K_SECONDS, NULL, F(timeout), 0, 0},
    {"max-worker-frames", 0, K_INT, NULL, F(max_worker_frames), 0, LLONG_MAX},
    {"max-worker-memory", 0, K_BYTES, NULL, F(max_worker_memory), -1, LLONG_MAX},
    {"output", 'o', K_STR, NULL, F(output), 0, 0},
    {"stack", 0, K_FLAG, NULL, F(stack), 0, 0},
    {"compress", 'z', K_FLAG, NULL, F(compress), 0, 0},
    {"coco", 0, K_COCO, NULL, F(coco), 0, 0},
    {"shards", 0, K_STR, NULL, F(shards), 0, 0},
    {"shard-size", 0, K_INT, NULL, F(shard_size), 1, INT32_MAX},
    {"shard-bytes", 0, K_BYTES, NULL, F(shard_bytes), 1, LLONG_MAX},
    {"resume", 0, K_FLAG, NULL, F(resume), 0, 0},
    {"force", 0, K_FLAG, NULL, F(force), 0, 0},
    {"quiet", 'q', K_FLAG, NULL, F(quiet), 0, 0},
    {"verbose", 'v', K_FLAG, NULL, F(verbose), 0, 0},
};
#undef F
#define NOPTS (sizeof OPTS / sizeof *OPTS)

/* The edit distance of two short words (Levenshtein), case-insensitive. */
static size_t distance(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b), row[64];
    if (la >= 64 || lb >= 64) return SIZE_MAX;
    for (size_t j = 0; j <= lb; j++) row[j] = j;
    for (size_t i = 1; i <= la; i++) {
        size_t diag = row[0];
        row[0] = i;
        for (size_t j = 1; j <= lb; j++) {
            size_t best = diag + (tolower((unsigned char)a[i - 1]) !=
                                  tolower((unsigned char)b[j - 1]));
            if (row[j] + 1 < best) best = row[j] + 1;
            if (row[j - 1] + 1 < best) best = row[j - 1] + 1;
            diag = row[j];
            row[j] = best;
        }
    }
    return row[lb];
}

/* The word of `words` (NULL-terminated) that `word` is a typo of, or NULL:
 * within a third of its letters. */
static const char *closest(const char *word, const char *const *words)
{
    const char *best = NULL;
    size_t d = SIZE_MAX;
    for (; *words; words++) {
        size_t e = distance(word, *words);
        if (e < d) {
            d = e;
            best = *words;
        }
    }
    return best && d > 0 && d <= (strlen(word) + 2) / 3 ? best : NULL;
}

/* An option getopt does not know, or one without its value: 2, said. */
static int unknown_option(const char *arg, int letter)
{
    const char *names[NOPTS + 2];
    for (size_t i = 0; i < NOPTS; i++) names[i] = OPTS[i].name;
    names[NOPTS] = "help";
    names[NOPTS + 1] = NULL;
    char word[64];
    snprintf(word, sizeof word, "%.*s", (int)strcspn(arg + 2, "="), arg + 2);
    const char *near = strncmp(arg, "--", 2) == 0 ? closest(word, names) : NULL;
    int known = letter >= 256; /* a known option that wants a value and got none */
    for (size_t i = 0; i < NOPTS; i++)
        known |= (letter && OPTS[i].letter == letter) ||
                 (!letter && strncmp(arg, "--", 2) == 0 && strcmp(word, OPTS[i].name) == 0);
    if (known)
        cli_fail("option %s wants a value (see: blendarray render --help)", arg);
    else if (near)
        cli_fail("unknown option %s; did you mean --%s? (see: blendarray render --help)", arg,
                 near);
    else
        cli_fail("unknown option %s (see: blendarray render --help)", arg);
    return 2;
}

/* "--name" of an option, for messages */
static int bad_value(const opt *o, const char *why, const char *value)
{
    cli_fail("--%s wants %s, not '%s'", o->name, why, value);
    return 2;
}

static int set(json_t *settings, const char *key, json_t *v)
{
    if (!v || json_object_set_new(settings, key, v) != 0) {
        cli_fail("out of memory");
        return 1;
    }
    return 0;
}

/* One option's value into a or a->settings: 0, or 2 (bad usage, said). */
static int take(const opt *o, const char *v, render_args *a)
{
    char *base = (char *)a, *end;
    long long n;
    double x;
    switch (o->kind) {
    case K_FLAG: *(int *)(base + o->field) = 1; return 0;
    case K_STR: *(const char **)(base + o->field) = v; return 0;
    case K_INT:
    case S_INT: {
        if (ba_internal_parse_int(v, o->lo, o->hi, &n) != BA_OK) {
            char why[96];
            if (o->hi == LLONG_MAX) snprintf(why, sizeof why, "an integer >= %lld", o->lo);
            else snprintf(why, sizeof why, "an integer %lld..%lld", o->lo, o->hi);
            return bad_value(o, why, v);
        }
        if (o->kind == K_INT) *(long long *)(base + o->field) = n;
        return o->kind == S_INT && set(a->settings, o->key, json_integer(n)) ? 2 : 0;
    }
    case K_SECONDS:
        x = strtod(v, &end);
        if (end == v || *end || !(x > 0) || !isfinite(x)) return bad_value(o, "seconds > 0", v);
        *(double *)(base + o->field) = x;
        return 0;
    case K_DTYPE:
        if (strcmp(v, "float16") != 0 && strcmp(v, "float32") != 0)
            return bad_value(o, "float32 or float16", v);
        a->f16 = strcmp(v, "float16") == 0;
        return 0;
    case S_STR: return set(a->settings, o->key, json_string(v)) ? 2 : 0;
    case S_LIST: {
        json_t *list = json_array();
        const char *p = v;
        while (list && *p) {
            size_t len = strcspn(p, ",");
            if (len && json_array_append_new(list, json_stringn(p, len)) != 0) {
                json_decref(list);
                list = NULL;
            }
            p += len + (p[len] == ',');
        }
        return set(a->settings, o->key, list) ? 2 : 0;
    }
    case S_SIZE: {
        int w, h;
        char x_, tail;
        if (sscanf(v, "%d%c%d%c", &w, &x_, &h, &tail) != 3 || (x_ != 'x' && x_ != 'X') ||
            w < 1 || h < 1 || w > 65536 || h > 65536)
            return bad_value(o, "WIDTHxHEIGHT, each 1..65536, e.g. 640x480", v);
        return set(a->settings, o->key, json_pack("[i,i]", w, h)) ? 2 : 0;
    }
    case S_ONOFF:
        if (strcmp(v, "on") != 0 && strcmp(v, "off") != 0) return bad_value(o, "on or off", v);
        return set(a->settings, o->key, json_boolean(strcmp(v, "on") == 0)) ? 2 : 0;
    case S_TRUE: return set(a->settings, o->key, json_true()) ? 2 : 0;
    case S_DISPLAY:
        if (v && strcmp(v, "blender") != 0)
            return bad_value(o, "nothing, or 'blender' (Blender's own route, always)", v);
        return set(a->settings, o->key, v ? json_string(v) : json_true()) ? 2 : 0;
    case K_BYTES: {
        long long lo = o->lo;
        if (lo == -1 && strcmp(v, "auto") == 0) {
            *(long long *)(base + o->field) = -1;
            return 0;
        }
        x = strtod(v, &end);
        double unit = 1;
        const char *units = "KMGT";
        const char *u = *end ? strchr(units, toupper((unsigned char)*end)) : NULL;
        if (u) {
            for (const char *k = units; k <= u; k++) unit *= 1024;
            end++;
            if (*end == 'i' || *end == 'I') end++; /* 4GiB */
            if (*end == 'b' || *end == 'B') end++;
        }
        x *= unit;
        if (end == v || *end || !isfinite(x) || x < (lo < 0 ? 0 : lo) || x > 9.2e18 ||
            (*v == '-'))
            return bad_value(o, lo == -1 ? "a size in bytes, e.g. 4G, 512M or 0 (none), or auto"
                                         : "a size in bytes >= 1, e.g. 1G or 512M", v);
        *(long long *)(base + o->field) = (long long)x;
        return 0;
    }
    case K_COCO:
        if (v) a->coco = v;
        else a->coco_flag = 1;
        return 0;
    case S_NUMBER: {
        x = strtod(v, &end);
        if (end == v || *end) return bad_value(o, "a number, inf or nan", v);
        char text[64];
        snprintf(text, sizeof text, "%.17g", x); /* Python's float() reads it back */
        return set(a->settings, o->key, json_string(text)) ? 2 : 0;
    }
    }
    return 2;
}

/* The settings' engine is Workbench (which renders no Cryptomatte). */
static int workbench(const render_args *a)
{
    const char *e = json_string_value(json_object_get(a->settings, "engine"));
    return e && (strcasecmp(e, "workbench") == 0 || strcasecmp(e, "blender_workbench") == 0);
}

/* A .blend at all (a newer Blender's too: the worker names the version), for a
 * message before any Blender starts. */
static int check_scene(const char *scene)
{
    struct stat st;
    if (stat(scene, &st) != 0) return cli_fail("scene %s: %s", scene, strerror(errno));
    if (S_ISDIR(st.st_mode)) return cli_fail("scene %s is a directory, not a .blend file", scene);
    int fd = open(scene, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return cli_fail("scene %s: %s", scene, strerror(errno));
    int major, minor, err = ba_blend_version_fd(fd, &major, &minor);
    int e = errno;
    close(fd);
    if (err == BA_EIO) return cli_fail("scene %s: %s", scene, strerror(e));
    if (err == BA_EFORMAT) return cli_fail("%s is not a .blend file", scene);
    return 0;
}

/* What the options say together: 0, 1 or 2 (bad usage) after a message. */
static int check_args(render_args *a)
{
    if (a->shards) {
        const char *clash = a->output ? "-o" : a->coco ? "--coco DIR" : a->stack ? "--stack"
                          : a->force ? "--force" : a->compress ? "--compress" : NULL;
        if (clash) {
            cli_fail("--shards DIR is the run's output: %s does not go with it%s", clash,
                     a->coco ? " (--coco alone adds a COCO file per shard)"
                     : a->force ? " (a shard folder is never overwritten: --resume goes on "
                                  "with it, or choose another folder)" : "");
            return 2;
        }
        if (!*a->shards) {
            cli_fail("--shards wants a folder name");
            return 2;
        }
        if (!a->shard_size) a->shard_size = 1000;
    } else {
        const char *lone = a->resume ? "--resume" : a->shard_size ? "--shard-size"
                         : a->shard_bytes ? "--shard-bytes" : NULL;
        if (lone) {
            cli_fail("%s goes with --shards DIR", lone);
            return 2;
        }
        if (a->coco_flag) {
            cli_fail("--coco wants a folder (--coco DIR), or goes with --shards DIR (a COCO file "
                     "per shard)");
            return 2;
        }
    }
    if (!a->output && !a->coco && !a->shards) {
        cli_fail("no output: give -o out.npz, -o folder/, -o -, --coco DIR or --shards DIR "
                 "(see --help)");
        return 2;
    }
    if (!!a->frames + !!a->count + !!a->params > 1) {
        cli_fail("give one of --frames, --count and --params");
        return 2;
    }
    if (json_is_true(json_object_get(a->settings, "annotations")) && workbench(a))
        return cli_fail("--annotations come from Cryptomatte, which Workbench does not render: "
                        "use -e cycles or -e eevee");
    if (a->coco || a->coco_flag) {
        if (a->coco && !*a->coco) {
            cli_fail("--coco wants a folder name");
            return 2;
        }
        if (workbench(a))
            return cli_fail("--coco needs Cryptomatte, which Workbench does not render: "
                            "use -e cycles or -e eevee");
        /* its images are the display images, its labels the annotations */
        if (set(a->settings, "annotations", json_true()) ||
            (!json_object_get(a->settings, "display") &&
             set(a->settings, "display", json_true())))
            return 1;
    }
    return a->scene ? check_scene(a->scene) : 0;
}

static int ends_with_blend(const char *word)
{
    size_t n = strlen(word);
    return n >= 6 && strcasecmp(word + n - 6, ".blend") == 0;
}

int render_parse_args(int argc, char **argv, render_args *a)
{
    struct option longopts[NOPTS + 2];
    char shorts[2 * NOPTS + 2];
    size_t ns = 0;
    for (size_t i = 0; i < NOPTS; i++) {
        int arg = OPTS[i].kind == K_FLAG || OPTS[i].kind == S_TRUE ? no_argument
                : OPTS[i].kind == S_DISPLAY || OPTS[i].kind == K_COCO ? optional_argument
                : required_argument;
        longopts[i] = (struct option){OPTS[i].name, arg, 0, 256 + (int)i};
        if (OPTS[i].letter) {
            shorts[ns++] = (char)OPTS[i].letter;
            if (arg == required_argument) shorts[ns++] = ':';
        }
    }
    longopts[NOPTS] = (struct option){"help", no_argument, 0, 'h'};
    longopts[NOPTS + 1] = (struct option){0, 0, 0, 0};
    shorts[ns++] = 'h';
    shorts[ns] = '\0';
    memset(a, 0, sizeof *a);
    a->workers = 1;
    a->ring = 0; /* by frame size */
    a->retries = 1;
    a->max_worker_memory = -1; /* the library's default */
    if (!(a->settings = json_object())) return cli_fail("out of memory") + 1;
    optind = 1;
    opterr = 0; /* our own message, with a suggestion */
    int c;
    while ((c = getopt_long(argc, argv, shorts, longopts, NULL)) != -1) {
        if (c == 'h') {
            fputs(HELP, stdout);
            return -1;
        }
        if (c == '?') return unknown_option(argv[optind - 1], optopt);
        const opt *o = NULL;
        for (size_t i = 0; !o && i < NOPTS; i++)
            if (c == 256 + (int)i || OPTS[i].letter == c) o = &OPTS[i];
        const char *v = optarg;
        /* --display blender, with a space: getopt takes an optional value only after '=' */
        if (o->kind == S_DISPLAY && !v && optind < argc && strcmp(argv[optind], "blender") == 0)
            v = argv[optind++];
        /* --coco DIR, with a space: the next word is its folder unless it is an option or
         * the scene (--coco alone goes with --shards) */
        if (o->kind == K_COCO && !v && optind < argc && argv[optind][0] != '-' &&
            !ends_with_blend(argv[optind]))
            v = argv[optind++];
        int err = take(o, v, a);
        if (err) return err;
    }
    if (optind < argc) a->scene = argv[optind++];
    if (optind < argc) {
        cli_fail("unexpected argument '%s' (one scene per run)", argv[optind]);
        return 2;
    }
    return check_args(a);
}

void render_args_free(render_args *a)
{
    json_decref(a->settings);
    a->settings = NULL;
}

/* ---------------------------------------------------------------------- */
/*  the frames                                                             */
/* ---------------------------------------------------------------------- */

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

/* The first item of a malformed frame list that is malformed by itself, malloc'd;
 * NULL when the list has no item (or out of memory). */
static char *first_bad_item(const char *spec)
{
    for (const char *p = spec; *p; p++) {
        size_t n = strcspn(p, ",");
        if (n == 0) continue;
        char *item = strndup(p, n);
        if (!item) return NULL;
        int64_t *f = NULL;
        size_t count = 0;
        /* max_count 1: a long range is counted, not expanded */
        if (ba_parse_frames(item, &f, &count, 1) == BA_EINVAL) return item;
        ba_free(f);
        free(item);
        p += n - 1;
    }
    return NULL;
}

/* Does the frame list name a frame twice? */
static int has_repeats(const int64_t *frames, size_t n)
{
    int64_t *copy = malloc(n * sizeof *copy);
    if (!copy) return 1; /* numbering by index is always safe */
    memcpy(copy, frames, n * sizeof *copy);
    qsort(copy, n, sizeof *copy, cmp_i64);
    int rep = 0;
    for (size_t i = 1; i < n && !rep; i++) rep = copy[i] == copy[i - 1];
    free(copy);
    return rep;
}

static void free_params(char **params, size_t n)
{
    for (size_t k = 0; params && k < n; k++) free(params[k]);
    free(params);
}

/* --params FILE: one JSON object per line, one frame each ("frame", per-frame
 * settings, your own keys), checked whole before any Blender starts. */
static int read_params(const char *path, char ***out, size_t *count)
{
    FILE *f = strcmp(path, "-") == 0 ? stdin : fopen(path, "r");
    if (!f) {
        cli_fail("--params %s: %s", path, strerror(errno));
        return 1;
    }
    char **list = NULL, *line = NULL;
    size_t n = 0, cap = 0, len = 0, lineno = 0;
    int bad = 0;
    ssize_t got;
    while (!bad && (got = getline(&line, &len, f)) >= 0) {
        lineno++;
        /* the whole line, NUL bytes included: a NUL ends no line early, hides none */
        if (strspn(line, " \t\r\n") == (size_t)got) continue;
        json_error_t jerr;
        json_t *j = json_loadb(line, (size_t)got, 0, &jerr);
        if (!json_is_object(j)) {
            cli_fail("--params %s, line %zu: not a JSON object (%s); give one object per line, "
                     "e.g. {\"frame\": 12, \"samples\": 64, \"seed_offset\": 3}", path, lineno,
                     j ? "another JSON value" : jerr.text);
            bad = 1;
        } else if (n >= MAX_FRAMES) {
            cli_fail("--params %s has more than %d frames", path, MAX_FRAMES);
            bad = 1;
        } else {
            if (n == cap) {
                cap = cap ? cap * 2 : 64;
                char **grown = realloc(list, cap * sizeof *list);
                if (!grown) bad = 1;
                else list = grown;
            }
            if (!bad && !(list[n++] = json_dumps(j, JSON_COMPACT))) bad = 1;
            if (bad) cli_fail("out of memory");
        }
        json_decref(j);
    }
    free(line);
    if (f != stdin) fclose(f);
    if (!bad && n == 0) {
        cli_fail("--params %s holds no frame: give one JSON object per line", path);
        bad = 1;
    }
    if (bad) {
        for (size_t k = 0; k < n; k++) free(list[k]);
        free(list);
        return 1;
    }
    *out = list;
    *count = n;
    return 0;
}

int render_plan_frames(const render_args *a, render_plan *p)
{
    memset(p, 0, sizeof *p);
    p->total = 1;
    if (a->count) {
        p->total = (size_t)a->count;
    } else if (a->params) {
        if (read_params(a->params, &p->params, &p->total) != 0) return 2;
    } else if (a->frames) {
        const char *spec = a->frames;
        int e = ba_parse_frames(spec, &p->frames, &p->total, MAX_FRAMES);
        if (e == BA_EOVERFLOW) {
            cli_fail("frame list '%s' has more than %d frames", spec, MAX_FRAMES);
        } else if (e == BA_EINVAL) {
            char *bad = first_bad_item(spec);
            if (bad)
                cli_fail("malformed frame list '%s': '%s' is not a frame N, a range A-B (A <= B) "
                         "or A-B:STEP (STEP >= 1), numbers within +-1000000000; use e.g. "
                         "1-250, 1,5,9 or 1-100:10", spec, bad);
            else
                cli_fail("malformed frame list '%s':%s use e.g. 1-250, 1,5,9 or 1-100:10", spec,
                         spec[strspn(spec, ",")] ? "" : " no frame in it;");
            free(bad);
        } else if (e) {
            cli_fail("frame list '%s': %s", spec, ba_strerror(e));
        }
        if (e) {
            p->total = 0;
            return 2;
        }
    }
    p->by_index = a->count > 0 || p->params || (p->frames && has_repeats(p->frames, p->total));
    return 0;
}

void render_plan_free(render_plan *p)
{
    ba_free(p->frames);
    free_params(p->params, p->total);
    memset(p, 0, sizeof *p);
}
