/* labels.c — instances of an instance-id image in one pass (area, tight box,
 * COCO run-length encoding per id), COCO's compressed RLE strings,
 * Cryptomatte ids and optical flow from Blender's vector pass. */
#include <stdlib.h> /* malloc, realloc, free, qsort */
#include <string.h> /* memcpy, memset */

#include "internal.h"

typedef struct inst {
    uint32_t id;
    uint32_t x0, y0, x1, y1; /* box, inclusive */
    uint32_t last_end;       /* position after this id's last run */
    uint64_t area;
    uint32_t *counts;
    size_t n, cap;
} inst;

struct ba_instances {
    inst *v;
    size_t n;
};

/* Scan state: the instances so far and an open-addressing table id -> index. */
typedef struct finder {
    inst *v;
    size_t n, cap, max;
    uint32_t *keys, *slots; /* slots: index + 1, 0 empty */
    size_t mask;
    size_t h;
} finder;

static int push(inst *in, uint32_t c)
{
    if (in->n == in->cap) {
        size_t cap = in->cap ? in->cap * 2 : 8;
        if (cap > SIZE_MAX / sizeof *in->counts) return BA_ENOMEM;
        uint32_t *p = realloc(in->counts, cap * sizeof *p);
        if (!p) return BA_ENOMEM;
        in->counts = p;
        in->cap = cap;
    }
    in->counts[in->n++] = c;
    return BA_OK;
}

static size_t hash_slot(uint32_t id, size_t mask)
{
    /* MurmurHash3's finalizer: every bit of the id reaches the low bits the mask
     * keeps (Knuth's multiplicative hash alone put all multiples of 2^16 in one
     * slot, a scan of the whole table per pixel of such ids) */
    uint32_t h = id;
    h ^= h >> 16;
    h *= 0x85ebca6bu;
    h ^= h >> 13;
    h *= 0xc2b2ae35u;
    h ^= h >> 16;
    return (size_t)h & mask;
}

/* Double the table when it is half full, so probes stay short. */
static int grow_table(finder *f)
{
    size_t size = f->mask + 1, nsize;
    if (ba_mul_overflow(size, 2, &nsize) || nsize > SIZE_MAX / sizeof(uint32_t)) return BA_ENOMEM;
    uint32_t *keys = calloc(nsize, sizeof *keys), *slots = calloc(nsize, sizeof *slots);
    if (!keys || !slots) {
        free(keys);
        free(slots);
        return BA_ENOMEM;
    }
    size_t mask = nsize - 1;
    for (size_t i = 0; i < f->n; i++) {
        size_t s = hash_slot(f->v[i].id, mask);
        while (slots[s]) s = (s + 1) & mask;
        keys[s] = f->v[i].id;
        slots[s] = (uint32_t)(i + 1);
    }
    free(f->keys);
    free(f->slots);
    f->keys = keys;
    f->slots = slots;
    f->mask = mask;
    return BA_OK;
}

/* The index of `id`, added if new; BA_ERANGE beyond f->max instances. */
static int lookup(finder *f, uint32_t id, size_t *index)
{
    size_t s = hash_slot(id, f->mask);
    for (; f->slots[s]; s = (s + 1) & f->mask)
        if (f->keys[s] == id) {
            *index = f->slots[s] - 1;
            return BA_OK;
        }
    if (f->n >= f->max) return BA_ERANGE;
    if (f->n == f->cap) {
        size_t cap = f->cap * 2;
        if (cap > SIZE_MAX / sizeof *f->v) return BA_ENOMEM;
        inst *v = realloc(f->v, cap * sizeof *v);
        if (!v) return BA_ENOMEM;
        f->v = v;
        f->cap = cap;
    }
    if ((f->n + 1) * 2 > f->mask + 1) {
        int rc = grow_table(f);
        if (rc) return rc;
        s = hash_slot(id, f->mask);
        while (f->slots[s]) s = (s + 1) & f->mask;
    }
    inst *in = &f->v[f->n];
    memset(in, 0, sizeof *in);
    in->id = id;
    in->x0 = in->y0 = UINT32_MAX;
    f->keys[s] = id;
    f->slots[s] = (uint32_t)(f->n + 1); /* n < h * w <= UINT32_MAX */
    *index = f->n++;
    return BA_OK;
}

