/*
 * blendarray.h — the one public header of libblendarray.
 *
 * blendarray turns Blender renders into arrays. This C library holds every
 * part of that path that is not Blender itself:
 *
 *   - pixel kernels: row flip (Blender stores rows bottom-up), float32 →
 *     float16, float32 → int32 (index passes), linear float → sRGB uint8;
 *   - EXR reading through OpenEXRCore: the multilayer EXR that Blender writes
 *     is decoded straight into a caller's interleaved float32 buffer;
 *   - PNG decoding through libpng (Blender's colour-managed 8-bit output);
 *   - NPY writing, exactly to NumPy's format specification, atomically.
 *
 * It knows nothing of Python or Blender: the Python extension, the in-Blender
 * glue (through ctypes, so it works with whatever Python a Blender embeds)
 * and the command-line tool are clients of this header only.
 *
 * Conventions
 *   - Every function that can fail returns an int: BA_OK (0) or a positive
 *     enum ba_errno value; ba_strerror() turns it into a message.
 *   - Buffers are owned by the caller and sized by the caller; every size
 *     is passed in and every size product is checked for overflow.
 *   - NULL pointers are BA_EINVAL; zero element counts are valid no-ops
 *     (empty arrays), not errors.
 *   - Images are row-major, row 0 is the TOP of the image, channels
 *     interleaved, rows `row_stride` bytes apart.
 *   - No global mutable state: everything is thread-compatible.
 */
#ifndef BLENDARRAY_H
#define BLENDARRAY_H

#include <stddef.h> /* size_t */
#include <stdint.h> /* fixed-width types */

