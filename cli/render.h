/* render.h — what the files of `blendarray render` share:
 *
 *   render_args.c     its options, parsed from one table; the frames to render
 *   render_open.c     the library's renderer options, the environment variables
 *   render_outputs.c  the outputs: .npz, folders of .npy, stacks, stdout, COCO
 *   render_shards.c   --shards: WebDataset shards through the library's writer, resumable
 *   render.c          the run: parse, open the outputs, render, report
 */
#ifndef BLENDARRAY_CLI_RENDER_H
#define BLENDARRAY_CLI_RENDER_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "cli.h"

#define MAX_FRAMES 10000000
#define MAX_PASSES 256

/* The command line, checked for form (numbers in range, WxH, on|off); the
 * render settings as the JSON object the workers read (docs/protocol.md),
 * checked by the worker with the Python API's own code (blendarray.Settings). */
typedef struct render_args {
    const char *scene, *frames, *output, *params, *coco, *setup, *blender, *python, *shards;
    long long count, seed, workers, ring, retries;
    long long shard_size, shard_bytes;              /* --shards: 1000, 0 (no byte limit) */
    long long max_worker_frames, max_worker_memory; /* 0: none; memory -1: the library's */
    double timeout; /* seconds, 0: no limit */
    int stack, compress, force, quiet, verbose, f16;
    int resume;     /* --resume: go on with the --shards folder's dataset */
    int coco_flag;  /* --coco without a folder (with --shards: a COCO file per shard) */
    json_t *settings;
    volatile const int *stop;
} render_args;

/* What to render: frames[i] the scene frame of index i (NULL: the scene's
 * current frame), params[i] its per-frame JSON (NULL: none). */
typedef struct render_plan {
    int64_t *frames; /* ba_free */
    char **params;
    size_t total;
    int by_index;    /* folder outputs are numbered by index: frame numbers repeat */
} render_plan;

/* argv into a: 0; -1 after printing the help (exit 0); 2 after a usage message.
 * a->settings is set in every case: render_args_free. */
int render_parse_args(int argc, char **argv, render_args *a);
void render_args_free(render_args *a);

/* The frames, the count or the --params file of a: 0, or 2 after a message. */
int render_plan_frames(const render_args *a, render_plan *p);
void render_plan_free(render_plan *p);

/* The library's options for a (render_open.c): its settings as JSON, the
 * package folder, $BLENDARRAY_BLENDER / $BLENDARRAY_PYTHON where a leaves them
 * unset; killed runs' temporary folders are swept first. 0 with *out to free
 * (ba_renderer_options_free), or 1 with the reason on stderr. */
int render_options(const render_args *a, const char *package, ba_renderer_options **out);

/* The indices a run renders (all of the plan's, or what a resumed dataset
 * lacks): indices NULL means 0..count-1; frames[k] / params[k] as in the plan
 * (NULL when the plan has none; params' strings are the plan's). */
typedef struct render_todo {
    int64_t *indices, *frames;
    char **params;
    size_t count;
    int owned;      /* the arrays are the todo's (else the plan's) */
} render_todo;
void render_todo_free(render_todo *t);

/* --shards DIR (render_shards.c): the library's shard writer. Each function
 * that fails leaves its message in msg. */
typedef struct shards_out shards_out;
int shards_start(shards_out **out, const render_args *a, const render_plan *p, ba_renderer *r,
                 render_todo *todo, char *msg, size_t cap);
int shards_frame(shards_out *s, const ba_frame *f, char *msg, size_t cap);
int shards_finish(shards_out *s, char *msg, size_t cap);
uint64_t shards_count(const shards_out *s, int what);
const char *shards_dir(const shards_out *s);
void shards_free(shards_out *s);

/* The outputs of a run (render_outputs.c). */
typedef struct outputs outputs;

/* Check and open the outputs -o and --coco name: 0; 1 or 2 (bad usage) after
 * a message. *out is set (to free with outputs_free) in every case. */
int outputs_open(outputs **out, const render_args *a, const render_plan *p);

/* Once the renderer is open: what to render (*todo: render_todo_free). For
 * --shards, the writer opens here (its dataset's parameters are the
 * renderer's identity): a refusal is an error, said by outputs_fail. */
int outputs_start(outputs *o, const render_args *a, const render_plan *p, ba_renderer *r,
                  render_todo *todo);

/* ba_renderer_run's callback: write one frame, show progress. */
int outputs_frame(const ba_frame *f, void *o);

/* Complete every output (0), or say why not (the error). */
int outputs_finish(outputs *o, const char *scene);

/* After a failed run: remove what is incomplete and say what is left
 * (interrupted: whole frames kept, by output kind). */
void outputs_fail(outputs *o, int interrupted, const char *message, int err);

/* Remove anything incomplete (no-op after finish) and free; NULL ok. */
void outputs_free(outputs *o);

#endif