/* The run [start, end) of instance i, from (sx, sy) to (ex, ey) inclusive. */
static int add_run(finder *f, size_t i, uint32_t start, uint32_t end, uint32_t sx, uint32_t sy,
                   uint32_t ex, uint32_t ey)
{
    inst *in = &f->v[i];
    int rc = push(in, start - in->last_end);
    if (!rc) rc = push(in, end - start);
    if (rc) return rc;
    in->last_end = end;
    in->area += end - start;
    if (sx < in->x0) in->x0 = sx;
    if (ex > in->x1) in->x1 = ex;
    if (sx != ex) { /* it wraps from a column's bottom to the next one's top */
        sy = 0;
        ey = (uint32_t)f->h - 1;
    }
    if (sy < in->y0) in->y0 = sy;
    if (ey > in->y1) in->y1 = ey;
    return BA_OK;
}

static int by_id(const void *a, const void *b)
{
    uint32_t x = ((const inst *)a)->id, y = ((const inst *)b)->id;
    return (x > y) - (x < y);
}

static void free_insts(inst *v, size_t n)
{
    for (size_t i = 0; i < n; i++) free(v[i].counts);
    free(v);
}

/* The id of a raw pixel value; BA_ERANGE if it is not one. */
static inline int id_u8(uint8_t v, uint32_t *id) { *id = v; return BA_OK; }
static inline int id_u16(uint16_t v, uint32_t *id) { *id = v; return BA_OK; }
static inline int id_u32(uint32_t v, uint32_t *id) { *id = v; return BA_OK; }
static inline int id_i32(int32_t v, uint32_t *id)
{
    *id = (uint32_t)v;
    return v < 0 ? BA_ERANGE : BA_OK;
}
static inline int id_f32(float v, uint32_t *id)
{
    /* !(v >= 0) catches NaN; the cast is defined once v < 2^32 */
    if (!(v >= 0.0f && v < 4294967296.0f)) return BA_ERANGE;
    *id = (uint32_t)v;
    return (float)*id == v ? BA_OK : BA_ERANGE;
}

/* End the run of instance `cur` at position pos = (x, y): add it. */
static int end_run(finder *f, size_t *last, uint32_t cur, uint32_t start, uint32_t pos,
                   uint32_t sx, uint32_t sy, uint32_t x, uint32_t y)
{
    if (*last == SIZE_MAX || f->v[*last].id != cur) {
        int rc = lookup(f, cur, last);
        if (rc) return rc;
    }
    return y ? add_run(f, *last, start, pos, sx, sy, x, y - 1)
             : add_run(f, *last, start, pos, sx, sy, x - 1, (uint32_t)f->h - 1);
}

/* One pass in COCO's order, column by column. Reading a column of a
 * row-major image touches a cache line per pixel, but the lines of one
 * column (height * 64 bytes) stay in L2 for the next columns they hold.
 * A value is only converted (and checked) where it differs from the pixel
 * before: within a run it was checked already. */
#define SCAN(NAME, T, TO_ID)                                                                  \
    static int NAME(finder *f, const unsigned char *base, size_t h, size_t w, size_t stride,  \
                    size_t pstride)                                                           \
    {                                                                                         \
        uint32_t cur = 0, start = 0, sx = 0, sy = 0, id = 0;                                   \
        T raw = 0;                                                                            \
        size_t last = SIZE_MAX; /* index of the last id looked up */                          \
        int rc;                                                                               \
        for (size_t x = 0; x < w; x++) {                                                      \
            const unsigned char *p = base + x * pstride;                                      \
            for (size_t y = 0; y < h; y++, p += stride) {                                     \
                T v;                                                                          \
                memcpy(&v, p, sizeof v);                                                      \
                if (v == raw) continue;                                                       \
                if ((rc = TO_ID(v, &id))) return rc;                                          \
                raw = v;                                                                      \
                if (id == cur) continue;                                                      \
                uint32_t pos = (uint32_t)(x * h + y);                                         \
                if (cur && (rc = end_run(f, &last, cur, start, pos, sx, sy, (uint32_t)x,      \
                                         (uint32_t)y)))                                       \
                    return rc;                                                                \
                cur = id;                                                                     \
                start = pos;                                                                  \
                sx = (uint32_t)x;                                                             \
                sy = (uint32_t)y;                                                             \
            }                                                                                 \
        }                                                                                     \
        if (cur && (rc = end_run(f, &last, cur, start, (uint32_t)(h * w), sx, sy, (uint32_t)w, \
                                 0)))                                                         \
            return rc;                                                                        \
        return BA_OK;                                                                         \
    }
