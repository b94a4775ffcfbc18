/* params_fuzzer.c — per-frame params (a line of the CLI's --params file, a
 * dict of Renderer.frames) split into the frame's settings and the caller's
 * own keys: any bytes give an error, or a split in which every key lands
 * once, and a "seed" that numpy's default_rng([*seed, index]) takes. The same
 * bytes as a renderer's BA_OPT_SETTINGS and BA_OPT_SETUP: taken exactly when
 * they are a JSON object (and kept as that object), else refused with a
 * message and the option left as it was. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../src/renderer.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int seed_valid(const json_t *v)
{
    if (json_is_integer(v)) return json_integer_value(v) >= 0;
    if (!json_is_array(v) || json_array_size(v) == 0) return 0;
    for (size_t i = 0; i < json_array_size(v); i++) {
        const json_t *x = json_array_get(v, i);
        if (!json_is_integer(x) || json_integer_value(x) < 0) return 0;
    }
    return 1;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *text = malloc(size + 1);
    if (!text) return 0;
    memcpy(text, data, size);
    text[size] = 0;
    ba_err e = {0};
    json_t *params = NULL, *user = NULL;
    int err = ba_split_params(text, &params, &user, &e);
    json_t *all = json_loads(text, 0, NULL);
    if (err == BA_OK) {
        if (!params || !user || !json_is_object(all)) abort();
        if (json_object_size(all) != json_object_size(params) + json_object_size(user)) abort();
        const json_t *seed = json_object_get(params, "seed");
        if (json_object_get(user, "seed")) abort();
        if (seed && !seed_valid(seed)) abort();
        if (json_object_get(all, "seed") && !seed) abort();
    } else {
        if (params || user) abort();
        if (e.msg[0] == 0) abort(); /* an error says what was wrong */
    }
    ba_renderer_options *o = NULL;
    if (ba_renderer_options_new(&o) == BA_OK) {
        for (int opt = BA_OPT_SETTINGS; opt <= BA_OPT_SETUP; opt++) {
            json_t *const *kept = opt == BA_OPT_SETTINGS ? &o->settings : &o->setup;
            int rc = ba_renderer_options_set_str(o, opt, text);
            if ((rc == BA_OK) != json_is_object(all)) abort();
            if (rc == BA_OK && !json_equal(*kept, all)) abort();
            if (rc != BA_OK && (*kept || !ba_renderer_options_message(o)[0])) abort();
        }
        ba_renderer_options_free(o);
    }
    json_decref(all);
    json_decref(params);
    json_decref(user);
    json_decref(e.json);
    free(text);
    return 0;
}
