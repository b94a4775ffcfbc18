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
    RUN(test_init_message);
    return t_summary();
}