SCAN(scan_u8, uint8_t, id_u8)
SCAN(scan_u16, uint16_t, id_u16)
SCAN(scan_u32, uint32_t, id_u32)
SCAN(scan_i32, int32_t, id_i32)
SCAN(scan_f32, float, id_f32)
#undef SCAN

static int scan(finder *f, const unsigned char *base, int dtype, size_t h, size_t w,
                size_t row_stride, size_t ps)
{
    int rc;
    switch (dtype) {
    case BA_DTYPE_U8: rc = scan_u8(f, base, h, w, row_stride, ps); break;
    case BA_DTYPE_U16: rc = scan_u16(f, base, h, w, row_stride, ps); break;
    case BA_DTYPE_U32: rc = scan_u32(f, base, h, w, row_stride, ps); break;
    case BA_DTYPE_I32: rc = scan_i32(f, base, h, w, row_stride, ps); break;
    default: rc = scan_f32(f, base, h, w, row_stride, ps); break;
    }
    /* COCO's counts end with the last run, a background one if the mask
     * does not reach the last pixel */
    for (size_t i = 0; i < f->n && !rc; i++)
        if (f->v[i].last_end < h * w) rc = push(&f->v[i], (uint32_t)(h * w - f->v[i].last_end));
    return rc;
}

int ba_instances_find(ba_instances **out, const void *ids, int dtype, size_t height,
                      size_t width, size_t row_stride, size_t pixel_stride,
                      size_t max_instances)
{
    if (!out) return BA_EINVAL;
    *out = NULL;
    if (!ids) return BA_EINVAL;
    size_t elem = 0;
    switch (dtype) {
    case BA_DTYPE_U8:
    case BA_DTYPE_U16:
    case BA_DTYPE_U32:
    case BA_DTYPE_I32:
    case BA_DTYPE_F32: elem = ba_dtype_size(dtype); break;
    default: return BA_EUNSUPPORTED;
    }
    size_t pixels, row_bytes, span;
    if (ba_mul_overflow(height, width, &pixels) || pixels > UINT32_MAX) return BA_EOVERFLOW;
    if (pixel_stride == 0) pixel_stride = elem;
    if (pixel_stride < elem) return BA_EINVAL;
    /* the bytes a row spans: its last pixel starts (width - 1) strides in */
    if (width && (ba_mul_overflow(width - 1, pixel_stride, &row_bytes) ||
                  row_bytes > SIZE_MAX - elem))
        return BA_EOVERFLOW;
    row_bytes = width ? row_bytes + elem : 0;
    /* one row: its stride is never used (NumPy gives an axis of length 1 any
     * stride, e.g. the transpose of an (N, 1) array) */
    if (height <= 1) row_stride = row_bytes;
    if (row_stride == 0 && ba_mul_overflow(width, pixel_stride, &row_stride)) /* packed rows */
        return BA_EOVERFLOW;
    if (row_stride < row_bytes) return BA_EINVAL;
    if (ba_image_span(height, row_stride, row_bytes, &span)) return BA_EOVERFLOW;

    ba_instances *res = calloc(1, sizeof *res);
    if (!res) return BA_ENOMEM;
    if (pixels == 0) {
        *out = res;
        return BA_OK;
    }
    finder f = {.cap = 16, .max = max_instances, .mask = 63, .h = height};
    f.v = malloc(f.cap * sizeof *f.v);
    f.keys = calloc(f.mask + 1, sizeof *f.keys);
    f.slots = calloc(f.mask + 1, sizeof *f.slots);
    int rc = f.v && f.keys && f.slots ? scan(&f, ids, dtype, height, width, row_stride,
                                             pixel_stride)
                                      : BA_ENOMEM;
    free(f.keys);
    free(f.slots);
    if (rc) {
        free_insts(f.v, f.n);
        free(res);
        return rc;
    }
    qsort(f.v, f.n, sizeof *f.v, by_id);
    res->v = f.v;
    res->n = f.n;
    *out = res;
    return BA_OK;
}

