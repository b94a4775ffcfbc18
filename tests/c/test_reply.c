/* test_reply.c — the consumer accepts a worker's frame reply only when every
 * array it describes lies inside the slot and matches its shape and dtype. */
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

int main(void)
{
    RUN(test_valid);
    RUN(test_rejected);
    return t_summary();
}
