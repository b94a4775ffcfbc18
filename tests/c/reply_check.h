/* reply_check.h — a worker's frame reply through the consumer's own check
 * (ba_take_frame in src/reply.c), with no process: against a ring of one slot
 * of slot_size bytes. BA_OK if the reply was accepted, BA_EFORMAT if not;
 * every accepted array must lie inside the slot, and the frame's meta_json
 * (spliced from the reply's text) must be a JSON object equal to the reply's
 * "meta" with "index" and "worker" set (abort() otherwise, for the fuzzer to
 * see). Shared by tests/c/test_reply.c and fuzz/reply_fuzzer.c. */
#ifndef BA_REPLY_CHECK_H
#define BA_REPLY_CHECK_H

#include <stdlib.h>
#include <string.h>

#include "../../src/renderer.h"

/* meta: when not NULL and the reply is accepted, a copy of its meta_json (free()). */
static int check_reply_meta(const char *json, size_t len, size_t slot_size, char **meta)
{
    json_error_t jerr;
    json_t *reply = json_loadb(json, len, 0, &jerr);
    if (!reply || !json_is_object(reply)) {
        json_decref(reply);
        return BA_EFORMAT;
    }
    ba_err *e = calloc(1, sizeof *e);
    worker *w = calloc(1, sizeof *w);
    int err = e && w ? ba_ring_create(&w->ring, 1, slot_size ? slot_size : 1) : BA_ENOMEM;
    if (err == BA_OK) {
        w->sock = w->out = -1;
        task t = {1, 0, NULL, NULL, 0};
        job jb = {1, &t, 0};
        held *h = NULL;
        err = ba_take_frame(w, reply, json, len, NULL, 0, &jb, &h, e) == BA_OK ? BA_OK
                                                                               : BA_EFORMAT;
        if (err == BA_OK) {
            json_t *got = json_loads(h->frame.meta_json, 0, &jerr);
            json_t *want = json_object(), *given = json_object_get(reply, "meta");
            if (!got || !want) abort(); /* not JSON, or no memory: the fuzzer stops either way */
            if (json_is_object(given) && json_object_update(want, given) != 0) abort();
            if (json_object_set_new(want, "index", json_integer(0)) != 0 ||
                json_object_set_new(want, "worker", json_integer(0)) != 0)
                abort();
            if (!json_equal(got, want)) abort(); /* the splice lost or changed a member */
            json_decref(got);
            json_decref(want);
            if (meta && !(*meta = strdup(h->frame.meta_json))) abort();
            const uint8_t *lo = ba_ring_slot(w->ring, 0), *hi = lo + ba_ring_slot_size(w->ring);
            for (int i = 0; i < h->frame.narrays; i++) {
                const ba_frame_array *a = &h->frame.arrays[i];
                const uint8_t *p = a->data;
                if (p < lo || p > hi || a->nbytes > (size_t)(hi - p)) abort(); /* outside */
                if (a->nbytes) {
                    volatile uint8_t first = p[0], last = p[a->nbytes - 1];
                    (void)first;
                    (void)last;
                }
            }
            ba_free_held(h);
        }
    }
    if (w) ba_ring_close(w->ring);
    if (e) json_decref(e->json);
    free(w);
    free(e);
    json_decref(reply);
    return err;
}

static int check_reply(const char *json, size_t len, size_t slot_size)
{
    return check_reply_meta(json, len, slot_size, NULL);
}

#endif