size_t ba_instances_count(const ba_instances *in)
{
    return in ? in->n : 0;
}

static const inst *instance(const ba_instances *in, size_t i)
{
    return in && i < in->n ? &in->v[i] : NULL;
}

uint32_t ba_instances_id(const ba_instances *in, size_t i)
{
    const inst *p = instance(in, i);
    return p ? p->id : 0;
}

uint64_t ba_instances_area(const ba_instances *in, size_t i)
{
    const inst *p = instance(in, i);
    return p ? p->area : 0;
}

void ba_instances_box(const ba_instances *in, size_t i, uint32_t box[4])
{
    if (!box) return;
    const inst *p = instance(in, i);
    if (!p) {
        memset(box, 0, 4 * sizeof *box);
        return;
    }
    box[0] = p->x0;
    box[1] = p->y0;
    box[2] = p->x1 - p->x0 + 1;
    box[3] = p->y1 - p->y0 + 1;
}

const uint32_t *ba_instances_rle(const ba_instances *in, size_t i, size_t *n)
{
    const inst *p = instance(in, i);
    if (n) *n = p ? p->n : 0;
    return p ? p->counts : NULL;
}

void ba_instances_free(ba_instances *in)
{
    if (!in) return;
    free_insts(in->v, in->n);
    free(in);
}

/* ---------------------------------------------------------------------- */
/* COCO's compressed RLE (pycocotools maskApi.c rleToString/rleFrString):
 * each count, from the fourth on as the difference to the count two
 * before, in little-endian groups of 5 bits, two's complement; bit 5 of a
 * character says more follow; character = 48 + 6 bits. A difference of
 * two uint32 needs 33 bits: at most 7 characters. */
#define RLE_MAX_CHARS 7

size_t ba_rle_string_bound(size_t n)
{
    if (n > (SIZE_MAX - 1) / RLE_MAX_CHARS) return SIZE_MAX;
    return n * RLE_MAX_CHARS + 1;
}

int ba_rle_to_string(const uint32_t *counts, size_t n, char *dst, size_t cap, size_t *len)
{
    if ((!counts && n) || !dst) return BA_EINVAL;
    size_t p = 0;
    for (size_t i = 0; i < n; i++) {
        int64_t x = counts[i];
        if (i > 2) x -= counts[i - 2];
        int more = 1;
        while (more) {
            int c = (int)(x & 0x1f);
            x >>= 5; /* arithmetic: gcc and clang define it so */
            more = (c & 0x10) ? x != -1 : x != 0;
            if (more) c |= 0x20;
            if (p + 1 >= cap) return BA_EBUFSIZE; /* room for it and the NUL */
            dst[p++] = (char)(c + 48);
        }
    }
    if (cap == 0) return BA_EBUFSIZE;
    dst[p] = '\0';
    if (len) *len = p;
    return BA_OK;
}

/* The count that starts at s[*p] (the string's m-th), its delta undone with
 * prev2 (count m - 2); *p moves past it. BA_EFORMAT for a malformed one. */
static int rle_next(const char *s, size_t len, size_t *p, size_t m, int64_t prev2, int64_t *out)
{
    int64_t x = 0;
    int k = 0, more = 1;
    while (more) {
        if (*p >= len || k >= RLE_MAX_CHARS) return BA_EFORMAT;
        int c = (unsigned char)s[(*p)++] - 48;
        if (c < 0 || c > 63) return BA_EFORMAT;
        x |= (int64_t)(c & 0x1f) << (5 * k);
        more = c & 0x20;
        k++;
        if (!more && (c & 0x10)) x -= (int64_t)1 << (5 * k); /* sign-extend */
    }
    if (m > 2) x += prev2;
    if (x < 0 || x > UINT32_MAX) return BA_EFORMAT;
    *out = x;
    return BA_OK;
}

/* Every count of the string in order, to fn (whose non-zero value stops the
 * walk and is returned); BA_EFORMAT for a malformed string. */
typedef int (*rle_fn)(void *user, size_t m, uint32_t count);

