/* shards_fuzzer.c — the shard writer's resume on a folder from outside:
 * ba_shards_open() with BA_SHARDS_RESUME over fuzzed dataset.json,
 * shards.jsonl and shard-000000.tar (the parsers of the dataset file, the
 * index, and the walk over a shard's tar headers).
 *
 * Input: one flags byte, then up to three parts split at NUL bytes:
 * dataset.json, shards.jsonl, and the rest (NULs and all) as
 * shard-000000.tar; an empty or missing part is a file left out. Flags: bit 0: in
 * shards.jsonl, "@CRC@" and "@BYTES@" become the shard's real crc32 and size
 * (so that inputs reach the tar walk); bit 1: the run asks for COCO files,
 * bit 2: an empty shard-000000.coco.json is there; bits 3..4: samples per
 * shard, 1 + (flags >> 3 & 3). The run's params are {"seed": 1}.
 *
 * Whatever the input: the open succeeds or fails with BA_EFORMAT, BA_EEXIST
 * or BA_EUNSUPPORTED and a message, leaving the three files as they were; a
 * successful open leaves an index of whole lines, takes one more sample (the
 * first index not done), finishes, and a second resume finds exactly one
 * more sample done. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <zlib.h>

#include "blendarray.h"
#include "fixtures.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char base[4096]; /* one folder for the process's runs, removed at its exit */

static void remove_base(void)
{
    fx_rmdir(base);
}

static char *in_dir(const char *dir, const char *name)
{
    return fx_join(dir, name);
}

/* path holds exactly data[0..size) (data NULL: path does not exist) */
static int holds(const char *path, const uint8_t *data, size_t size)
{
    size_t n = 0;
    uint8_t *got = fx_read_file(path, &n);
    int same = data ? got && n == size && memcmp(got, data, size) == 0 : !got;
    free(got);
    return same;
}

/* "@CRC@" / "@BYTES@" in the index, replaced */
static char *fill_in(const uint8_t *text, size_t len, uint32_t crc, size_t bytes)
{
    char crcs[16], sizes[24];
    snprintf(crcs, sizeof crcs, "%u", crc);
    snprintf(sizes, sizeof sizes, "%zu", bytes);
    char *out = malloc(len * 4 + 1), *o = out;
    if (!out) return NULL;
    for (size_t i = 0; i < len;) {
        if (len - i >= 5 && memcmp(text + i, "@CRC@", 5) == 0) {
            o += sprintf(o, "%s", crcs);
            i += 5;
        } else if (len - i >= 7 && memcmp(text + i, "@BYTES@", 7) == 0) {
            o += sprintf(o, "%s", sizes);
            i += 7;
        } else {
            *o++ = (char)text[i++];
        }
    }
    *o = '\0';
    return out;
}

static ba_shard_writer *open_resume(const char *dir, int samples, int coco, int *rc)
{
    ba_shard_writer *w = NULL;
    if (ba_shards_new(&w) != BA_OK) abort();
    if (ba_shards_set_int(w, BA_SHARDS_SAMPLES, samples) != BA_OK ||
        ba_shards_set_int(w, BA_SHARDS_COCO, coco) != BA_OK ||
        ba_shards_set_int(w, BA_SHARDS_RESUME, 1) != BA_OK)
        abort();
    *rc = ba_shards_open(w, dir, "{\"seed\": 1}");
    return w;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!base[0]) {
        const char *t = getenv("TMPDIR");
        snprintf(base, sizeof base, "%s/shards_fuzzer.XXXXXX", t && *t ? t : "/tmp");
        if (!mkdtemp(base) || atexit(remove_base) != 0) abort();
    }
    if (size == 0) return 0;
    int flags = data[0], coco = flags >> 1 & 1, samples = 1 + (flags >> 3 & 3);
    const uint8_t *p = data + 1, *end = data + size;
    const uint8_t *part[3] = {NULL, NULL, NULL};
    size_t len[3] = {0, 0, 0};
    for (int k = 0; k < 3 && p <= end; k++) {
        const uint8_t *z = k < 2 ? memchr(p, 0, (size_t)(end - p)) : NULL;
        len[k] = z ? (size_t)(z - p) : (size_t)(end - p);
        part[k] = len[k] ? p : NULL;
        if (!z) break;
        p = z + 1;
    }
    char dir[4200];
    snprintf(dir, sizeof dir, "%s/set", base);
    fx_rmdir(dir);
    if (mkdir(dir, 0777) != 0) abort();
    char *paths[3] = {in_dir(dir, "dataset.json"), in_dir(dir, "shards.jsonl"),
                      in_dir(dir, "shard-000000.tar")};
    char *coco_path = in_dir(dir, "shard-000000.coco.json");
    if (!paths[0] || !paths[1] || !paths[2] || !coco_path) abort();
    uLong crc = crc32(0L, Z_NULL, 0);
    if (part[2]) crc = crc32(crc, part[2], (uInt)len[2]);
    char *index = part[1] && (flags & 1) ? fill_in(part[1], len[1], (uint32_t)crc, len[2]) : NULL;
    const uint8_t *want[3] = {part[0], index ? (const uint8_t *)index : part[1], part[2]};
    size_t want_len[3] = {len[0], index ? strlen(index) : len[1], len[2]};
    for (int k = 0; k < 3; k++)
        if (want[k] && fx_write_file(paths[k], want[k], want_len[k]) != 0) abort();
    if ((flags & 4) && fx_write_file(coco_path, "{}", 2) != 0) abort();

    int rc;
    ba_shard_writer *w = open_resume(dir, samples, coco, &rc);
    if (rc != BA_OK) {
        if (rc != BA_EFORMAT && rc != BA_EEXIST && rc != BA_EUNSUPPORTED) abort();
        if (!*ba_shards_message(w)) abort();
        for (int k = 0; k < 3; k++) /* a refused folder is left as it was */
            if (!holds(paths[k], want[k], want_len[k])) abort();
        ba_shards_free(w);
    } else if (!part[0]) {
        /* no dataset.json: a new dataset, made only in a folder that held no file */
        if (part[1] || part[2] || (flags & 4) || ba_shards_count(w, BA_SHARDS_DONE)) abort();
        ba_shards_free(w);
    } else {
        size_t n = 0;
        uint8_t *idx = fx_read_file(paths[1], &n);
        if (n && (!idx || idx[n - 1] != '\n')) abort(); /* a torn line is cut away */
        free(idx);
        uint64_t done = ba_shards_count(w, BA_SHARDS_DONE);
        int64_t next = 0;
        while (ba_shards_done(w, next)) next++;
        if ((uint64_t)next > done) abort();
        uint8_t px[4] = {1, 2, 3, 4};
        ba_frame_array a = {"display", BA_DTYPE_U8, 3, {1, 1, 4}, px, 4};
        const char *meta = "{\"annotations\": {\"instances\": [], \"categories\": [], "
                           "\"keypoints\": {\"names\": [], \"skeleton\": []}}}";
        if (ba_shards_add(w, next, &a, 1, meta) != BA_OK || ba_shards_finish(w) != BA_OK) abort();
        ba_shards_free(w);
        w = open_resume(dir, samples, coco, &rc);
        if (rc != BA_OK || ba_shards_count(w, BA_SHARDS_DONE) != done + 1 ||
            !ba_shards_done(w, next))
            abort();
        ba_shards_free(w);
    }
    free(index);
    for (int k = 0; k < 3; k++) free(paths[k]);
    free(coco_path);
    fx_rmdir(dir);
    return 0;
}
