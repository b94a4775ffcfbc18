/* exr.c — scanline EXR reading through OpenEXRCore's C API.
 *
 * The file is read through custom read/size callbacks (a memory buffer or
 * pread() on a file descriptor), OpenEXRCore's error handler writes its
 * messages into the ba_exr object instead of stderr, and ba_exr_read_many()
 * decodes chunk by chunk, in one pass, straight into the callers' interleaved
 * buffers (each channel aimed at its target with decode_to_ptr /
 * user_pixel_stride / user_line_stride), letting the library widen HALF
 * (and convert UINT) to FLOAT. ba_exr_read() is its one-target case. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sys/mman.h> /* mmap */

#include <openexr.h>

#include "internal.h"

enum { SRC_MEMORY, SRC_FD };

struct ba_exr {
    exr_context_t ctx;
    int src;             /* SRC_MEMORY or SRC_FD */
    const uint8_t *data; /* SRC_MEMORY */
    size_t size;         /* bytes available (memory size or fstat size) */
    int fd;              /* SRC_FD */
    int owns_fd;         /* ba_exr_open_file: close the fd in ba_exr_close */
    int io_errno;        /* a pread() failed (not a plain end of file) */
    void *map;           /* ba_exr_open_fd: the file mapped (SRC_MEMORY over it), or NULL */
    size_t map_len;

    exr_attr_box2i_t dw;
    int32_t width, height;
    const exr_attr_chlist_t *chlist;

    char msg[512];
};

/* ---------------------------------------------------------------------- */
/*  messages                                                               */
/* ---------------------------------------------------------------------- */

