/* npyread.c — a strict parser of NPY headers (format versions 1.0, 2.0, 3.0).
 *
 * The header is a Python dict literal; NumPy reads it with ast.literal_eval.
 * This parser accepts the subset every NumPy writes: the keys 'descr',
 * 'fortran_order' and 'shape', each exactly once, in any order, quoted with
 * ' or "; a descr naming a plain numeric type; True/False; a tuple of
 * non-negative decimal integers (Python 2's "3L" in versions 1.0 and 2.0, as
 * numpy's own reader allows); whitespace between tokens; an optional
 * trailing comma; after the dict only spaces, then the final '\n'.
 * It never reads outside [data, data + size). */
#include <string.h>

#include "internal.h"

#define NPY_MAGIC "\x93NUMPY"
#define NPY_MAGIC_LEN 6

typedef struct cursor {
    const char *p;
    const char *end;
} cursor;

static int is_ws(char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
}

static void skip_ws(cursor *c)
{
    while (c->p < c->end && is_ws(*c->p)) ++c->p;
}

static int peek(const cursor *c)
{
    return c->p < c->end ? (unsigned char)*c->p : -1;
}

static int expect_char(cursor *c, char ch)
{
    skip_ws(c);
    if (c->p >= c->end || *c->p != ch) return -1;
    ++c->p;
    return 0;
}

/* A quoted string without escapes, at most cap - 1 bytes, into out. */
static int parse_string(cursor *c, char *out, size_t cap)
{
    skip_ws(c);
    if (c->p >= c->end) return -1;
    char q = *c->p;
    if (q != '\'' && q != '"') return -1;
    ++c->p;
    size_t n = 0;
    while (c->p < c->end && *c->p != q) {
        char ch = *c->p;
        if (ch == '\\' || ch == '\n' || ch == '\r' || n + 1 >= cap) return -1;
        out[n++] = ch;
        ++c->p;
    }
    if (c->p >= c->end) return -1;
    ++c->p; /* closing quote */
    out[n] = '\0';
    return 0;
}

static int is_ident_char(int ch)
{
    return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
           ch == '_';
}

static int parse_bool(cursor *c, int *out)
{
    skip_ws(c);
    size_t left = (size_t)(c->end - c->p);
    if (left >= 4 && memcmp(c->p, "True", 4) == 0) {
        c->p += 4;
        *out = 1;
    } else if (left >= 5 && memcmp(c->p, "False", 5) == 0) {
        c->p += 5;
        *out = 0;
    } else {
        return -1;
    }
    return is_ident_char(peek(c)) ? -1 : 0;
}

/* A non-negative decimal integer that fits int64 (numpy's intp). */
static int parse_uint(cursor *c, uint64_t *out, int allow_long)
{
    skip_ws(c);
    if (c->p >= c->end || *c->p < '0' || *c->p > '9') return -1;
    const char *start = c->p;
    uint64_t v = 0;
    while (c->p < c->end && *c->p >= '0' && *c->p <= '9') {
        if (v > ((uint64_t)INT64_MAX - (uint64_t)(*c->p - '0')) / 10) return -2;
        v = v * 10 + (uint64_t)(*c->p - '0');
        ++c->p;
    }
    if (c->p - start > 1 && *start == '0') return -1; /* "05" is not Python */
    if (allow_long && c->p < c->end && (*c->p == 'L' || *c->p == 'l')) ++c->p;
    if (is_ident_char(peek(c)) || peek(c) == '.') return -1;
    *out = v;
    return 0;
}

/* '(' ')' | '(' int ',' ')' | '(' int (',' int)+ [','] ')' */
static int parse_shape(cursor *c, ba_npy_info *info, int allow_long)
{
    if (expect_char(c, '(') != 0) return BA_EFORMAT;
    int ndim = 0;
    skip_ws(c);
    if (peek(c) == ')') {
        ++c->p;
        info->ndim = 0;
        return BA_OK;
    }
    int trailing_comma = 0;
    for (;;) {
        uint64_t v;
        if (ndim >= BA_NPY_MAX_DIMS) return BA_EFORMAT;
        int r = parse_uint(c, &v, allow_long);
        if (r == -2) return BA_EOVERFLOW;
        if (r != 0) return BA_EFORMAT;
        info->shape[ndim++] = v;
        skip_ws(c);
        trailing_comma = 0;
        if (peek(c) == ',') {
            ++c->p;
            trailing_comma = 1;
            skip_ws(c);
        }
        if (peek(c) == ')') {
            ++c->p;
            break;
        }
        if (!trailing_comma) return BA_EFORMAT;
    }
    if (ndim == 1 && !trailing_comma) return BA_EFORMAT; /* "(5)" is an int */
    info->ndim = ndim;
    return BA_OK;
}

/* A plain numeric descr: byte order, kind, size. Single-byte types use '|'
 * (as numpy spells them), wider ones '<' or '>'. */