static int rle_walk(const char *s, size_t len, rle_fn fn, void *user)
{
    size_t m = 0, p = 0;
    int64_t prev2 = 0, prev1 = 0, x; /* counts[m - 2], counts[m - 1] */
    while (p < len) {
        int rc = rle_next(s, len, &p, m, prev2, &x);
        if (!rc) rc = fn(user, m, (uint32_t)x);
        if (rc) return rc;
        m++;
        prev2 = prev1;
        prev1 = x;
    }
    return BA_OK;
}

typedef struct {
    uint32_t *counts;
    size_t cap, n;
} rle_store;

static int store_count(void *user, size_t m, uint32_t count)
{
    rle_store *st = user;
    if (m < st->cap) st->counts[m] = count;
    st->n = m + 1;
    return BA_OK;
}

int ba_rle_from_string(const char *s, size_t len, uint32_t *counts, size_t cap, size_t *n)
{
    if (!s || !n || (!counts && cap)) return BA_EINVAL;
    *n = 0;
    rle_store st = {counts, cap, 0};
    int rc = rle_walk(s, len, store_count, &st);
    if (rc) return rc;
    *n = st.n;
    return st.n > cap ? BA_EBUFSIZE : BA_OK;
}

typedef struct {
    uint64_t pixels, ones;
} rle_sums;

static int sum_count(void *user, size_t m, uint32_t count)
{
    rle_sums *sums = user;
    /* only a string of over 2^32 characters can get there */
    if (__builtin_add_overflow(sums->pixels, count, &sums->pixels)) return BA_EOVERFLOW;
    if (m % 2) sums->ones += count; /* at most pixels */
    return BA_OK;
}

int ba_rle_measure(const char *s, size_t len, uint64_t *pixels, uint64_t *ones)
{
    if (pixels) *pixels = 0;
    if (ones) *ones = 0;
    if (!s) return BA_EINVAL;
    rle_sums sums = {0, 0};
    int rc = rle_walk(s, len, sum_count, &sums);
    if (rc) return rc;
    if (pixels) *pixels = sums.pixels;
    if (ones) *ones = sums.ones;
    return BA_OK;
}

/* The sizes of a (height, width) mask at dst; *pixels its pixel count. */
static int mask_args(size_t height, size_t width, const uint8_t *dst, size_t *row_stride,
                     size_t *pixels)
{
    size_t span;
    if (!dst) return BA_EINVAL;
    if (ba_mul_overflow(height, width, pixels)) return BA_EOVERFLOW;
    if (*row_stride == 0) *row_stride = width;
    if (*row_stride < width) return BA_EINVAL;
    if (ba_image_span(height, *row_stride, width, &span)) return BA_EOVERFLOW;
    return BA_OK;
}

/* Paint the run of `len` ones starting at column-major position pos. */
static void paint_run(size_t pos, size_t len, size_t height, uint8_t *dst, size_t row_stride,
                      uint8_t value)
{
    if (!len) return; /* height may be 0 too */
    size_t x = pos / height, y = pos % height, left = len;
    while (left) {
        size_t run = height - y < left ? height - y : left;
        uint8_t *d = dst + y * row_stride + x;
        for (size_t k = 0; k < run; k++) d[k * row_stride] = value;
        left -= run;
        x++;
        y = 0;
    }
}

int ba_rle_decode(const uint32_t *counts, size_t n, size_t height, size_t width, uint8_t *dst,
                  size_t row_stride, uint8_t value)
{
    size_t pixels;
    if (!counts && n) return BA_EINVAL;
    int rc = mask_args(height, width, dst, &row_stride, &pixels);
    if (rc) return rc;
    uint64_t sum = 0;
    for (size_t i = 0; i < n; i++) {
        sum += counts[i]; /* n uint32 cannot wrap 64 bits before exceeding pixels */
        if (sum > pixels) return BA_EFORMAT;
    }
    if (sum != pixels) return BA_EFORMAT;
    size_t pos = 0;
    for (size_t i = 0; i < n; i++) {
        if (i % 2) paint_run(pos, counts[i], height, dst, row_stride, value);
        pos += counts[i];
    }
    return BA_OK;
}

typedef struct {
    size_t pos, height, row_stride;
    uint8_t *dst, value;
} rle_painter;

static int paint_count(void *user, size_t m, uint32_t count)
{
    rle_painter *p = user;
    if (m % 2) paint_run(p->pos, count, p->height, p->dst, p->row_stride, p->value);
    p->pos += count;
    return BA_OK;
}

