/* test_reply.c — the consumer accepts a worker's frame reply only when every
 * array it describes lies inside the slot and matches its shape and dtype;
 * the init message it sends holds the options as they were set. */
#include <string.h>

#include "check.h"
#include "reply_check.h"

static int check(const char *json, size_t slot)
{
    return check_reply(json, strlen(json), slot);
}

#define PART(arrays) "{\"ok\":true,\"job\":1,\"parts\":[{\"slot\":0,\"size\":4096,\"arrays\":[" arrays "]}],\"meta\":{\"frame\":3}}"

static void test_valid(void)
{
    CHECK_RC(check(PART("{\"name\":\"rgba\",\"dtype\":\"<f4\",\"shape\":[8,8,4],\"offset\":0,\"nbytes\":1024},"
                        "{\"name\":\"object_index\",\"dtype\":\"<i4\",\"shape\":[8,8],\"offset\":1024,\"nbytes\":256}"),
                   4096),
             BA_OK);
}

static void test_rejected(void)
{
    /* outside the slot */
    CHECK_RC(check(PART("{\"name\":\"d\",\"dtype\":\"<f4\",\"shape\":[8,8],\"offset\":4000,\"nbytes\":256}"), 4096),
             BA_EFORMAT);
    /* nbytes that does not match the shape */
    CHECK_RC(check(PART("{\"name\":\"d\",\"dtype\":\"<f4\",\"shape\":[8,8],\"offset\":0,\"nbytes\":255}"), 4096),
             BA_EFORMAT);
    /* a shape whose product wraps around */
    CHECK_RC(check(PART("{\"name\":\"d\",\"dtype\":\"<f4\",\"shape\":[4611686018427387904,4,4],\"offset\":0,\"nbytes\":0}"), 4096),
             BA_EFORMAT);
    /* negative sizes, unknown dtype, missing name, 1-D, 4-D */
    CHECK_RC(check(PART("{\"name\":\"d\",\"dtype\":\"<f4\",\"shape\":[-8,8],\"offset\":0,\"nbytes\":256}"), 4096), BA_EFORMAT);
    CHECK_RC(check(PART("{\"name\":\"d\",\"dtype\":\"<f8\",\"shape\":[8,8],\"offset\":0,\"nbytes\":512}"), 4096), BA_EFORMAT);
    CHECK_RC(check(PART("{\"dtype\":\"<f4\",\"shape\":[8,8],\"offset\":0,\"nbytes\":256}"), 4096), BA_EFORMAT);
    CHECK_RC(check(PART("{\"name\":\"d\",\"dtype\":\"<f4\",\"shape\":[64],\"offset\":0,\"nbytes\":256}"), 4096), BA_EFORMAT);
    CHECK_RC(check(PART("{\"name\":\"d\",\"dtype\":\"<f4\",\"shape\":[2,2,2,2],\"offset\":0,\"nbytes\":64}"), 4096), BA_EFORMAT);
    /* a slot it was not given, a memfd part without its memfd, not JSON */
    CHECK_RC(check("{\"ok\":true,\"job\":1,\"parts\":[{\"slot\":1,\"size\":4096,\"arrays\":[]}]}", 4096), BA_EFORMAT);
    CHECK_RC(check("{\"ok\":true,\"job\":1,\"parts\":[{\"slot\":null,\"size\":4096,\"arrays\":[]}]}", 4096), BA_EFORMAT);
    CHECK_RC(check("not json", 4096), BA_EFORMAT);
}

/* The init message (docs/protocol.md) made of options set through the public
 * setters, against the message written out by hand: the settings and the
 * hook exactly as given, the seed, the scene. */
/* meta_json is the reply's own text of "meta" with "index" and "worker" added
 * at its end (0.1 stays 0.1: a dump would write 0.10000000000000001), in
 * every layout a JSON writer may use; where the worker's meta has its own
 * "index" or "worker" (the consumer's win) or "meta" is written with escapes,
 * a dump of the parsed reply. check_reply_meta() aborts unless it parses to
 * the reply's meta with the two set, whichever way it was made. */
