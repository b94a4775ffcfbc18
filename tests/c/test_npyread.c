/* test_npyread.c — ba_npy_parse_header against the exact bytes NumPy 1.26
 * writes (with the padding numpy >= 1.24 reserves for a growing first axis),
 * against ba_npy_header()'s own output, and against malformed headers. */
#include <string.h>

#include "blendarray.h"
#include "check.h"

/* generated with numpy 1.26.4: np.save(BytesIO, a), bytes up to the header's end */
static const struct np_case { const char *bytes; size_t len; const char *descr; int dtype; int fortran; int ndim; uint64_t shape[8]; } np_cases[] = {
    {"\x93""NUMPY\x01""\x00""v\x00""{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }                                                          \x0a""",
     128, "<f4", 0, 0, 2, {2, 3}},
    {"\x93""NUMPY\x01""\x00""v\x00""{'descr': '|u1', 'fortran_order': False, 'shape': (5,), }                                                            \x0a""",
     128, "|u1", 2, 0, 1, {5}},
    {"\x93""NUMPY\x01""\x00""v\x00""{'descr': '<f2', 'fortran_order': False, 'shape': (), }                                                              \x0a""",
     128, "<f2", 1, 0, 0, {0}},
    {"\x93""NUMPY\x01""\x00""v\x00""{'descr': '<i4', 'fortran_order': False, 'shape': (0,), }                                                            \x0a""",
     128, "<i4", 3, 0, 1, {0}},
    {"\x93""NUMPY\x01""\x00""v\x00""{'descr': '<f4', 'fortran_order': False, 'shape': (480, 640, 4), }                                                   \x0a""",
     128, "<f4", 0, 0, 3, {480, 640, 4}},
    {"\x93""NUMPY\x01""\x00""v\x00""{'descr': '<u2', 'fortran_order': False, 'shape': (3, 2), }                                                          \x0a""",
     128, "<u2", 4, 0, 2, {3, 2}},
    {"\x93""NUMPY\x01""\x00""v\x00""{'descr': '|b1', 'fortran_order': False, 'shape': (3,), }                                                            \x0a""",
     128, "|b1", -1, 0, 1, {3}},
    {"\x93""NUMPY\x01""\x00""v\x00""{'descr': '<f8', 'fortran_order': True, 'shape': (2, 2), }                                                           \x0a""",
     128, "<f8", -1, 1, 2, {2, 2}},
    {"\x93""NUMPY\x01""\x00""v\x00""{'descr': '>f8', 'fortran_order': False, 'shape': (3,), }                                                            \x0a""",
     128, ">f8", -1, 0, 1, {3}},
    {"\x93""NUMPY\x01""\x00""v\x00""{'descr': '<i8', 'fortran_order': False, 'shape': (1, 1, 1, 1, 1, 1, 1, 1), }                                        \x0a""",
     128, "<i8", -1, 0, 8, {1, 1, 1, 1, 1, 1, 1, 1}},
    {"\x93""NUMPY\x01""\x00""v\x00""{'descr': '<f4', 'fortran_order': False, 'shape': (4, 0, 3), }                                                       \x0a""",
     128, "<f4", 0, 0, 3, {4, 0, 3}},
    {"\x93""NUMPY\x01""\x00""v\x00""{'descr': '|i1', 'fortran_order': False, 'shape': (2,), }                                                            \x0a""",
     128, "|i1", -1, 0, 1, {2}},
    {"\x93""NUMPY\x01""\x00""v\x00""{'descr': '<u4', 'fortran_order': False, 'shape': (2,), }                                                            \x0a""",
     128, "<u4", BA_DTYPE_U32, 0, 1, {2}},
    {"\x93""NUMPY\x01""\x00""v\x00""{'descr': '<i2', 'fortran_order': False, 'shape': (2,), }                                                            \x0a""",
     128, "<i2", -1, 0, 1, {2}},
    {"\x93""NUMPY\x01""\x00""v\x00""{'descr': '<c8', 'fortran_order': False, 'shape': (2,), }                                                            \x0a""",
     128, "<c8", -1, 0, 1, {2}},
    {"\x93""NUMPY\x02""\x00""t\x00""\x00""\x00""{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }                                                        \x0a""",
     128, "<f4", 0, 0, 2, {2, 3}},
    {"\x93""NUMPY\x03""\x00""t\x00""\x00""\x00""{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }                                                        \x0a""",
     128, "<f4", 0, 0, 2, {2, 3}},
};