#ifdef __cplusplus
extern "C" {
#endif

#if defined(__GNUC__)
#define BA_API __attribute__((visibility("default")))
#else
#define BA_API
#endif

#define BA_VERSION_MAJOR 0
#define BA_VERSION_MINOR 1
#define BA_VERSION_PATCH 0

/* ====================================================================== */
/*  Errors                                                                 */
/* ====================================================================== */

/* Values are fixed once released: append, never renumber. */
enum ba_errno {
    BA_OK = 0,
    BA_EINVAL = 1,       /* an argument is invalid (NULL, zero size, ...) */
    BA_ENOMEM = 2,       /* out of memory */
    BA_EOVERFLOW = 3,    /* a size computation would overflow */
    BA_EIO = 4,          /* a read, write, rename or fsync failed; see errno */
    BA_EFORMAT = 5,      /* the input is not a valid file of the expected kind */
    BA_EUNSUPPORTED = 6, /* valid but not supported (tiled/deep EXR, ...) */
    BA_ENOCHANNEL = 7,   /* a requested channel is not in the file */
    BA_EBUFSIZE = 8,     /* the caller's buffer is too small */
    BA_ERANGE = 9,       /* a value does not fit the target type */
    BA_EEXIST = 10,      /* the output exists and overwriting was not asked */
    BA_ESTATE = 11,      /* the object is unusable after an earlier error */
    BA_ETIMEDOUT = 12,   /* nothing arrived before the timeout */
    BA_ECLOSED = 13,     /* the peer closed the connection */
    BA_EPERM = 14,       /* the peer is not allowed (another user or process) */
};

/*! ba_strerror() : a static, human-readable message for an error code. */
BA_API const char *ba_strerror(int err);

/*! ba_version_string() : "MAJOR.MINOR.PATCH" of the library. */
BA_API const char *ba_version_string(void);

/* ====================================================================== */
/*  Pixel kernels                                                          */
/* ====================================================================== */

/*! ba_flip_rows() : reverse the order of `rows` rows of `row_bytes` bytes
 *  each, in place. Blender's render buffers are bottom-up. */
BA_API int ba_flip_rows(void *data, size_t rows, size_t row_bytes);

/*! ba_copy_flipped() : copy `rows` rows from src to dst in reverse order.
 *  dst and src must not overlap (overlapping buffers are BA_EINVAL). */
BA_API int ba_copy_flipped(void *dst, const void *src, size_t rows, size_t row_bytes);

/*! ba_f32_to_f16() : IEEE binary32 → binary16, round to nearest even,
 *  overflow to ±inf, NaN kept NaN: the same bits as numpy's astype(float16).
 *  A NaN becomes a quiet NaN with the top 10 payload bits (0x7E00 for the
 *  usual NaN), as numpy 1.26 / x86 F16C produce. */
BA_API int ba_f32_to_f16(uint16_t *dst, const float *src, size_t n);

/*! ba_f32_to_i32() : index passes, stored by Blender as floats holding
 *  integers, to int32. Returns BA_ERANGE (and converts nothing further) if a
 *  value is not an integer in int32 range. */
BA_API int ba_f32_to_i32(int32_t *dst, const float *src, size_t n);

/*! ba_linear_to_srgb8() : `n` pixels of `channels` (1..4) scene-linear floats
 *  to 8-bit with the sRGB transfer function on colour channels (alpha, the
 *  4th channel, is scaled linearly), clamped to [0, 1], rounded to nearest.
 *  This is the plain sRGB encoding, not Blender's view transform. */
BA_API int ba_linear_to_srgb8(uint8_t *dst, const float *src, size_t n, int channels);

/* ====================================================================== */
/*  EXR reading (OpenEXRCore)                                              */
/* ====================================================================== */

/* A decoded-on-demand EXR image: scanline, single part, any compression.
 * Blender's multilayer EXR names channels "<layer>.<pass>.<channel>". */
typedef struct ba_exr ba_exr;

enum ba_exr_type { BA_EXR_UINT = 0, BA_EXR_HALF = 1, BA_EXR_FLOAT = 2 };

/*! ba_exr_open_memory() : parse the header of the EXR file in `data`.
 *  `data` must stay valid until ba_exr_close().
 *  On failure *out is NULL (OpenEXRCore's message for a failed open is not
 *  kept); multipart, tiled and deep files are BA_EUNSUPPORTED. */
BA_API int ba_exr_open_memory(ba_exr **out, const void *data, size_t size);

/*! ba_exr_open_fd() : as above, on the whole content of an open file
 *  descriptor (a regular file or a memfd). A regular file is mapped (read
 *  with pread() where it cannot be), so the file offset is left alone; the
 *  file must not shrink until ba_exr_close(). The fd must stay open until then. */
BA_API int ba_exr_open_fd(ba_exr **out, int fd);

/*! ba_exr_open_file() : as above, on a path (BA_EIO if it cannot be
 *  opened, errno set). The library owns and closes that descriptor. */
BA_API int ba_exr_open_file(ba_exr **out, const char *path);

/*! ba_exr_close() : free everything; NULL is allowed. */
BA_API void ba_exr_close(ba_exr *exr);

/*! ba_exr_message() : a detailed message for the last error on `exr`
 *  (OpenEXRCore's own words where it failed), or "" when there is none. */
BA_API const char *ba_exr_message(const ba_exr *exr);

/*! ba_exr_size() : the data window's width and height. */
BA_API int ba_exr_size(const ba_exr *exr, int32_t *width, int32_t *height);

/*! ba_exr_channel_count() / ba_exr_channel_name() / ba_exr_channel_type() :
 *  channels in file order (EXR sorts them by name, byte-wise, so Blender's
 *  "….Combined.A" comes before "….Combined.B"). The name is valid until
 *  ba_exr_close(). For a NULL exr the count is 0; for an index out of range
 *  the name is NULL and the type -1. */
BA_API int ba_exr_channel_count(const ba_exr *exr);
BA_API const char *ba_exr_channel_name(const ba_exr *exr, int index);
BA_API int ba_exr_channel_type(const ba_exr *exr, int index);

/*! ba_exr_read() : decode `n` channels, named in `names`, interleaved in that
 *  order as float32 into `dst`: pixel (x, y) channel c lands at
 *  dst + y * row_stride + (x * n + c) * 4 bytes, row 0 the top (the data
 *  window's min y). HALF channels are widened exactly; UINT channels are
 *  converted to float. A name may be repeated.
 *  `row_stride` must be a multiple of 4, at least width * n * 4 and at most
 *  INT32_MAX (OpenEXRCore's strides are int32); dst must be 4-byte aligned
 *  (BA_EINVAL / BA_EOVERFLOW otherwise). `dst_size` is the byte size of dst,
 *  at least (height - 1) * row_stride + width * n * 4; BA_EBUFSIZE if it is
 *  too small, BA_ENOCHANNEL if a name is not in the file, BA_EUNSUPPORTED
 *  for a subsampled channel or a codec OpenEXRCore cannot decode (DWAA and
 *  DWAB in OpenEXR 3.1). On failure dst may be partly written; the object
 *  stays usable. */
BA_API int ba_exr_read(ba_exr *exr, const char *const *names, int n,
                       float *dst, size_t row_stride, size_t dst_size);

/* One destination of ba_exr_read_many(): the arguments of one ba_exr_read(). */
typedef struct ba_exr_target {
    const char *const *names; /* channels, interleaved in this order */
    int n;                    /* number of names (>= 1) */
    float *dst;               /* row 0 = top of the data window */
    size_t row_stride;        /* bytes between rows, multiple of 4 */
    size_t dst_size;          /* bytes available at dst */
} ba_exr_target;

/*! ba_exr_read_many() : ba_exr_read() into `count` (>= 1) targets at once,
 *  decoding each chunk of the file once for all of them (ba_exr_read() is
 *  this with one target). Each target follows ba_exr_read()'s rules and
 *  layout; a channel may be named in several targets, and several times in
 *  one. Every target is checked before anything is decoded: the first bad
 *  one gives the error, the message naming it ("target 1: no channel named
 *  ...") when count > 1. BA_EINVAL if targets is NULL or count < 1. On
 *  failure any dst may be partly written; the object stays usable. */
BA_API int ba_exr_read_many(ba_exr *exr, const ba_exr_target *targets, int count);

/* ====================================================================== */
/*  PNG decoding (libpng)                                                  */
/* ====================================================================== */

/*! ba_png_size() : width and height of the PNG in `data`. */
BA_API int ba_png_size(const void *data, size_t size, uint32_t *width, uint32_t *height);

/*! ba_png_decode_rgba8() : decode any PNG (palette, grey, 16-bit, with or
 *  without alpha) into 8-bit RGBA, row 0 the top, rows `row_stride` bytes
 *  apart. 16-bit samples are reduced as libpng does (png_set_strip_16, the
 *  high byte). row_stride >= width * 4 (else BA_EINVAL); dst_size at least
 *  (height - 1) * row_stride + width * 4 (else BA_EBUFSIZE). The whole file,
 *  through IEND, must be valid: truncated or corrupt input is BA_EFORMAT. */
BA_API int ba_png_decode_rgba8(const void *data, size_t size, uint8_t *dst,
                               size_t row_stride, size_t dst_size);

/*! ba_png_decode_rgba8_fd() : as above, reading the whole of `fd` with
 *  pread(); `width`/`height` (may be NULL) receive the size as soon as the
 *  header is read, so also with BA_EBUFSIZE. */
BA_API int ba_png_decode_rgba8_fd(int fd, uint8_t *dst, size_t row_stride,
                                  size_t dst_size, uint32_t *width, uint32_t *height);

/* ====================================================================== */
/*  NPY writing                                                            */
/* ====================================================================== */

/* Element types, little-endian as NumPy spells them in the header. */
enum ba_dtype {
    BA_DTYPE_F32 = 0, /* '<f4' */
    BA_DTYPE_F16 = 1, /* '<f2' */
    BA_DTYPE_U8 = 2,  /* '|u1' */
    BA_DTYPE_I32 = 3, /* '<i4' */
    BA_DTYPE_U16 = 4, /* '<u2' */
};

#define BA_NPY_MAX_DIMS 8

/*! ba_dtype_size() : bytes per element, 0 for an unknown dtype. */
BA_API size_t ba_dtype_size(int dtype);

/*! ba_npy_header() : write the NPY header (magic, version, header length,
 *  dict, padding to a multiple of 64 bytes, final '\n') for a C-order array
 *  into buf. Version 1.0 unless the dict needs more than 65535 bytes (then
 *  2.0). `*len` receives the header's length; BA_EBUFSIZE if cap is too
 *  small (a 256-byte buffer always suffices for ndim <= BA_NPY_MAX_DIMS). */
BA_API int ba_npy_header(char *buf, size_t cap, size_t *len, int dtype,
                         int ndim, const uint64_t *shape);

/*! ba_npy_save() : write a C-contiguous array to `path` atomically: into a
 *  temporary file beside it (".<name>.XXXXXX", created with mode 0666 less
 *  the umask, as np.save), fsync, rename. On any failure nothing is left
 *  under either name (an existing file is untouched). With overwrite == 0
 *  an existing path (even a dangling symlink) is BA_EEXIST, and the final
 *  step never replaces a file created meanwhile (renameat2 NOREPLACE, or
 *  link() where that is not supported). `nbytes` must equal the product of
 *  the shape times ba_dtype_size() (BA_EINVAL otherwise). */
BA_API int ba_npy_save(const char *path, int dtype, int ndim, const uint64_t *shape,
                       const void *data, size_t nbytes, int overwrite);

/* ====================================================================== */
/*  Frame ring (shared memory)                                             */
/* ====================================================================== */

/* A ring of fixed-size slots in one anonymous shared-memory file (a memfd:
 * no name in any filesystem, nothing to clean up after a crash). The consumer
 * creates it and hands the descriptor to Blender workers over a control
 * socket (SCM_RIGHTS); a worker attaches and renders into the slots. Which
 * slot belongs to whom is the control protocol's business, not the ring's.
 *
 * Layout: a header page, then `slots` slots of ba_ring_slot_size() bytes,
 * each page aligned. The header, little-endian at offset 0:
 *   char magic[8] = "BARING01"; uint32 version = 1; uint32 slots;
 *   uint64 slot_size (bytes between slots: a multiple of the page size);
 *   uint64 data_offset (of slot 0: a multiple of the page size).
 * The file is sealed (F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL) before
 * anyone else sees it, so no process can truncate it under another's
 * mapping (SIGBUS). */
typedef struct ba_ring ba_ring;

#define BA_RING_MAX_SLOTS 65536u                  /* at most this many slots */
#define BA_RING_MAX_BYTES ((uint64_t)1 << 40)     /* at most 1 TiB in all */

/*! ba_ring_create() : a new ring of `slots` slots of at least `slot_size`
 *  bytes (rounded up to the page size), zero-filled, mapped read-write.
 *  slots must be 1..BA_RING_MAX_SLOTS and slot_size >= 1 (BA_EINVAL); a
 *  total size beyond BA_RING_MAX_BYTES or size_t is BA_EOVERFLOW; a failed
 *  memfd_create, ftruncate, seal or mmap is BA_EIO (errno set), e.g. when
 *  the memory cannot be reserved. On failure *out is NULL. */
BA_API int ba_ring_create(ba_ring **out, uint32_t slots, size_t slot_size);

/*! ba_ring_attach() : map the ring in `fd` (received from its creator). The
 *  descriptor is duplicated (close-on-exec): the caller keeps and closes its
 *  own. The file must be a memfd sealed against shrinking, its size exactly
 *  data_offset + slots * slot_size, the header valid as described above
 *  (version 1, limits as for ba_ring_create()); anything else is BA_EFORMAT,
 *  so a hostile or corrupt header never leads to an access outside the file.
 *  The header is read once: later changes to it do not affect this mapping.
 *  BA_EIO (errno set) when fstat, dup or mmap fails (a read-only fd cannot
 *  be mapped read-write). On failure *out is NULL. */
BA_API int ba_ring_attach(ba_ring **out, int fd);

/*! ba_ring_fd() : the ring's descriptor, to send to another process (it
 *  stays owned by the ring: ba_ring_close() closes it); -1 for NULL. */
BA_API int ba_ring_fd(const ba_ring *ring);

/*! ba_ring_slots() : the number of slots; 0 for NULL. */
BA_API uint32_t ba_ring_slots(const ba_ring *ring);

/*! ba_ring_slot_size() : bytes of each slot (the requested size rounded up
 *  to the page size); 0 for NULL. */
BA_API size_t ba_ring_slot_size(const ba_ring *ring);

/*! ba_ring_slot() : the first byte of slot `index` (page aligned), valid
 *  until ba_ring_close(); NULL for a NULL ring or an index out of range. */
BA_API void *ba_ring_slot(ba_ring *ring, uint32_t index);

/*! ba_ring_close() : unmap and close this process's view; other processes'
 *  mappings stay valid. NULL is allowed. */
BA_API void ba_ring_close(ba_ring *ring);

/* ====================================================================== */
/*  Control messages (AF_UNIX SOCK_SEQPACKET)                              */
/* ====================================================================== */

/* One message is one datagram: sent whole with one sendmsg(), received
 * whole with one recvmsg(), with up to BA_MSG_MAX_FDS descriptors attached.
 * The socket must be a connected AF_UNIX SOCK_SEQPACKET socket (socketpair()
 * or connect()/accept()), blocking or not. */

#define BA_MSG_MAX (1u << 20)  /* largest message, bytes */
#define BA_MSG_MAX_FDS 4       /* most descriptors with one message */

/*! ba_msg_send() : send `len` (1..BA_MSG_MAX) bytes with `nfds`
 *  (0..BA_MSG_MAX_FDS) descriptors (SCM_RIGHTS; the receiver gets
 *  duplicates, the caller keeps its own). Never raises SIGPIPE; EINTR is
 *  retried; on a non-blocking socket it waits for room. A message larger
 *  than the socket's send buffer allows (about 208 KiB by default) makes it
 *  raise SO_SNDBUF, which the kernel caps at net.core.wmem_max * 2: beyond
 *  that it is BA_EIO with errno EMSGSIZE. BA_EINVAL for bad arguments,
 *  BA_ECLOSED when the peer is gone (EPIPE, ECONNRESET), BA_EIO (errno
 *  set) for any other failure. */
BA_API int ba_msg_send(int sock, const void *data, size_t len, const int *fds, int nfds);

/*! ba_msg_recv() : wait up to `timeout_ms` (-1: forever; 0: do not wait)
 *  for one message, then receive it into buf (`cap` bytes), its length into
 *  *len and its descriptors (close-on-exec, now the caller's) into fds. On
 *  input *nfds is the capacity of fds (nfds may be NULL: no capacity), on
 *  output the count received. EINTR keeps waiting with the remaining time.
 *  BA_ETIMEDOUT when nothing arrived in time, BA_ECLOSED at end of stream
 *  (or a reset connection); a message longer than cap, more descriptors
 *  than the capacity (or BA_MSG_MAX_FDS), or any control message other than
 *  SCM_RIGHTS is BA_EFORMAT, with every descriptor that came with it closed
 *  (the message is consumed). BA_EINVAL for bad arguments (timeout_ms
 *  below -1 included), BA_EIO (errno set) for other failures. On any failure *len and *nfds are 0. */
BA_API int ba_msg_recv(int sock, void *buf, size_t cap, size_t *len, int *fds, int *nfds,
                       int timeout_ms);

/*! ba_peer_check() : BA_OK when the process at the other end of the
 *  AF_UNIX socket runs as our effective uid and, if expected_pid > 0, has
 *  that pid; BA_EPERM otherwise; BA_EINVAL for a negative sock, BA_EIO
 *  (errno set) if SO_PEERCRED fails (not an AF_UNIX socket, ...).
 *  The kernel records the credentials when the connection is made: for a
 *  socketpair() both ends report its creator, even after a fork, so a pid
 *  check means something only on a connect()ed socket. */
BA_API int ba_peer_check(int sock, int expected_pid);

#ifdef __cplusplus
}
#endif
#endif /* BLENDARRAY_H */