static void test_meta_spliced(void)
{
    static const struct {
        const char *json, *meta;
    } cases[] = {
        {"{\"ok\":true,\"job\":1,\"parts\":[],\"meta\":{\"K\":[[0.1,0.0]],\"s\":\"}{\\\"]\"}}",
         "{\"K\":[[0.1,0.0]],\"s\":\"}{\\\"]\",\"index\":0,\"worker\":0}"},
        {" { \"meta\" : { \"a\" : 0.1 ,\n \"b\" : [ ] } , \"ok\" : true , \"job\" : 1 , \"parts\" : [ ] } ",
         "{ \"a\" : 0.1 ,\n \"b\" : [ ],\"index\":0,\"worker\":0}"},
        {"{\"ok\":true,\"job\":1,\"parts\":[],\"meta\":{ }}", "{\"index\":0,\"worker\":0}"},
        /* the last of two "meta" members, as jansson keeps it; a nested "meta" is not it */
        {"{\"meta\":{\"x\":1},\"ok\":true,\"job\":1,\"parts\":[],\"meta\":{\"meta\":{\"y\":0.1}}}",
         "{\"meta\":{\"y\":0.1},\"index\":0,\"worker\":0}"},
        /* the worker's own index: the consumer's replaces it (dumped) */
        {"{\"ok\":true,\"job\":1,\"parts\":[],\"meta\":{\"index\":7,\"a\":0.5}}",
         "{\"index\":0,\"a\":0.5,\"worker\":0}"},
        /* "meta" written with an escape: not found by the scanner, dumped */
        {"{\"ok\":true,\"job\":1,\"parts\":[],\"m\\u0065ta\":{\"a\":0.5}}",
         "{\"a\":0.5,\"index\":0,\"worker\":0}"},
        /* no meta, or not an object: an object with the two alone */
        {"{\"ok\":true,\"job\":1,\"parts\":[]}", "{\"index\":0,\"worker\":0}"},
        {"{\"ok\":true,\"job\":1,\"parts\":[],\"meta\":[1]}", "{\"index\":0,\"worker\":0}"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        char *meta = NULL;
        CHECK_RC(check_reply_meta(cases[i].json, strlen(cases[i].json), 4096, &meta), BA_OK);
        if (strcmp(meta ? meta : "(none)", cases[i].meta) != 0)
            T_REPORT("case %zu: meta_json %s, expected %s", i, meta ? meta : "(none)", cases[i].meta);
        free(meta);
    }
}

static void test_init_message(void)
{
    ba_renderer_options *o = NULL;
    ba_err *e = calloc(1, sizeof *e);
    CHECK_RC(ba_renderer_options_new(&o), BA_OK);
    REQUIRE(o && e);
    json_error_t jerr;
    json_t *got = ba_init_message(o, NULL, e); /* the defaults */
    json_t *want = json_loads("{\"op\": \"init\", \"protocol\": 1, \"scene\": null, "
                              "\"settings\": {}, \"setup\": null, \"seed\": 0}", 0, &jerr);
    CHECK(got && json_equal(got, want));
    json_decref(got);
    json_decref(want);
    const char *settings = "{\"passes\": [\"rgba\", \"depth\"], \"resolution\": [32, 24], "
                           "\"display\": \"blender\", \"depth_background\": \"inf\", \"x\": {\"y\": [1]}}";
    CHECK_RC(ba_renderer_options_set_str(o, BA_OPT_SETTINGS, settings), BA_OK);
    CHECK_RC(ba_renderer_options_set_str(o, BA_OPT_SETUP,
                                         "{\"kind\": \"string\", \"spec\": \"hook.py:fn\"}"), BA_OK);
    CHECK_RC(ba_renderer_options_set_int(o, BA_OPT_SEED, 9007199254740993), BA_OK);
    got = ba_init_message(o, "/abs/scene.blend", e);
    want = json_loads("{\"op\": \"init\", \"protocol\": 1, \"scene\": \"/abs/scene.blend\", "
                      "\"settings\": {\"passes\": [\"rgba\", \"depth\"], \"resolution\": [32, 24], "
                      "\"display\": \"blender\", \"depth_background\": \"inf\", \"x\": {\"y\": [1]}}, "
                      "\"setup\": {\"kind\": \"string\", \"spec\": \"hook.py:fn\"}, "
                      "\"seed\": 9007199254740993}", 0, &jerr);
    CHECK(got && json_equal(got, want));
    json_decref(got);
    /* NULL restores the defaults; a refused value keeps what was set */
    CHECK_RC(ba_renderer_options_set_str(o, BA_OPT_SETTINGS, "[]"), BA_EINVAL);
    got = ba_init_message(o, "/abs/scene.blend", e);
    CHECK(got && json_equal(got, want));
    json_decref(got);
    json_decref(want);
    CHECK_RC(ba_renderer_options_set_str(o, BA_OPT_SETTINGS, NULL), BA_OK);
    CHECK_RC(ba_renderer_options_set_str(o, BA_OPT_SETUP, NULL), BA_OK);
    got = ba_init_message(o, NULL, e);
    CHECK(got && json_is_object(json_object_get(got, "settings")) &&
          json_object_size(json_object_get(got, "settings")) == 0 &&
          json_is_null(json_object_get(got, "setup")));
    json_decref(got);
    ba_renderer_options_free(o);
    free(e);
}

int main(void)
{
    RUN(test_valid);
    RUN(test_rejected);
    RUN(test_meta_spliced);
    RUN(test_init_message);
    return t_summary();
}
