/* coco_fuzzer.c — the COCO writer on a frame's metadata from outside (the
 * JSON a worker sends): ba_coco_add() with arbitrary JSON.
 *
 * First byte: the image's size (height 1 + b % 4, width 1 + b / 4 % 4); the
 * rest: the frame's metadata. Every input is refused with BA_EFORMAT (a
 * message saying so, nothing kept) or taken; a taken one must give an
 * annotations.json that jansson reads back with one image, one annotation per
 * instance with a category, each with the instance's segmentation, and each
 * instance's mask, decoded apart (ba_rle_decode_string), of its area. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "blendarray.h"
#include "fixtures.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);


/* Every categorised instance of meta is an annotation of image 0 in doc, in order. */
static void check_dataset(const json_t *meta, const json_t *doc, uint32_t h, uint32_t w)
{
    const json_t *insts = json_object_get(json_object_get(meta, "annotations"), "instances");
    const json_t *anns = json_object_get(doc, "annotations");
    if (json_array_size(json_object_get(doc, "images")) != 1 || !json_is_array(anns)) abort();
    size_t k = 0, i;
    json_t *inst;
    uint8_t mask[16];
    json_array_foreach(insts, i, inst) {
        const json_t *seg = json_object_get(inst, "segmentation");
        const json_t *counts = json_object_get(seg, "counts");
        memset(mask, 0, sizeof mask);
        if (ba_rle_decode_string(json_string_value(counts), json_string_length(counts), h, w, mask,
                                 0, 1) != BA_OK)
            abort();
        json_int_t on = 0;
        for (size_t p = 0; p < (size_t)h * w; p++) on += mask[p];
        if (on != json_integer_value(json_object_get(inst, "area"))) abort();
        if (json_is_null(json_object_get(inst, "category_id"))) continue;
        const json_t *a = json_array_get(anns, k++);
        if (!json_equal(json_object_get(a, "segmentation"), (json_t *)seg) ||
            json_integer_value(json_object_get(a, "id")) != (json_int_t)k ||
            json_integer_value(json_object_get(a, "image_id")) != 0)
            abort();
    }
    if (k != json_array_size(anns)) abort();
}

static char base[4096]; /* one folder for the process's runs, removed at its exit */

static void remove_base(void)
{
    fx_rmdir(base);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!base[0]) {
        const char *t = getenv("TMPDIR");
        snprintf(base, sizeof base, "%s/coco_fuzzer.XXXXXX", t && *t ? t : "/tmp");
        if (!mkdtemp(base) || atexit(remove_base) != 0) abort();
    }
    if (size == 0) return 0;
    uint32_t h = 1 + data[0] % 4, w = 1 + data[0] / 4 % 4;
    char *meta = malloc(size);
    if (!meta) return 0;
    memcpy(meta, data + 1, size - 1);
    meta[size - 1] = '\0';
    uint8_t rgba[4 * 4 * 4];
    for (size_t i = 0; i < sizeof rgba; i++) rgba[i] = (uint8_t)(i * 7);
    char dir[4200];
    snprintf(dir, sizeof dir, "%s/set", base);
    ba_coco_writer *wr = NULL;
    if (ba_coco_new(&wr) != BA_OK || ba_coco_open(wr, dir, 0) != BA_OK) abort();
    int rc = ba_coco_add(wr, rgba, w, h, 0, meta, -1);
    if (rc == BA_EFORMAT) {
        if (strncmp(ba_coco_message(wr), "malformed labels in its metadata: ", 34) != 0 ||
            ba_coco_count(wr, BA_COCO_IMAGES) != 0)
            abort();
    } else if (rc == BA_OK) {
        if (ba_coco_finish(wr, NULL) != BA_OK) abort();
        char path[4300];
        snprintf(path, sizeof path, "%s/annotations.json", dir);
        json_error_t jerr;
        json_t *doc = json_load_file(path, JSON_REJECT_DUPLICATES, &jerr);
        json_t *parsed = json_loads(meta, 0, &jerr);
        if (!doc || !parsed) abort();
        check_dataset(parsed, doc, h, w);
        json_decref(doc);
        json_decref(parsed);
    } else {
        abort(); /* no other error for a well-formed call */
    }
    ba_coco_free(wr);
    fx_rmdir(dir);
    free(meta);
    return 0;
}