static void test_numpy_headers(void)
{
    for (size_t k = 0; k < sizeof np_cases / sizeof np_cases[0]; ++k) {
        const struct np_case *c = &np_cases[k];
        ba_npy_info info;
        CHECK_RC(ba_npy_parse_header(c->bytes, c->len, &info), BA_OK);
        CHECK(strcmp(info.descr, c->descr) == 0);
        CHECK_INT(info.dtype, c->dtype);
        CHECK_INT(info.fortran_order, c->fortran);
        CHECK_INT(info.ndim, c->ndim);
        uint64_t n = 1;
        for (int i = 0; i < c->ndim; ++i) {
            CHECK_INT(info.shape[i], c->shape[i]);
            n *= c->shape[i];
        }
        CHECK_INT(info.data_offset, c->len);
        size_t isz = (size_t)(c->descr[2] - '0');
        if (c->descr[3]) isz = isz * 10 + (size_t)(c->descr[3] - '0');
        CHECK_INT(info.itemsize, isz);
        CHECK_INT(info.nbytes, n * isz);
        if (info.dtype >= 0) CHECK_INT(ba_dtype_size(info.dtype), info.itemsize);
        /* data after the header changes nothing */
        char buf[512];
        memcpy(buf, c->bytes, c->len);
        memset(buf + c->len, 0x7f, sizeof buf - c->len);
        CHECK_RC(ba_npy_parse_header(buf, sizeof buf, &info), BA_OK);
        CHECK_INT(info.data_offset, c->len);
        /* every truncation asks for more */
        for (size_t len = 0; len < c->len; ++len) {
            int rc = ba_npy_parse_header(c->bytes, len, &info);
            if (rc != BA_EBUFSIZE) {
                T_REPORT("case %zu truncated to %zu: %d", k, len, rc);
                break;
            }
        }
    }
}

static void test_own_headers(void)
{
    uint64_t shapes[][3] = {{0, 0, 0}, {7, 0, 0}, {480, 640, 4}, {UINT64_C(9223372036854775807), 0, 0}};
    int ndims[] = {0, 1, 3, 1};
    for (int dt = 0; dt <= BA_DTYPE_U32; ++dt) {
        CHECK(ba_dtype_descr(dt) != NULL);
        for (int s = 0; s < 4; ++s) {
            char buf[256];
            size_t len;
            CHECK_RC(ba_npy_header(buf, sizeof buf, &len, dt, ndims[s], shapes[s]), BA_OK);
            ba_npy_info info;
            int rc = ba_npy_parse_header(buf, len, &info);
            if (s == 3 && dt != BA_DTYPE_U8) {
                CHECK_RC(rc, BA_EOVERFLOW); /* bytes beyond int64 */
                continue;
            }
            CHECK_RC(rc, BA_OK);
            CHECK_INT(info.dtype, dt);
            CHECK(strcmp(info.descr, ba_dtype_descr(dt)) == 0);
            CHECK_INT(info.ndim, ndims[s]);
            CHECK_INT(info.data_offset, len);
            for (int i = 0; i < ndims[s]; ++i) CHECK_INT(info.shape[i], shapes[s][i]);
        }
    }
    CHECK(ba_dtype_descr(-1) == NULL);
    CHECK(ba_dtype_descr(6) == NULL);
    CHECK(strcmp(ba_dtype_descr(BA_DTYPE_U8), "|u1") == 0);
}

/* a v1.0 header around `dict`: padded with spaces to 64, final '\n' */
static size_t make_v1(char *buf, size_t cap, const char *dict)
{
    size_t n = strlen(dict);
    size_t total = (10 + n + 1 + 63) / 64 * 64;
    if (total > cap) return 0;
    memcpy(buf, "\x93NUMPY\x01\x00", 8);
    buf[8] = (char)((total - 10) & 0xff);
    buf[9] = (char)((total - 10) >> 8);
    memcpy(buf + 10, dict, n);
    memset(buf + 10 + n, ' ', total - 11 - n);
    buf[total - 1] = '\n';
    return total;
}

static int parse_dict(const char *dict, ba_npy_info *info)
{
    char buf[1024];
    size_t len = make_v1(buf, sizeof buf, dict);
    if (!len) return -1;
    return ba_npy_parse_header(buf, len, info);
}

