/* reply_check.h — a worker's frame reply through the consumer's own check
 * (ba_take_frame in src/reply.c), with no process: against a ring of one slot
 * of slot_size bytes. BA_OK if the reply was accepted, BA_EFORMAT if not;
 * every accepted array must lie inside the slot (abort() otherwise, for the
 * fuzzer to see). Shared by tests/c/test_reply.c and fuzz/reply_fuzzer.c. */
#ifndef BA_REPLY_CHECK_H
#define BA_REPLY_CHECK_H

#include <stdlib.h>

#include "../../src/renderer.h"

static int check_reply(const char *json, size_t len, size_t slot_size)
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
        err = ba_take_frame(w, reply, NULL, 0, &jb, &h, e) == BA_OK ? BA_OK : BA_EFORMAT;
        if (err == BA_OK) {
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

#endif