static int parse_descr(const char *s, ba_npy_info *info)
{
    size_t n = strlen(s);
    if (n < 3 || n > 4) return BA_EFORMAT;
    char order = s[0], kind = s[1];
    size_t size = 0;
    for (size_t i = 2; i < n; ++i) {
        if (s[i] < '0' || s[i] > '9') return BA_EFORMAT;
        size = size * 10 + (size_t)(s[i] - '0');
    }
    if (s[2] == '0') return BA_EFORMAT;
    int ok = 0;
    switch (kind) {
    case 'b': ok = size == 1; break;
    case 'i':
    case 'u': ok = size == 1 || size == 2 || size == 4 || size == 8; break;
    case 'f': ok = size == 2 || size == 4 || size == 8; break;
    case 'c': ok = size == 8 || size == 16; break;
    default: ok = 0;
    }
    if (!ok) return BA_EFORMAT;
    if (size == 1 ? order != '|' : (order != '<' && order != '>')) return BA_EFORMAT;

    memcpy(info->descr, s, n + 1);
    info->itemsize = size;
    info->dtype = -1;
    static const struct {
        const char *descr;
        int dtype;
    } known[] = {
        {"<f4", BA_DTYPE_F32}, {"<f2", BA_DTYPE_F16}, {"|u1", BA_DTYPE_U8},
        {"<i4", BA_DTYPE_I32}, {"<u2", BA_DTYPE_U16}, {"<u4", BA_DTYPE_U32},
    };
    for (size_t i = 0; i < sizeof known / sizeof known[0]; ++i)
        if (strcmp(s, known[i].descr) == 0) info->dtype = known[i].dtype;
    return BA_OK;
}

int ba_npy_parse_header(const void *data, size_t size, ba_npy_info *info)
{
    if (!data || !info) return BA_EINVAL;
    memset(info, 0, sizeof *info);
    info->dtype = -1;
    const unsigned char *b = data;

    /* magic: a short buffer that matches so far just needs more bytes */
    size_t m = size < NPY_MAGIC_LEN ? size : NPY_MAGIC_LEN;
    if (memcmp(b, NPY_MAGIC, m) != 0) return BA_EFORMAT;
    if (size < 8) return BA_EBUFSIZE;
    int major = b[6], minor = b[7];
    if (minor != 0 || major < 1 || major > 3) return BA_EFORMAT;
    size_t prefix = major == 1 ? 10 : 12;
    if (size < prefix) return BA_EBUFSIZE;
    uint64_t hlen = major == 1 ? (uint64_t)b[8] | (uint64_t)b[9] << 8
                               : (uint64_t)b[8] | (uint64_t)b[9] << 8 | (uint64_t)b[10] << 16 |
                                     (uint64_t)b[11] << 24;
    uint64_t total = prefix + hlen;
    if (hlen < 2) return BA_EFORMAT; /* at least "{}"... and the '\n' */
    if (size < total) return BA_EBUFSIZE;

    const char *h = (const char *)b + prefix;
    if (h[hlen - 1] != '\n') return BA_EFORMAT;
    cursor c = {h, h + hlen - 1};
    int allow_long = major <= 2;

    if (expect_char(&c, '{') != 0) return BA_EFORMAT;
    int have_descr = 0, have_order = 0, have_shape = 0;
    for (;;) {
        skip_ws(&c);
        if (peek(&c) == '}') {
            ++c.p;
            break;
        }
        char key[16];
        if (parse_string(&c, key, sizeof key) != 0) return BA_EFORMAT;
        if (expect_char(&c, ':') != 0) return BA_EFORMAT;
        int err;
        if (strcmp(key, "descr") == 0) {
            if (have_descr++) return BA_EFORMAT;
            char descr[16];
            if (parse_string(&c, descr, sizeof descr) != 0) return BA_EFORMAT;
            if ((err = parse_descr(descr, info)) != BA_OK) return err;
        } else if (strcmp(key, "fortran_order") == 0) {
            if (have_order++) return BA_EFORMAT;
            if (parse_bool(&c, &info->fortran_order) != 0) return BA_EFORMAT;
        } else if (strcmp(key, "shape") == 0) {
            if (have_shape++) return BA_EFORMAT;
            if ((err = parse_shape(&c, info, allow_long)) != BA_OK) return err;
        } else {
            return BA_EFORMAT;
        }
        skip_ws(&c);
        if (peek(&c) == ',') {
            ++c.p;
            continue;
        }
        if (peek(&c) == '}') {
            ++c.p;
            break;
        }
        return BA_EFORMAT;
    }
    if (!have_descr || !have_order || !have_shape) return BA_EFORMAT;
    /* numpy pads with spaces up to the final '\n' */
    while (c.p < c.end) {
        if (*c.p != ' ') return BA_EFORMAT;
        ++c.p;
    }

    /* sizes: like numpy, the non-zero dimensions' product must not overflow
     * even when another dimension is 0 */
    uint64_t bytes = info->itemsize, prod = 1;
    int empty = 0;
    for (int i = 0; i < info->ndim; ++i) {
        if (info->shape[i] == 0) {
            empty = 1;
            continue;
        }
        if (__builtin_mul_overflow(bytes, info->shape[i], &bytes) || bytes > (uint64_t)INT64_MAX)
            return BA_EOVERFLOW;
        if (__builtin_mul_overflow(prod, info->shape[i], &prod)) return BA_EOVERFLOW;
    }
    info->nbytes = empty ? 0 : bytes;
    if (__builtin_add_overflow(info->nbytes, total, &bytes)) return BA_EOVERFLOW;
    info->data_offset = total;
    return BA_OK;
}