int ba_rle_decode_string(const char *s, size_t len, size_t height, size_t width, uint8_t *dst,
                         size_t row_stride, uint8_t value)
{
    size_t pixels;
    if (!s) return BA_EINVAL;
    int rc = mask_args(height, width, dst, &row_stride, &pixels);
    if (rc) return rc;
    /* the whole string is checked before a pixel is painted: dst untouched on error */
    uint64_t total;
    rc = ba_rle_measure(s, len, &total, NULL);
    if (rc) return rc;
    if (total != pixels) return BA_EFORMAT;
    rle_painter p = {0, height, row_stride, dst, value};
    return rle_walk(s, len, paint_count, &p);
}

/* ---------------------------------------------------------------------- */

static uint32_t rotl32(uint32_t x, int r)
{
    return (x << r) | (x >> (32 - r));
}

uint32_t ba_cryptomatte_hash(const char *name, size_t len)
{
    /* MurmurHash3_x86_32 (Austin Appleby, public domain), seed 0 */
    const unsigned char *d = (const unsigned char *)name;
    if (!d) len = 0;
    const uint32_t c1 = 0xcc9e2d51u, c2 = 0x1b873593u;
    uint32_t h = 0, k;
    size_t blocks = len / 4;
    for (size_t i = 0; i < blocks; i++) {
        k = (uint32_t)d[4 * i] | (uint32_t)d[4 * i + 1] << 8 | (uint32_t)d[4 * i + 2] << 16 |
            (uint32_t)d[4 * i + 3] << 24;
        k *= c1;
        k = rotl32(k, 15);
        k *= c2;
        h ^= k;
        h = rotl32(h, 13);
        h = h * 5 + 0xe6546b64u;
    }
    const unsigned char *tail = d + blocks * 4;
    k = 0;
    switch (len & 3) {
    case 3: k ^= (uint32_t)tail[2] << 16; /* fall through */
    case 2: k ^= (uint32_t)tail[1] << 8;  /* fall through */
    case 1:
        k ^= tail[0];
        k *= c1;
        k = rotl32(k, 15);
        k *= c2;
        h ^= k;
    }
    h ^= (uint32_t)len;
    h ^= h >> 16;
    h *= 0x85ebca6bu;
    h ^= h >> 13;
    h *= 0xc2b2ae35u;
    h ^= h >> 16;
    return h;
}

uint32_t ba_cryptomatte_id(uint32_t hash)
{
    uint32_t exponent = (hash >> 23) & 0xffu;
    if (exponent < 1) exponent = 1;
    if (exponent > 254) exponent = 254;
    return (hash & 0x80000000u) | exponent << 23 | (hash & 0x7fffffu);
}

int ba_flow_from_vector(const float *vector, size_t height, size_t width, float *forward,
                        float *backward)
{
    if (!vector) return BA_EINVAL;
    size_t pixels, bytes;
    if (ba_mul_overflow(height, width, &pixels) || ba_mul_overflow(pixels, 4 * sizeof(float), &bytes))
        return BA_EOVERFLOW;
    for (size_t i = 0; i < pixels; i++) {
        const float *v = vector + 4 * i;
        if (forward) {
            forward[2 * i] = -v[2];
            forward[2 * i + 1] = v[3];
        }
        if (backward) {
            backward[2 * i] = v[0];
            backward[2 * i + 1] = -v[1];
        }
    }
    return BA_OK;
}

int ba_cryptomatte_coverage(float *out, const float *pass, size_t height, size_t width,
                            uint32_t id)
{
    if (!out || !pass) return BA_EINVAL;
    size_t pixels, bytes;
    if (ba_mul_overflow(height, width, &pixels) || ba_mul_overflow(pixels, 4 * sizeof(float), &bytes))
        return BA_EOVERFLOW;
    for (size_t i = 0; i < pixels; i++) {
        const float *p = pass + 4 * i;
        uint32_t a, b;
        memcpy(&a, &p[0], sizeof a); /* ids compare as bits: a float's == would */
        memcpy(&b, &p[2], sizeof b); /* let -0 equal 0 and NaN equal nothing */
        /* rank by rank, as Blender's Cryptomatte node adds them */
        if (a == id) out[i] += p[1];
        if (b == id) out[i] += p[3];
    }
    return BA_OK;
}