static void test_accepted_variants(void)
{
    ba_npy_info info;
    /* any key order, double quotes, no trailing comma, no spaces */
    CHECK_RC(parse_dict("{'shape': (3,), 'fortran_order': False, 'descr': '<i4'}", &info), BA_OK);
    CHECK_INT(info.dtype, BA_DTYPE_I32);
    CHECK_INT(info.shape[0], 3);
    CHECK_RC(parse_dict("{\"descr\":\"<f2\",\"fortran_order\":True,\"shape\":(1,2,)}", &info), BA_OK);
    CHECK_INT(info.dtype, BA_DTYPE_F16);
    CHECK_INT(info.fortran_order, 1);
    CHECK_INT(info.ndim, 2);
    CHECK_INT(info.nbytes, 4);
    /* Python 2 numpy wrote longs: numpy's reader strips the L in 1.0/2.0 */
    CHECK_RC(parse_dict("{'descr': '<f4', 'fortran_order': False, 'shape': (2L, 3L), }", &info), BA_OK);
    CHECK_INT(info.shape[1], 3);
    /* plain numeric types blendarray does not write */
    const char *others[] = {"<f8", "<i8", "|i1", ">u4", "<i2", "|b1", "<u8", ">f4", "<c8", "<c16"};
    size_t sizes[] = {8, 8, 1, 4, 2, 1, 8, 4, 8, 16};
    for (size_t i = 0; i < sizeof others / sizeof others[0]; ++i) {
        char dict[128];
        snprintf(dict, sizeof dict, "{'descr': '%s', 'fortran_order': False, 'shape': (4,), }",
                 others[i]);
        CHECK_RC(parse_dict(dict, &info), BA_OK);
        CHECK_INT(info.dtype, -1);
        CHECK_INT(info.itemsize, sizes[i]);
        CHECK_INT(info.nbytes, 4 * sizes[i]);
        CHECK(strcmp(info.descr, others[i]) == 0);
    }
    /* 8 dims is the most */
    CHECK_RC(parse_dict("{'descr': '|u1', 'fortran_order': False, 'shape': (1, 2, 3, 4, 5, 6, 7, 8), }",
                        &info), BA_OK);
    CHECK_INT(info.nbytes, 40320);
    /* a zero dim: empty, but the others' product must still fit */
    CHECK_RC(parse_dict("{'descr': '<f4', 'fortran_order': False, 'shape': (0, 9223372036854775807), }",
                        &info), BA_EOVERFLOW);
    CHECK_RC(parse_dict("{'descr': '|u1', 'fortran_order': False, 'shape': (0, 9223372036854775807), }",
                        &info), BA_OK);
    CHECK_INT(info.nbytes, 0);
}