static void set_msg(ba_exr *e, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void set_msg(ba_exr *e, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(e->msg, sizeof e->msg, fmt, ap);
    va_end(ap);
}

/* OpenEXRCore reports through this instead of printing to stderr. The first
 * message of an operation is usually the most specific; keep it. */
static void error_handler(exr_const_context_t ctxt, exr_result_t code, const char *msg)
{
    void *ud = NULL;
    if (!ctxt || exr_get_user_data(ctxt, &ud) != EXR_ERR_SUCCESS || !ud) return;
    ba_exr *e = ud;
    if (e->msg[0]) return;
    set_msg(e, "%s: %s", exr_get_error_code_as_string(code), msg ? msg : "");
}

/* Make sure a failed call leaves a message, then map its code. */
static int fail(ba_exr *e, exr_result_t rv, const char *what)
{
    if (!e->msg[0])
        set_msg(e, "%s: %s: %s", what, exr_get_error_code_as_string(rv),
                exr_get_default_error_message(rv));
    if (e->io_errno) return BA_EIO;
    switch (rv) {
    case EXR_ERR_OUT_OF_MEMORY: return BA_ENOMEM;
    case EXR_ERR_FEATURE_NOT_IMPLEMENTED: return BA_EUNSUPPORTED;
    case EXR_ERR_READ_IO: return BA_EFORMAT; /* a short read: truncated */
    /* ba_* arguments are checked before OpenEXRCore sees them, so anything
     * else (INVALID_ARGUMENT included: "chunk table too big for file") is
     * about the file */
    default: return BA_EFORMAT;
    }
}

/* ---------------------------------------------------------------------- */
/*  stream callbacks                                                       */
/* ---------------------------------------------------------------------- */

static int64_t read_cb(exr_const_context_t ctxt, void *userdata, void *buffer, uint64_t sz,
                       uint64_t offset, exr_stream_error_func_ptr_t error_cb)
{
    ba_exr *e = userdata;
    if (sz > (uint64_t)INT64_MAX) sz = (uint64_t)INT64_MAX;
    if (offset >= e->size) return 0;
    uint64_t avail = e->size - offset;
    size_t n = (size_t)(sz < avail ? sz : avail);

    if (e->src == SRC_MEMORY) {
        memcpy(buffer, e->data + offset, n);
        return (int64_t)n;
    }
    long long got = ba_internal_pread_full(e->fd, buffer, n, offset);
    if (got < 0) {
        int err = errno;
        e->io_errno = err ? err : EIO;
        if (error_cb)
            error_cb(ctxt, EXR_ERR_READ_IO, "pread of %llu bytes at offset %llu failed: %s",
                     (unsigned long long)n, (unsigned long long)offset, strerror(err));
        errno = err;
        return -1;
    }
    return (int64_t)got;
}

static int64_t size_cb(exr_const_context_t ctxt, void *userdata)
{
    (void)ctxt;
    ba_exr *e = userdata;
    return e->size > (size_t)INT64_MAX ? INT64_MAX : (int64_t)e->size;
}

/* ---------------------------------------------------------------------- */
/*  open / close                                                           */
/* ---------------------------------------------------------------------- */

static int parse_header(ba_exr *e)
{
    exr_context_initializer_t init = EXR_DEFAULT_CONTEXT_INITIALIZER;
    init.error_handler_fn = error_handler;
    init.user_data = e;
    init.read_fn = read_cb;
    init.size_fn = size_cb;
    /* a damaged chunk table is an error, not something to search around */
    init.flags = EXR_CONTEXT_FLAG_DISABLE_CHUNK_RECONSTRUCTION;

    exr_result_t rv = exr_start_read(&e->ctx, e->src == SRC_FD ? "<fd>" : "<memory>", &init);
    if (rv != EXR_ERR_SUCCESS) {
        e->ctx = NULL; /* exr_start_read cleans up after itself */
        return fail(e, rv, "exr_start_read");
    }

    int parts = 0;
    rv = exr_get_count(e->ctx, &parts);
    if (rv != EXR_ERR_SUCCESS) return fail(e, rv, "exr_get_count");
    if (parts != 1) {
        set_msg(e, "multipart EXR (%d parts) is not supported", parts);
        return BA_EUNSUPPORTED;
    }

    exr_storage_t storage;
    rv = exr_get_storage(e->ctx, 0, &storage);
    if (rv != EXR_ERR_SUCCESS) return fail(e, rv, "exr_get_storage");
    if (storage != EXR_STORAGE_SCANLINE) {
        set_msg(e, "%s EXR is not supported, only scanline images",
                storage == EXR_STORAGE_TILED ? "tiled" : "deep");
        return BA_EUNSUPPORTED;
    }

    rv = exr_get_data_window(e->ctx, 0, &e->dw);
    if (rv != EXR_ERR_SUCCESS) return fail(e, rv, "exr_get_data_window");
    int64_t w = (int64_t)e->dw.max.x - e->dw.min.x + 1;
    int64_t h = (int64_t)e->dw.max.y - e->dw.min.y + 1;
    if (w <= 0 || h <= 0 || w > INT32_MAX || h > INT32_MAX) {
        set_msg(e, "invalid data window (%d, %d) - (%d, %d)", e->dw.min.x, e->dw.min.y,
                e->dw.max.x, e->dw.max.y);
        return BA_EFORMAT;
    }
    e->width = (int32_t)w;
    e->height = (int32_t)h;

    rv = exr_get_channels(e->ctx, 0, &e->chlist);
    if (rv != EXR_ERR_SUCCESS) return fail(e, rv, "exr_get_channels");
    if (!e->chlist || e->chlist->num_channels < 1 || !e->chlist->entries) {
        set_msg(e, "the file has no channels");
        return BA_EFORMAT;
    }
    for (int i = 0; i < e->chlist->num_channels; ++i)
        if (!e->chlist->entries[i].name.str) {
            set_msg(e, "channel %d has no name", i);
            return BA_EFORMAT;
        }
    e->msg[0] = '\0';
    return BA_OK;
}

static int open_common(ba_exr **out, ba_exr *e)
{
    int err = parse_header(e);
    if (err != BA_OK) {
        int saved = errno;
        ba_exr_close(e);
        errno = saved;
        return err;
    }
    *out = e;
    return BA_OK;
}

static ba_exr *alloc_exr(void)
{
    ba_exr *e = calloc(1, sizeof *e);
    if (e) e->fd = -1;
    return e;
}

int ba_exr_open_memory(ba_exr **out, const void *data, size_t size)
{
    if (!out) return BA_EINVAL;
    *out = NULL;
    if (!data) return BA_EINVAL;
    ba_exr *e = alloc_exr();
    if (!e) return BA_ENOMEM;
    e->src = SRC_MEMORY;
    e->data = data;
    e->size = size;
    return open_common(out, e);
}

/* On failure an owned fd is closed here, whether or not an object was made. */
static int open_fd_impl(ba_exr **out, int fd, int owns)
{
    struct stat st;
    int err = BA_OK;
    if (fstat(fd, &st) != 0 || st.st_size < 0) {
        err = BA_EIO;
    } else {
        ba_exr *e = alloc_exr();
        if (!e) {
            err = BA_ENOMEM;
        } else {
            e->src = SRC_FD;
            e->fd = fd;
            e->owns_fd = owns;
            e->size = (uint64_t)st.st_size > SIZE_MAX ? SIZE_MAX : (size_t)st.st_size;
            /* A caller's fd (Blender's memfd): map it, so chunks are read with no
             * syscall each (4x faster for an uncompressed 640x480 frame). Not for
             * ba_exr_open_file: a user's file shrinking under a mapping is SIGBUS. */
            if (!owns && S_ISREG(st.st_mode) && e->size > 0) {
                void *m = mmap(NULL, e->size, PROT_READ, MAP_PRIVATE, fd, 0);
                if (m != MAP_FAILED) {
                    e->map = m;
                    e->map_len = e->size;
                    e->src = SRC_MEMORY;
                    e->data = m;
                }
            }
            return open_common(out, e); /* ba_exr_close closes an owned fd */
        }
    }
    if (owns) {
        int saved = errno;
        close(fd);
        errno = saved;
    }
    return err;
}

int ba_exr_open_fd(ba_exr **out, int fd)
{
    if (!out) return BA_EINVAL;
    *out = NULL;
    if (fd < 0) return BA_EINVAL;
    return open_fd_impl(out, fd, 0);
}

int ba_exr_open_file(ba_exr **out, const char *path)
{
    if (!out) return BA_EINVAL;
    *out = NULL;
    if (!path) return BA_EINVAL;
    int fd;
    do
        fd = open(path, O_RDONLY | O_CLOEXEC);
    while (fd < 0 && errno == EINTR);
    if (fd < 0) return BA_EIO;
    return open_fd_impl(out, fd, 1);
}

void ba_exr_close(ba_exr *e)
{
    if (!e) return;
    if (e->ctx) exr_finish(&e->ctx);
    if (e->map) munmap(e->map, e->map_len);
    if (e->owns_fd && e->fd >= 0) close(e->fd);
    free(e);
}

/* ---------------------------------------------------------------------- */
/*  queries                                                                */
/* ---------------------------------------------------------------------- */

const char *ba_exr_message(const ba_exr *e)
{
    return e ? e->msg : "";
}

int ba_exr_size(const ba_exr *e, int32_t *width, int32_t *height)
{
    if (!e || !width || !height) return BA_EINVAL;
    *width = e->width;
    *height = e->height;
    return BA_OK;
}

int ba_exr_channel_count(const ba_exr *e)
{
    return e ? e->chlist->num_channels : 0;
}

const char *ba_exr_channel_name(const ba_exr *e, int index)
{
    if (!e || index < 0 || index >= e->chlist->num_channels) return NULL;
    return e->chlist->entries[index].name.str;
}

int ba_exr_channel_type(const ba_exr *e, int index)
{
    if (!e || index < 0 || index >= e->chlist->num_channels) return -1;
    switch (e->chlist->entries[index].pixel_type) {
    case EXR_PIXEL_UINT: return BA_EXR_UINT;
    case EXR_PIXEL_HALF: return BA_EXR_HALF;
    case EXR_PIXEL_FLOAT: return BA_EXR_FLOAT;
    default: return -1;
    }
}

/* ---------------------------------------------------------------------- */
/*  decoding                                                               */
/* ---------------------------------------------------------------------- */

static int find_channel(const ba_exr *e, const char *name)
{
    for (int i = 0; i < e->chlist->num_channels; ++i)
        if (strcmp(e->chlist->entries[i].name.str, name) == 0) return i;
    return -1;
}

/* Where one request (target t, slot j) lives. */
struct slot {
    int t, j;
};

/* A request answered by copying another (decoded) slot afterwards. */
struct dup {
    struct slot from, to;
};

static uint8_t *slot_ptr(const ba_exr_target *targets, struct slot s, size_t row)
{
    const ba_exr_target *tg = &targets[s.t];
    return (uint8_t *)tg->dst + row * tg->row_stride + (size_t)s.j * 4;
}

enum { SLOT_NONE = -1, SLOT_SCRATCH = -2 };

/* Point the decoder's channels at this chunk's rows of their targets.
 * by_chan[c]: the slot decoder channel c is decoded into; t is SLOT_NONE
 * for a channel not decoded, SLOT_SCRATCH for one decoded into the one-row
 * scratch buffer (line stride 0) and thrown away. */
static void aim_channels(exr_decode_pipeline_t *dec, const struct slot *by_chan,
                         const ba_exr_target *targets, float *scratch, int32_t row0)
{
    for (int c = 0; c < dec->channel_count; ++c) {
        exr_coding_channel_info_t *ch = &dec->channels[c];
        struct slot s = by_chan[c];
        if (s.t == SLOT_NONE) {
            ch->decode_to_ptr = NULL;
            continue;
        }
        ch->user_data_type = EXR_PIXEL_FLOAT;
        ch->user_bytes_per_element = 4;
        if (s.t == SLOT_SCRATCH) {
            ch->user_pixel_stride = 4;
            ch->user_line_stride = 0;
            ch->decode_to_ptr = (uint8_t *)scratch;
            continue;
        }
        const ba_exr_target *tg = &targets[s.t];
        ch->user_pixel_stride = (int32_t)((size_t)tg->n * 4);
        ch->user_line_stride = (int32_t)tg->row_stride;
        ch->decode_to_ptr = slot_ptr(targets, s, (size_t)row0);
    }
}

/* Copy duplicated requests for rows [row0, row0 + rows). */
static void copy_dups(const ba_exr_target *targets, const struct dup *dups, int ndup,
                      int32_t width, int32_t row0, int32_t rows)
{
    for (int d = 0; d < ndup; ++d) {
        size_t from_inc = (size_t)targets[dups[d].from.t].n;
        size_t to_inc = (size_t)targets[dups[d].to.t].n;
        for (int32_t y = row0; y < row0 + rows; ++y) {
            const float *src = (const float *)slot_ptr(targets, dups[d].from, (size_t)y);
            float *dst = (float *)slot_ptr(targets, dups[d].to, (size_t)y);
            for (int32_t x = 0; x < width; ++x) dst[(size_t)x * to_inc] = src[(size_t)x * from_inc];
        }
    }
}

/* Per-target messages name the target when there are several. */
static void set_target_msg(ba_exr *e, int count, int t, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static void set_target_msg(ba_exr *e, int count, int t, const char *fmt, ...)
{
    int off = 0;
    if (count > 1) {
        off = snprintf(e->msg, sizeof e->msg, "target %d: ", t);
        if (off < 0 || (size_t)off >= sizeof e->msg) off = 0;
    }
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(e->msg + off, sizeof e->msg - (size_t)off, fmt, ap);
    va_end(ap);
}

/* Argument and size checks of one target, before anything is decoded. */
static int check_target(ba_exr *e, const ba_exr_target *tg, int count, int t)
{
    if (!tg->names || tg->n < 1 || !tg->dst) {
        set_target_msg(e, count, t, "invalid argument");
        return BA_EINVAL;
    }
    size_t pixel_bytes, row_bytes, need;
    if (ba_mul_overflow((size_t)tg->n, 4, &pixel_bytes) ||
        ba_mul_overflow(pixel_bytes, (size_t)e->width, &row_bytes)) {
        set_target_msg(e, count, t, "row size overflows");
        return BA_EOVERFLOW;
    }
    if (pixel_bytes > INT32_MAX || tg->row_stride > INT32_MAX) {
        set_target_msg(e, count, t, "pixel or row stride above INT32_MAX bytes");
        return BA_EOVERFLOW;
    }
    if (tg->row_stride < row_bytes || tg->row_stride % 4 != 0 || ((uintptr_t)tg->dst & 3u) != 0) {
        set_target_msg(e, count, t, "row_stride %zu invalid: need a multiple of 4, at least %zu",
                       tg->row_stride, row_bytes);
        return BA_EINVAL;
    }
    if (ba_image_span((size_t)e->height, tg->row_stride, row_bytes, &need)) {
        set_target_msg(e, count, t, "image size overflows");
        return BA_EOVERFLOW;
    }
    if (tg->dst_size < need) {
        set_target_msg(e, count, t, "buffer of %zu bytes, %zu needed", tg->dst_size, need);
        return BA_EBUFSIZE;
    }
    return BA_OK;
}

int ba_exr_read_many(ba_exr *e, const ba_exr_target *targets, int count)
{
    if (!e) return BA_EINVAL;
    e->msg[0] = '\0';
    e->io_errno = 0;
    if (!e->ctx) return BA_ESTATE;
    if (!targets || count < 1) {
        set_msg(e, "invalid argument");
        return BA_EINVAL;
    }
    int total = 0; /* requests over all targets */
    for (int t = 0; t < count; ++t) {
        int err = check_target(e, &targets[t], count, t);
        if (err != BA_OK) return err;
        if (__builtin_add_overflow(total, targets[t].n, &total)) {
            set_msg(e, "too many channels requested");
            return BA_EOVERFLOW;
        }
    }

    /* by_file[i]: the slot file channel i is decoded into (its first
     * request); later requests of the same channel are copied from it */
    int nfile = e->chlist->num_channels;
    size_t by_file_bytes, dups_bytes;
    if (ba_mul_overflow((size_t)nfile, sizeof(struct slot), &by_file_bytes) ||
        ba_mul_overflow((size_t)total, sizeof(struct dup), &dups_bytes)) {
        set_msg(e, "too many channels");
        return BA_EOVERFLOW;
    }
    struct slot *by_file = malloc(by_file_bytes);
    struct dup *dups = malloc(dups_bytes);
    struct slot *by_chan = NULL;
    float *scratch = NULL;
    int err = BA_OK;
    int ndup = 0;
    if (!by_file || !dups) {
        err = BA_ENOMEM;
        goto out;
    }
    for (int i = 0; i < nfile; ++i) by_file[i] = (struct slot){-1, -1};
    for (int t = 0; t < count; ++t) {
        const ba_exr_target *tg = &targets[t];
        for (int j = 0; j < tg->n; ++j) {
            const char *name = tg->names[j];
            if (!name) {
                set_target_msg(e, count, t, "channel name %d is NULL", j);
                err = BA_EINVAL;
                goto out;
            }
            int idx = find_channel(e, name);
            if (idx < 0) {
                set_target_msg(e, count, t, "no channel named \"%s\"", name);
                err = BA_ENOCHANNEL;
                goto out;
            }
            const exr_attr_chlist_entry_t *ent = &e->chlist->entries[idx];
            if (ent->x_sampling != 1 || ent->y_sampling != 1) {
                set_target_msg(e, count, t, "channel \"%s\" is subsampled (%d x %d)", name,
                               ent->x_sampling, ent->y_sampling);
                err = BA_EUNSUPPORTED;
                goto out;
            }
            if (by_file[idx].t < 0)
                by_file[idx] = (struct slot){t, j};
            else
                dups[ndup++] = (struct dup){by_file[idx], (struct slot){t, j}};
        }
    }

    int32_t lines = 0;
    exr_result_t rv = exr_get_scanlines_per_chunk(e->ctx, 0, &lines);
    if (rv != EXR_ERR_SUCCESS) {
        err = fail(e, rv, "exr_get_scanlines_per_chunk");
        goto out;
    }
    if (lines < 1) {
        set_msg(e, "invalid scanlines per chunk %d", lines);
        err = BA_EFORMAT;
        goto out;
    }

    exr_decode_pipeline_t dec = EXR_DECODE_PIPELINE_INITIALIZER;
    int have_decoder = 0;
    for (int64_t y = e->dw.min.y; y <= e->dw.max.y; y += lines) {
        exr_chunk_info_t cinfo;
        memset(&cinfo, 0, sizeof cinfo);
        rv = exr_read_scanline_chunk_info(e->ctx, 0, (int)y, &cinfo);
        if (rv != EXR_ERR_SUCCESS) {
            err = fail(e, rv, "exr_read_scanline_chunk_info");
            break;
        }
        /* the chunk must cover rows of this image only */
        if (cinfo.start_y != (int32_t)y || cinfo.height < 1 ||
            (int64_t)cinfo.start_y + cinfo.height - 1 > e->dw.max.y || cinfo.width != e->width) {
            set_msg(e, "chunk at y=%lld has unexpected geometry (y=%d, %d x %d)", (long long)y,
                    cinfo.start_y, cinfo.width, cinfo.height);
            err = BA_EFORMAT;
            break;
        }
        /* an uncompressed chunk holds exactly its pixels. OpenEXRCore 3.1
         * decodes a shorter one successfully, from its own uninitialized heap
         * memory (found by the fuzzer: values that changed from run to run) */
        if (cinfo.compression == EXR_COMPRESSION_NONE && cinfo.packed_size != cinfo.unpacked_size) {
            set_msg(e, "uncompressed chunk at y=%lld holds %llu bytes, %llu expected",
                    (long long)y, (unsigned long long)cinfo.packed_size,
                    (unsigned long long)cinfo.unpacked_size);
            err = BA_EFORMAT;
            break;
        }
        int32_t row0 = (int32_t)(cinfo.start_y - e->dw.min.y);

        if (!have_decoder) {
            rv = exr_decoding_initialize(e->ctx, 0, &cinfo, &dec);
            if (rv != EXR_ERR_SUCCESS) {
                err = fail(e, rv, "exr_decoding_initialize");
                break;
            }
            have_decoder = 1;
            /* the decoder's channels, by name, to their slots */
            by_chan = malloc((size_t)(dec.channel_count > 0 ? dec.channel_count : 1) *
                             sizeof *by_chan);
            if (!by_chan) {
                err = BA_ENOMEM;
                break;
            }
            int filled = 0, all_half = 1;
            for (int c = 0; c < dec.channel_count; ++c) {
                int idx = dec.channels[c].channel_name
                              ? find_channel(e, dec.channels[c].channel_name)
                              : -1;
                by_chan[c] = idx >= 0 ? by_file[idx] : (struct slot){SLOT_NONE, -1};
                if (by_chan[c].t >= 0) {
                    ++filled;
                    if (dec.channels[c].data_type != EXR_PIXEL_HALF) all_half = 0;
                }
            }
            /* OpenEXRCore 3.1 picks its 3- and 4-channel HALF->FLOAT
             * unpackers by the channels it fills but then writes all of
             * them (through NULL for the others: a crash, or into the wrong
             * place). Decode the other channels into a scratch row, so
             * that it either fills every channel or picks the generic
             * unpacker. */
            if ((dec.channel_count == 3 || dec.channel_count == 4) && filled < dec.channel_count &&
                all_half) {
                scratch = malloc((size_t)e->width * sizeof *scratch);
                if (!scratch) {
                    err = BA_ENOMEM;
                    break;
                }
                for (int c = 0; c < dec.channel_count; ++c)
                    if (by_chan[c].t == SLOT_NONE) by_chan[c].t = SLOT_SCRATCH;
            }
            aim_channels(&dec, by_chan, targets, scratch, row0);
            rv = exr_decoding_choose_default_routines(e->ctx, 0, &dec);
            if (rv != EXR_ERR_SUCCESS) {
                err = fail(e, rv, "exr_decoding_choose_default_routines");
                break;
            }
        } else {
            rv = exr_decoding_update(e->ctx, 0, &cinfo, &dec);
            if (rv != EXR_ERR_SUCCESS) {
                err = fail(e, rv, "exr_decoding_update");
                break;
            }
            aim_channels(&dec, by_chan, targets, scratch, row0);
        }
        rv = exr_decoding_run(e->ctx, 0, &dec);
        if (rv != EXR_ERR_SUCCESS) {
            err = fail(e, rv, "exr_decoding_run");
            break;
        }
        /* while the chunk's rows are still in cache */
        copy_dups(targets, dups, ndup, e->width, row0, cinfo.height);
    }
    if (have_decoder) {
        rv = exr_decoding_destroy(e->ctx, &dec);
        if (rv != EXR_ERR_SUCCESS && err == BA_OK) err = fail(e, rv, "exr_decoding_destroy");
    }

out:
    free(scratch);
    free(by_chan);
    free(dups);
    free(by_file);
    return err;
}

int ba_exr_read(ba_exr *e, const char *const *names, int n, float *dst, size_t row_stride,
                size_t dst_size)
{
    ba_exr_target tg = {names, n, dst, row_stride, dst_size};
    return ba_exr_read_many(e, &tg, 1);
}