static void test_rejected(void)
{
    static const char *bad[] = {
        "",
        "{}",
        "{'descr': '<f4', 'fortran_order': False}",
        "{'descr': '<f4', 'shape': (1,)}",
        "{'fortran_order': False, 'shape': (1,)}",
        "{'descr': '<f4', 'fortran_order': False, 'shape': (1,), 'extra': 1}",
        "{'descr': '<f4', 'descr': '<f4', 'fortran_order': False, 'shape': (1,)}",
        "{'descr': '<f4', 'fortran_order': False, 'shape': (5)}",
        "{'descr': '<f4', 'fortran_order': False, 'shape': [5]}",
        "{'descr': '<f4', 'fortran_order': False, 'shape': (-1,)}",
        "{'descr': '<f4', 'fortran_order': False, 'shape': (1.5,)}",
        "{'descr': '<f4', 'fortran_order': False, 'shape': (05,)}",
        "{'descr': '<f4', 'fortran_order': False, 'shape': (1,,)}",
        "{'descr': '<f4', 'fortran_order': False, 'shape': (,)}",
        "{'descr': '<f4', 'fortran_order': False, 'shape': (1 2)}",
        "{'descr': '<f4', 'fortran_order': False, 'shape': (1, 2, 3, 4, 5, 6, 7, 8, 9)}",
        "{'descr': '<f4', 'fortran_order': False, 'shape': (9223372036854775808,)}",
        "{'descr': '<f4', 'fortran_order': False, 'shape': (99999999999999999999999,)}",
        "{'descr': '<f4', 'fortran_order': false, 'shape': (1,)}",
        "{'descr': '<f4', 'fortran_order': Falsey, 'shape': (1,)}",
        "{'descr': '<f4', 'fortran_order': 0, 'shape': (1,)}",
        "{'descr': 'f4', 'fortran_order': False, 'shape': (1,)}",
        "{'descr': '<f3', 'fortran_order': False, 'shape': (1,)}",
        "{'descr': '<u1', 'fortran_order': False, 'shape': (1,)}",
        "{'descr': '|f4', 'fortran_order': False, 'shape': (1,)}",
        "{'descr': '<U4', 'fortran_order': False, 'shape': (1,)}",
        "{'descr': 'O', 'fortran_order': False, 'shape': (1,)}",
        "{'descr': '<M8[s]', 'fortran_order': False, 'shape': (1,)}",
        "{'descr': [('a', '<f4')], 'fortran_order': False, 'shape': (1,)}",
        "{'descr': '<f4\\', 'fortran_order': False, 'shape': (1,)}",
        "{'descr': '<f4, 'fortran_order': False, 'shape': (1,)}",
        "{'descr': '<f4' 'fortran_order': False, 'shape': (1,)}",
        "{'descr' '<f4', 'fortran_order': False, 'shape': (1,)}",
        "{'descr': '<f4', 'fortran_order': False, 'shape': (1,)},",
        "{'descr': '<f4', 'fortran_order': False, 'shape': (1,)}x",
        "['descr', '<f4']",
        "{'descr': '<f4', 'fortran_order': False, 'shape': (1,)",
        "{'descr': '<f4', 'fortran_order': False, 'shape': (1,),, }",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; ++i) {
        ba_npy_info info;
        int rc = parse_dict(bad[i], &info);
        if (rc != BA_EFORMAT && rc != BA_EOVERFLOW) T_REPORT("accepted %s (%d)", bad[i], rc);
    }

    /* framing: magic, version, final newline, padding */
    const struct np_case *c = &np_cases[0];
    char buf[256];
    ba_npy_info info;
    memcpy(buf, c->bytes, c->len);
    buf[1] = 'n';
    CHECK_RC(ba_npy_parse_header(buf, c->len, &info), BA_EFORMAT);
    CHECK_RC(ba_npy_parse_header(buf, 3, &info), BA_EFORMAT); /* a wrong magic prefix */
    memcpy(buf, c->bytes, c->len);
    buf[6] = 4;
    CHECK_RC(ba_npy_parse_header(buf, c->len, &info), BA_EFORMAT);
    buf[6] = 0;
    CHECK_RC(ba_npy_parse_header(buf, c->len, &info), BA_EFORMAT);
    buf[6] = 1;
    buf[7] = 1;
    CHECK_RC(ba_npy_parse_header(buf, c->len, &info), BA_EFORMAT);
    memcpy(buf, c->bytes, c->len);
    buf[c->len - 1] = ' ';
    CHECK_RC(ba_npy_parse_header(buf, c->len, &info), BA_EFORMAT);
    memcpy(buf, c->bytes, c->len);
    buf[c->len - 2] = 'x';
    CHECK_RC(ba_npy_parse_header(buf, c->len, &info), BA_EFORMAT);
    memcpy(buf, c->bytes, c->len);
    buf[8] = 0; /* header length 0 */
    CHECK_RC(ba_npy_parse_header(buf, c->len, &info), BA_EFORMAT);
    memcpy(buf, c->bytes, c->len);
    buf[8] = (char)0xff; /* claims more than there is */
    CHECK_RC(ba_npy_parse_header(buf, c->len, &info), BA_EBUFSIZE);

    CHECK_RC(ba_npy_parse_header(NULL, 10, &info), BA_EINVAL);
    CHECK_RC(ba_npy_parse_header(c->bytes, c->len, NULL), BA_EINVAL);
}

static void test_garbage(void)
{
    /* random mutations of a valid header never crash or read past the end */
    uint64_t seed = 0x1234567;
    const struct np_case *c = &np_cases[4];
    for (int iter = 0; iter < 20000; ++iter) {
        char *buf = malloc(c->len);
        REQUIRE(buf);
        memcpy(buf, c->bytes, c->len);
        int flips = 1 + (int)(t_rand(&seed) % 4);
        for (int f = 0; f < flips; ++f) buf[t_rand(&seed) % c->len] = (char)t_rand(&seed);
        size_t len = c->len - (t_rand(&seed) % 3 == 0 ? t_rand(&seed) % c->len : 0);
        ba_npy_info info;
        int rc = ba_npy_parse_header(buf, len, &info);
        if (rc == BA_OK) CHECK(info.data_offset <= len);
        free(buf);
    }
}

int main(void)
{
    RUN(test_numpy_headers);
    RUN(test_own_headers);
    RUN(test_accepted_variants);
    RUN(test_rejected);
    RUN(test_garbage);
    return t_summary();
}
