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
 *   - PNG decoding and writing through libpng (Blender's colour-managed
 *     8-bit output; the images of a COCO dataset);
 *   - labels: instances, boxes and COCO RLE masks of an instance-id image in
 *     one pass, Cryptomatte ids and coverage (soft masks), optical flow from
 *     Blender's vector pass; COCO datasets written as frames come;
 *   - the display image: Blender's steps around OpenColorIO's view transform
 *     (predivide, straight alpha, its dither and its rounding to 8 bits);
 *   - NPY writing, exactly to NumPy's format specification, atomically;
 *     .npz writing and reading through libzip.
 *
 * It knows nothing of Python or Blender: the Python extension, the in-Blender
 * glue (through ctypes, so it works with whatever Python a Blender embeds)
 * and the command-line tool are clients of this header only.
 *
 * Conventions
 *   - Every function that can fail returns an int: BA_OK (0) or a positive
 *     enum ba_errno value; ba_strerror() turns it into a message.
 *   - Buffers are owned by the caller and sized by the caller; every size
 *     is passed in and every size product is checked for overflow. The few
 *     outputs the library allocates are freed with ba_free().
 *   - A constructor (`_new`, `_open`, `_create`, `_attach`, `_find`) sets
 *     *out to NULL on failure.
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

#include "blendarray_version.h" /* BA_VERSION_MAJOR/MINOR/PATCH/NUMBER */

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
    BA_EWORKER = 15,     /* a Blender worker died or stopped answering */
    BA_ERENDER = 16,     /* Blender (or the setup hook) reported an error */
    BA_EINTR = 17,       /* stopped on request (a signal) */
    BA_EDONE = 18,       /* nothing is left to wait for */
    BA_EFULL = 19,       /* every slot is held by frames not released */
    BA_EBUSY = 20,       /* another process holds it (a shard folder's lock) */
};

/*! ba_strerror() : a static, human-readable message for an error code. */
BA_API const char *ba_strerror(int err);

/*! ba_version_number() : the library's BA_VERSION_NUMBER (that of the
 *  library loaded at run time; compare with the header's to detect a mismatch). */
BA_API unsigned ba_version_number(void);

/*! ba_version_string() : "MAJOR.MINOR.PATCH" of the library. */
BA_API const char *ba_version_string(void);

/*! ba_free() : free memory that the library allocated and handed to the
 *  caller (ba_parse_frames' frames, ba_npz_read's and ba_npz_read_bytes'
 *  data), with the library's own allocator, whatever the program's. NULL ok. */
BA_API void ba_free(void *p);

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

/*! ba_png_save() : write an 8-bit PNG of `channels` (1 grey, 2 grey+alpha,
 *  3 RGB, 4 RGBA) to `path` atomically, as ba_file_save() writes (nothing
 *  under `path` unless it all succeeded; overwrite == 0: BA_EEXIST if it
 *  exists). Rows `row_stride` bytes apart (>= width * channels), row 0 the
 *  top. compression: zlib level 0..9, -1 libpng's default. */
BA_API int ba_png_save(const char *path, const uint8_t *pixels, uint32_t width, uint32_t height,
                       size_t row_stride, int channels, int compression, int overwrite);

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
    BA_DTYPE_U32 = 5, /* '<u4' (instance ids: Cryptomatte hashes) */
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

/*! ba_dtype_descr() : NumPy's descr string of a dtype ("<f4", ...), NULL if unknown. */
BA_API const char *ba_dtype_descr(int dtype);

/* ====================================================================== */
/*  Any file, atomically                                                   */
/* ====================================================================== */

/* A file (JSON metadata, ...) written as the NPY writers write theirs: into a
 * temporary file beside `path` (".<name>.XXXXXX", mode 0666 less the umask),
 * then fsync and rename; nothing appears under `path` before finish succeeds,
 * and a failed or aborted file leaves nothing under either name. */
typedef struct ba_file_writer ba_file_writer;

/*! ba_file_open() : start `path`; the temporary file is created now (BA_EIO,
 *  errno set, if it cannot be). overwrite == 0: BA_EEXIST if path exists
 *  (now, and again, atomically, at finish: an existing file is never
 *  replaced). A path ending in '/' is BA_EINVAL. */
BA_API int ba_file_open(ba_file_writer **out, const char *path, int overwrite);

/*! ba_file_write() : append `size` bytes. After a failed write (BA_EIO,
 *  errno set) the file is unusable: later calls are BA_ESTATE, and finish
 *  returns BA_ESTATE after removing the temporary file. */
BA_API int ba_file_write(ba_file_writer *f, const void *data, size_t size);

/*! ba_file_finish() : fsync, rename into place, free f (also on failure,
 *  after removing the temporary file). */
BA_API int ba_file_finish(ba_file_writer *f);

/*! ba_file_abort() : remove the temporary file and free f (NULL ok). */
BA_API void ba_file_abort(ba_file_writer *f);

/*! ba_file_save() : open, write `size` bytes, finish: the whole file at once. */
BA_API int ba_file_save(const char *path, const void *data, size_t size, int overwrite);

/* ====================================================================== */
/*  NPY reading                                                            */
/* ====================================================================== */

/* What an NPY header says. dtype is an enum ba_dtype, or -1 for an element
 * type blendarray does not write (descr then still names it). */
typedef struct ba_npy_info {
    int dtype;
    char descr[16];
    int fortran_order;
    int ndim;
    uint64_t shape[BA_NPY_MAX_DIMS];
    size_t itemsize;
    uint64_t data_offset; /* bytes from the start of the file to the data */
    uint64_t nbytes;      /* itemsize * prod(shape), overflow-checked */
} ba_npy_info;

/*! ba_npy_parse_header() : parse the NPY header at the start of `data`
 *  (versions 1.0, 2.0, 3.0), strictly: magic, lengths, the dict's three keys
 *  ('descr', 'fortran_order', 'shape', each once, in any order) and nothing
 *  else, a shape tuple of non-negative integers (at most BA_NPY_MAX_DIMS),
 *  a descr of a plain numeric type ('|b1', '|i1', '|u1', '<' or '>' with
 *  i2/i4/i8, u2/u4/u8, f2/f4/f8, c8/c16), only spaces between the dict and
 *  the final '\n'. Every header np.save writes is accepted (also the "3L"
 *  longs of Python 2 files in versions 1.0/2.0, as numpy's reader allows).
 *  data_offset is the header's total length. BA_EFORMAT on anything else,
 *  BA_EBUFSIZE when `size` ends before the header does, BA_EOVERFLOW when a
 *  dimension or the byte size of the non-zero dimensions exceeds INT64_MAX
 *  (numpy refuses those too). Never reads outside data[0, size). */
BA_API int ba_npy_parse_header(const void *data, size_t size, ba_npy_info *info);

/* ====================================================================== */
/*  Stacked NPY: frames appended as they arrive                            */
/* ====================================================================== */

/* One (N, ...) array written frame by frame, N unknown until the end: the
 * header is written with room for any N and fixed up by finish. Memory stays
 * bounded whatever N; the result is memory-mappable. Written to a temporary
 * name beside `path`; nothing appears under `path` before finish succeeds. */
typedef struct ba_npy_stack ba_npy_stack;

/*! ba_npy_stack_open() : start `path` for frames of `frame_ndim` dims
 *  (0..BA_NPY_MAX_DIMS - 1) of shape `frame_shape` and element type `dtype`.
 *  overwrite == 0: BA_EEXIST if path exists (checked now, and again,
 *  atomically, at finish). The temporary file ".<name>.XXXXXX" beside path
 *  is created now (mode 0666 less the umask, as np.save), with a header of
 *  the length it will keep for any N (128 bytes for every shape whose sizes
 *  fit int64). BA_EIO (errno set) if it cannot be created. */
BA_API int ba_npy_stack_open(ba_npy_stack **out, const char *path, int dtype, int frame_ndim,
                             const uint64_t *frame_shape, int overwrite);

/*! ba_npy_stack_append() : one frame; nbytes must be exactly one frame's size
 *  (BA_EINVAL otherwise, nothing written). BA_EOVERFLOW when one more frame
 *  would make the array's size exceed INT64_MAX. After a failed write
 *  (BA_EIO) the stack is unusable: later calls are BA_ESTATE, and finish
 *  returns BA_ESTATE after removing the temporary file. */
BA_API int ba_npy_stack_append(ba_npy_stack *st, const void *data, size_t nbytes);

/*! ba_npy_stack_finish() : fix the header, fsync, rename into place, free st
 *  (also on failure, after removing the temporary file). Zero frames are
 *  valid: shape (0, ...). */
BA_API int ba_npy_stack_finish(ba_npy_stack *st);

/*! ba_npy_stack_abort() : remove the temporary file and free st (NULL ok). */
BA_API void ba_npy_stack_abort(ba_npy_stack *st);

/* ====================================================================== */
/*  NPZ (zip of .npy members, libzip)                                      */
/* ====================================================================== */

typedef struct ba_npz_writer ba_npz_writer;

/*! ba_npz_open() : start an .npz at `path` (written to a temporary name
 *  ".<name>.XXXXXX" beside it, reserved now, renamed by finish). compress:
 *  0 stored (as numpy.savez), 1 deflate (as numpy.savez_compressed); any
 *  other value is BA_EINVAL. ZIP64 is used where sizes need it. overwrite ==
 *  0: BA_EEXIST if path exists (now, and again, atomically, at finish).
 *  BA_EIO (errno set) if the directory cannot be written. */
BA_API int ba_npz_open(ba_npz_writer **out, const char *path, int compress, int overwrite);

/*! ba_npz_add_npy_file() : add the complete .npy file at `npy_path` as
 *  member "<name>.npy"; its header is checked now (BA_EIO if it cannot be
 *  opened, BA_EFORMAT if it is not a valid .npy of the right size), its
 *  content read when finish writes the archive (streamed: memory stays
 *  bounded). An empty or repeated name is BA_EINVAL. */
BA_API int ba_npz_add_npy_file(ba_npz_writer *w, const char *name, const char *npy_path);

/*! ba_npz_add_file() : add the file at `path`, as it is, as member `member`
 *  (the whole name, e.g. "meta.json"; np.load(...)["meta.json"] returns its
 *  bytes). Read when finish writes the archive (streamed). A name ending in
 *  ".npy" (arrays: ba_npz_add_npy_file), an empty name, or one that np.load
 *  would not tell from another member's ("x" beside the array "x") is
 *  BA_EINVAL, as is a path that is not a regular file; BA_EIO (errno set)
 *  if it cannot be opened. */
BA_API int ba_npz_add_file(ba_npz_writer *w, const char *member, const char *path);

/*! ba_npz_add_array() : add a C-contiguous array as member "<name>.npy";
 *  `data` must stay valid until finish. nbytes must equal the product of the
 *  shape times ba_dtype_size() (BA_EINVAL otherwise, as for a repeated or
 *  empty name). */
BA_API int ba_npz_add_array(ba_npz_writer *w, const char *name, int dtype, int ndim,
                            const uint64_t *shape, const void *data, size_t nbytes);

/*! ba_npz_finish() : write the archive, fsync, rename into place, free w
 *  (on failure nothing is left under either name). Members are in the order
 *  added; with none the archive is an empty zip, as np.savez() writes. */
BA_API int ba_npz_finish(ba_npz_writer *w);

/*! ba_npz_abort() : forget everything, leave no file, free w (NULL ok). */
BA_API void ba_npz_abort(ba_npz_writer *w);

typedef struct ba_npz_reader ba_npz_reader;

/*! ba_npz_read_open() : open an .npz (or any zip of .npy members) for
 *  reading. BA_EIO (errno set) if it cannot be opened, BA_EFORMAT if it is
 *  not a zip archive (an empty file included). */
BA_API int ba_npz_read_open(ba_npz_reader **out, const char *path);

/*! ba_npz_count() / ba_npz_name() : members (directory entries left out) in
 *  archive order, names without ".npy" (a member that is not an array keeps
 *  its whole name: see ba_npz_is_array); the name is valid until
 *  ba_npz_read_close(). 0 for NULL, NULL for an index out of range. */
BA_API int ba_npz_count(const ba_npz_reader *r);
BA_API const char *ba_npz_name(const ba_npz_reader *r, int index);

/*! ba_npz_is_array() : 1 when member `index` is named "<name>.npy" (an
 *  array: read it with ba_npz_read), 0 for any other member (blendarray's
 *  "meta.json", ...), -1 for NULL or an index out of range. */
BA_API int ba_npz_is_array(const ba_npz_reader *r, int index);

/*! ba_npz_read() : member `index` parsed and read whole: *data is allocated
 *  by the library (free it with ba_free()) and holds the array's
 *  info->nbytes bytes of data, without the header (a valid pointer also
 *  when nbytes is 0); info describes it.
 *  Sizes are checked against the zip's own: data_offset + nbytes must be the
 *  member's size, and the member's CRC must match (BA_EFORMAT otherwise).
 *  On failure *data is NULL. */
BA_API int ba_npz_read(ba_npz_reader *r, int index, ba_npy_info *info, void **data);

/*! ba_npz_read_bytes() : member `index` as it is stored, whatever it is (a
 *  "meta.json", or an .npy file whole, header included): *data is allocated
 *  by the library (free it with ba_free()), *size bytes followed by a '\0'
 *  not counted in *size (so text can be used as a C string). The CRC is checked (BA_EFORMAT). On
 *  failure *data is NULL and *size 0.
 *
 *  Both readers take a member's size from the zip's directory and refuse
 *  one its compressed bytes cannot hold (BA_EFORMAT): nothing is allocated
 *  on a lying size. Members must be stored or deflated, as np.savez and
 *  np.savez_compressed write them. */
BA_API int ba_npz_read_bytes(ba_npz_reader *r, int index, void **data, size_t *size);

/*! ba_npz_read_close() : NULL ok. */
BA_API void ba_npz_read_close(ba_npz_reader *r);


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

/* ====================================================================== */
/*  Frame lists                                                            */
/* ====================================================================== */

/*! ba_parse_frames() : a frame list as people type it ("1-250", "1,5,9",
 *  "1-100:10", "1-3,7", "-5-3") to frame numbers, in the order written
 *  (repeats kept). Items are separated by commas (empty items are skipped,
 *  as by strtok); each is "N", "A-B" (A <= B, both included) or "A-B:STEP"
 *  (STEP >= 1: A, A + STEP, ... up to B). Numbers are decimal, as strtoll()
 *  reads them (leading white space and a sign allowed), N, A and B within
 *  -1000000000..1000000000, STEP within 1..1000000000; a leading '-' is A's
 *  sign ("-5--3" is -5..-3). *frames is allocated by the library (free it
 *  with ba_free()) and holds *count >= 1 frames. BA_EINVAL for NULL arguments or a malformed list
 *  (no frame at all included), checked over the whole list first;
 *  BA_EOVERFLOW when it holds more than max_count frames; BA_ENOMEM. On any
 *  failure *frames is NULL and *count 0. */
BA_API int ba_parse_frames(const char *spec, int64_t **frames, size_t *count, size_t max_count);

/* ====================================================================== */
/*  Renderer: frames from Blender workers                                  */
/* ====================================================================== */

/* The consumer side of blendarray's worker protocol (docs/protocol.md), the
 * only one: the blendarray command and the Python package's Renderer both
 * use it. It starts Blender worker processes (Debian's `blender` binary, or
 * a Python with the `bpy` module) that run the Python package's
 * blendarray.blender.worker, gives each a shared-memory ring, and hands out
 * every rendered frame as arrays over the ring (no copy).
 *
 * Pull, one frame at a time:
 *
 *     ba_renderer_options *o;
 *     ba_renderer_options_new(&o);
 *     ba_renderer_options_set_str(o, BA_OPT_SETTINGS, "{\"passes\": [\"rgba\"]}");
 *     if (ba_renderer_open(&r, o) != BA_OK)
 *         fprintf(stderr, "%s\n", ba_renderer_options_message(o));
 *     ba_renderer_options_free(o);        // the renderer keeps its own copy
 *     for each frame:  ba_renderer_submit(r, index, "{\"frame\": 12}");
 *     while (ba_renderer_next(r, BA_NEXT_ORDERED, -1, &f) == BA_OK) {
 *         ... f->arrays ...
 *         ba_renderer_release(r, f);      // its slot goes back to its worker
 *     }                                   // BA_EDONE: nothing left
 *     ba_renderer_close(r);
 *
 * or ba_renderer_run() with a callback. A worker that dies mid-frame (or
 * overruns the timeout, or breaks the protocol) is stopped, restarted when
 * work waits, and its frames are rendered again, up to BA_OPT_RETRIES times.
 * A worker can also be replaced between frames, after so many frames or past
 * a memory limit (BA_OPT_MAX_WORKER_FRAMES, BA_OPT_MAX_WORKER_MEMORY): a hook
 * that leaks stays bounded, and no frame is lost, repeated or reordered.
 * Submitting only while ba_renderer_queued() is 0 keeps every worker busy
 * without queueing more than one frame ahead. One thread drives a renderer;
 * ba_renderer_release() may be called from any thread.
 *
 * The library reads no environment variable of its own for this (the
 * blendarray command's $BLENDARRAY_BLENDER, $BLENDARRAY_PYTHON and
 * $BLENDARRAY_PACKAGE are the command's), except PATH (to find `blender`,
 * as execvp() does) and TMPDIR (the POSIX convention: where each worker's
 * private folder blendarray-<pid>-XXXXXX is made; /tmp when unset). */
typedef struct ba_renderer ba_renderer;

/* A renderer's options: an opaque object, filled with setters (as zstd's
 * ZSTD_CCtx_setParameter and libspng's spng_set_option), so that options can
 * be added without breaking programs built against an older header. */
typedef struct ba_renderer_options ba_renderer_options;

/* Frames a worker is given ahead (queued in its socket while it renders one):
 * it never idles between frames while its consumer is a few frames late. Each
 * takes a ring slot until the consumer receives it. */
#define BA_RENDERER_INFLIGHT 4

/* The options. Values are fixed once released: append, never renumber.
 * "str" options are set with ba_renderer_options_set_str() (the string is
 * copied; NULL restores the default), "int" ones with
 * ba_renderer_options_set_int() (ba_renderer_option_bounds() says the range). */
enum ba_renderer_option {
    BA_OPT_BLENDER = 1,     /* str: "blender" (looked up on PATH), "bpy", or a Blender
                               binary's path. Default: "blender" when it is on PATH,
                               else "bpy" */
    BA_OPT_PYTHON = 2,      /* str: for "bpy", the Python to run (a name looked up on
                               PATH, or a path). Default: "python3" */
    BA_OPT_PACKAGE_DIR = 3, /* str: the blendarray Python package's folder, whose
                               blender/worker_main.py the workers run (it holds
                               blendarray's __init__.py). Default: the copy that
                               `meson install` put in <datadir>/blendarray/python/
                               blendarray under this library's install prefix, when
                               it is there and of this library's version. The
                               workers load the folder's libblendarray.so; where it
                               has none, this library (when it is a shared
                               libblendarray.so.*) or the one installed with it */
    BA_OPT_SCENE = 4,       /* str: a .blend file. Default: the built-in demo scene */
    BA_OPT_SETTINGS = 5,    /* str: the render settings, a JSON object: the "settings"
                               of the init message (docs/protocol.md): "passes",
                               "engine", "samples", "resolution": [w, h], "denoise",
                               "threads", "display", "depth_background",
                               "annotations"; a key left out keeps the scene's own.
                               Parsed when set (not a JSON object: BA_EINVAL); the
                               worker checks the values. Default: {} */
    BA_OPT_SETUP = 6,       /* str: the per-frame setup hook's description, a JSON
                               object (docs/protocol.md), e.g. {"kind": "string",
                               "spec": "file.py:function"}. Parsed when set.
                               Default: none */
    BA_OPT_SEED = 7,        /* int 0..INT64_MAX: the hook's RNG is
                               numpy.random.default_rng([seed, index]). Default: 0 */
    BA_OPT_WORKERS = 8,     /* int 1..256: Blender processes. Default: 1 */
    BA_OPT_RING = 9,        /* int 0..1024: shared-memory slots per worker; 0: by the
                               size of a worker's first frame, as many as fit in 64 MiB,
                               4 to 16 (small frames get a deep ring, 1080p 4). Each
                               worker also renders one frame into memory of its own
                               while every slot is held. A consumer that keeps K frames
                               per worker needs K + BA_RENDERER_INFLIGHT slots for its
                               workers never to wait. Default: 0 */
    BA_OPT_RETRIES = 10,    /* int 0..INT32_MAX: re-renders of a frame whose worker
                               died (and new starts of a worker that died while
                               starting). Default: 1 */
    BA_OPT_TIMEOUT_MS = 11, /* int 0..INT32_MAX: milliseconds a frame may take before
                               its worker is stopped; 0: no limit. A worker gets
                               max(timeout, 300 s) to start. Default: 0 */
    BA_OPT_VERBOSE = 12,    /* int 0..1: copy Blender's output to stderr. Default: 0 */
    BA_OPT_MAX_WORKER_FRAMES = 13, /* int 0..INT64_MAX: a worker that has been given this
                               many frames since it started is replaced by a fresh
                               Blender after the last of them; 0: no limit. Default: 0 */
    BA_OPT_MAX_WORKER_MEMORY = 14, /* int -1..INT64_MAX bytes: a worker whose memory
                               passed this after a frame, or would pass it with the
                               frames that may still be sent to it (at the rate it
                               grew over its last two frames), is sent nothing more
                               and replaced by a fresh Blender once the frames sent to
                               it are in. Its memory: what it reports after each frame
                               (docs/protocol.md), its resident memory less the
                               memory it shares with the consumer (the ring), its
                               children's included. 0: no limit; -1: half the
                               machine's physical memory (or its cgroup's limit, when
                               lower) divided by BA_OPT_WORKERS: the workers together
                               leave the other half to the consumer and the rest of
                               the machine, and a leak ends in a recycle, not in the
                               kernel's OOM killer. Default: -1 */
};

/*! ba_renderer_options_new() : options with every default (above). On
 *  failure (BA_ENOMEM) *out is NULL. */
BA_API int ba_renderer_options_new(ba_renderer_options **out);

/*! ba_renderer_options_free() : NULL ok. */
BA_API void ba_renderer_options_free(ba_renderer_options *opts);

/*! ba_renderer_options_set_int() / ba_renderer_options_set_str() : set one
 *  option. BA_EINVAL (the option unchanged, ba_renderer_options_message()
 *  saying why) for an unknown option, an option of the other kind, a value
 *  out of its bounds, or a JSON option that is not a JSON object. */
BA_API int ba_renderer_options_set_int(ba_renderer_options *opts, int option, int64_t value);
BA_API int ba_renderer_options_set_str(ba_renderer_options *opts, int option, const char *value);

/*! ba_renderer_option_bounds() : the values an int option takes, both
 *  included; BA_EINVAL (min and max untouched) for an unknown option or a
 *  str one. Either pointer may be NULL. */
BA_API int ba_renderer_option_bounds(int option, int64_t *min, int64_t *max);

/*! ba_renderer_options_set_stop() : when *stop becomes non-zero (a signal
 *  handler sets it), every wait of the renderer ends with BA_EINTR. *stop
 *  must stay valid while the renderer lives; NULL (the default): none. */
BA_API int ba_renderer_options_set_stop(ba_renderer_options *opts, volatile const int *stop);

/*! ba_renderer_options_message() : why the last setter call or
 *  ba_renderer_open() with these options failed, with Blender's last output
 *  where a worker failed; "" when it did not (also for NULL). Valid until
 *  the next call on opts. */
BA_API const char *ba_renderer_options_message(const ba_renderer_options *opts);

/*! ba_renderer_options_error_json() : the same as a JSON object, as
 *  ba_renderer_error_json() describes it; "{}" when nothing failed. Valid
 *  until the next call on opts. */
BA_API const char *ba_renderer_options_error_json(const ba_renderer_options *opts);

/*! ba_tmp_sweep() : remove the folders that killed consumers left: the
 *  blendarray-<pid>-* folders in `tmpdir` (NULL: $TMPDIR, else /tmp: where
 *  ba_renderer_open() makes its workers' folders) whose consumer process no
 *  longer exists, owned by this user; nothing else is touched. The library
 *  never does this by itself: a program calls it, e.g. before opening a
 *  renderer (the blendarray command and the Python Renderer do). BA_OK, or
 *  BA_EIO (errno set) when the folder cannot be read; each removal is best
 *  effort. */
BA_API int ba_tmp_sweep(const char *tmpdir);

/* One array of a frame. */
typedef struct ba_frame_array {
    const char *name;        /* "rgba", "depth", "Layer/depth", "display", ... */
    int dtype;               /* enum ba_dtype */
    int ndim;                /* 2 or 3: (H, W) or (H, W, C), C order, row 0 the top */
    uint64_t shape[3];
    void *data;              /* writable: the consumer's own mapping */
    size_t nbytes;
} ba_frame_array;

typedef struct ba_frame {
    int64_t index;           /* the index it was submitted with */
    int64_t frame;           /* the scene frame number rendered */
    int worker;              /* which worker rendered it */
    int slot;                /* the ring slot its arrays lie in; -1: its own memory
                                (a first frame, or one that did not fit the slot) */
    int narrays;
    const ba_frame_array *arrays;
    const char *meta_json;   /* the frame's metadata, a JSON object (with "index", "worker") */
} ba_frame;

/*! ba_renderer_open() : start the workers and load the scene in each (they
 *  start side by side). What it needs of opts is copied: opts may be changed
 *  or freed right after. On failure *out is NULL, and
 *  ba_renderer_options_message(opts) / ba_renderer_options_error_json(opts)
 *  say why (opts is written to for that only). BA_EINTR is not a failure:
 *  a signal arrived while a worker was starting; *out is set and
 *  ba_renderer_start() finishes starting it (or ba_renderer_close()). */
BA_API int ba_renderer_open(ba_renderer **out, ba_renderer_options *opts);

/*! ba_renderer_start() : wait for the workers still starting, and start again
 *  any that is stopped (one that died while starting, within BA_OPT_RETRIES).
 *  ba_renderer_open() (and a call that restarts a worker) returns BA_EINTR when
 *  a signal arrives while a worker starts: call this (or go on) to finish
 *  starting it. */
BA_API int ba_renderer_start(ba_renderer *r);

/*! ba_renderer_submit() : queue one frame. `index` is the hook's index (and
 *  its RNG's seed: default_rng([seed, index])) and comes back in the frame.
 *  params_json: NULL or a JSON object: "frame" (the scene frame number),
 *  per-frame settings ("engine", "samples", "resolution": [w, h], "denoise",
 *  "threads"), "seed" (this frame's seed instead of BA_OPT_SEED: a
 *  non-negative integer or a non-empty array of them, the hook's RNG then being
 *  default_rng([*seed, index])), and any other key, handed to a 4-argument
 *  hook as params.
 *  The frame goes to a worker at once when one has room (a stopped worker
 *  is restarted for it). BA_EINVAL when params_json is not a JSON object. */
BA_API int ba_renderer_submit(ba_renderer *r, int64_t index, const char *params_json);

/*! ba_renderer_queued() : frames submitted (or to be rendered again) that no
 *  worker has taken yet. */
BA_API size_t ba_renderer_queued(const ba_renderer *r);

enum ba_next_flags {
    BA_NEXT_ORDERED = 0,     /* frames in the order they were submitted */
    BA_NEXT_ANY = 1,         /* whichever is finished first */
};

/*! ba_renderer_next() : wait up to timeout_ms (-1: no limit) for the next
 *  frame; *out is valid until ba_renderer_release(). Returns BA_OK;
 *  BA_EDONE when nothing submitted is left; BA_ETIMEDOUT; BA_EINTR when a
 *  signal arrived (call again to go on) or the stop flag
 *  (ba_renderer_options_set_stop) was set; BA_EFULL when frames wait but
 *  every ring slot is held by frames not released; BA_ERENDER (Blender or
 *  the setup hook reported an error for a frame, in its turn) or
 *  BA_EWORKER (a worker failed more than BA_OPT_RETRIES times for a frame,
 *  broke the protocol, or could not be started). After an error the
 *  others' frames go on: ba_renderer_cancel() drops them.
 *  ba_renderer_message() and ba_renderer_error_json() say what happened. */
BA_API int ba_renderer_next(ba_renderer *r, int flags, int timeout_ms, const ba_frame **out);

/*! ba_renderer_release() : give a frame from ba_renderer_next() back: its
 *  arrays become invalid and its slot goes back to its worker. Any thread;
 *  also after ba_renderer_close(). NULL ok. */
BA_API void ba_renderer_release(ba_renderer *r, const ba_frame *frame);

/*! ba_renderer_held() : frames handed out and not released yet (any thread).
 *  Each holds a ring slot (a worker's first frame may hold its own memory):
 *  when every slot of workers x ring is held, next() returns BA_EFULL, so a
 *  consumer that keeps many frames can copy one out before that happens. */
BA_API int ba_renderer_held(const ba_renderer *r);

/*! ba_renderer_cancel() : forget every frame submitted and not yet handed
 *  out. wait != 0: wait for the frames being rendered (workers stay warm);
 *  wait == 0: stop the workers rendering them (they restart when work
 *  waits). Frames handed out stay valid. */
BA_API int ba_renderer_cancel(ba_renderer *r, int wait);

/*! The callback of ba_renderer_run(): return 0 to go on, non-zero to stop
 *  the run (it then returns that value). The frame is valid during the call. */
typedef int (*ba_frame_fn)(const ba_frame *frame, void *user);

/*! ba_renderer_run() : submit and take `count` frames: frames[i] is the
 *  scene frame number of index i (frames == NULL: the scene's current frame;
 *  params[i], when params is not NULL, the per-frame params as JSON text,
 *  "frame" included), calling fn for each, in index order. Returns BA_OK,
 *  fn's non-zero value, or an error of ba_renderer_next(). */
BA_API int ba_renderer_run(ba_renderer *r, const int64_t *frames, const char *const *params,
                           size_t count, ba_frame_fn fn, void *user);

/*! ba_renderer_run_indices() : ba_renderer_run() for the indices given
 *  (indices[i] is the i-th frame's index: the hook's `index`, its RNG's seed
 *  and the frame's index), e.g. the indices a resumed dataset still lacks;
 *  frames[i] and params[i] as there. indices == NULL: 0, 1, 2, ... */
BA_API int ba_renderer_run_indices(ba_renderer *r, const int64_t *indices, const int64_t *frames,
                                   const char *const *params, size_t count, ba_frame_fn fn,
                                   void *user);

/*! ba_renderer_message() : what went wrong last, with Blender's last output
 *  where a worker failed ("" when nothing did). */
BA_API const char *ba_renderer_message(const ba_renderer *r);

/*! ba_renderer_error_json() : the last error as a JSON object: "type" (the
 *  Python exception's name: SceneError, PassError, SetupError, RenderError,
 *  WorkerError, BlendArrayError, or a Python type of the worker's), "message"
 *  (as ba_renderer_message()), and where known "index", "worker",
 *  "traceback", "available" (valid pass names), "output" (Blender's last
 *  lines), "returncode". "{}" when nothing went wrong. */
BA_API const char *ba_renderer_error_json(const ba_renderer *r);

/*! ba_renderer_workers() : the number of workers; ba_renderer_worker_pid():
 *  worker i's process id, 0 while it is stopped. */
BA_API int ba_renderer_workers(const ba_renderer *r);
BA_API int ba_renderer_worker_pid(const ba_renderer *r, int i);

/* What ba_renderer_stat() counts. Values are fixed once released: append only. */
enum ba_renderer_stat {
    BA_STAT_RECYCLED = 0,    /* workers stopped to be replaced (a fresh one starts when
                                work waits) for BA_OPT_MAX_WORKER_FRAMES or
                                BA_OPT_MAX_WORKER_MEMORY */
    BA_STAT_RESTARTED = 1,   /* workers started again after they died, overran the
                                timeout or broke the protocol */
    BA_STAT_FRAMES = 2,      /* frames received from the workers (and errors reported
                                for a frame), whether handed out yet or not */
    BA_STAT_OVER_MEMORY = 3, /* first frames after which a worker's memory was already
                                over BA_OPT_MAX_WORKER_MEMORY: the limit is below what
                                one frame of the scene needs. A limit the caller set
                                still replaces such a worker (after that frame and the
                                one already sent to it); the automatic one (-1) keeps
                                it. Verbose says so once */
    BA_STAT_MEMORY_LIMIT = 4, /* the memory limit in effect, bytes (-1 resolved); 0: none */
    BA_STAT_MAX_MEMORY = 5,  /* the most memory a worker held after a frame, bytes, as
                                BA_OPT_MAX_WORKER_MEMORY measures it (reported after
                                every frame, limit or not): what to size a limit on */
};

/*! ba_renderer_stat() : one of the counts above, since ba_renderer_open();
 *  -1 for NULL or an unknown `what`. */
BA_API int64_t ba_renderer_stat(const ba_renderer *r, int what);

/*! ba_renderer_identity() : what determines the frames this renderer makes,
 *  as a JSON object in *json (NUL-terminated, compact, keys sorted; free it
 *  with ba_free()), so that a dataset resumed with other parameters can be
 *  refused. Its keys (more may be added, none removed):
 *    "scene":    null (the built-in demo scene) or {"path": absolute path,
 *                "size": bytes, "crc32": zlib's crc32 of its bytes}, read now
 *    "settings": the BA_OPT_SETTINGS object ({} when none)
 *    "setup":    the BA_OPT_SETUP object, or null
 *    "seed":     BA_OPT_SEED
 *    "blender":  the Blender version the workers run ("3.4.1", "5.0.1"), as
 *                their init reply says it; null before a worker has started
 *  Options that change how frames are made but not what they hold (workers,
 *  ring, retries, timeout, recycling) are not in it. BA_OK, BA_EINVAL (NULL
 *  arguments), BA_EIO (the scene cannot be read: ba_renderer_message() says
 *  why) or BA_ENOMEM; *json is NULL on failure. */
BA_API int ba_renderer_identity(const ba_renderer *r, char **json);

/*! ba_renderer_close() : stop every worker (they also die with this process:
 *  PR_SET_PDEATHSIG) and free everything; frames not yet released stay
 *  valid until they are. NULL ok. */
BA_API void ba_renderer_close(ba_renderer *r);

/* ====================================================================== */
/*  Labels: instances, boxes, COCO masks, Cryptomatte ids, optical flow    */
/* ====================================================================== */

/* The instances of an instance-id image, found in one pass over it: every
 * distinct non-zero id is one instance (0 is the background). For each:
 * its id, its area in pixels, its tight box and its mask as COCO run-length
 * encoding. Ids are reported in ascending order. Immutable once made. */
typedef struct ba_instances ba_instances;

/*! ba_instances_find() : the instances of the (height, width) image `ids`,
 *  row-major, row 0 the top, rows `row_stride` bytes apart (0: width *
 *  pixel_stride), pixels `pixel_stride` bytes apart (0: packed; e.g. 16 for the first
 *  channel of an RGBA float32 pass, such as a Cryptomatte pass's rank-0 id;
 *  less than the element's size is BA_EINVAL).
 *  dtype: BA_DTYPE_U8, U16, U32, I32 (a negative id is BA_ERANGE) or F32 (an
 *  index pass as Blender stores it: each value an integer in 0 .. 2^32-1,
 *  else BA_ERANGE). Other dtypes are BA_EUNSUPPORTED. More distinct
 *  non-zero ids than `max_instances` is BA_ERANGE; height * width beyond
 *  UINT32_MAX (a COCO run length) is BA_EOVERFLOW. On error *out is NULL. */
BA_API int ba_instances_find(ba_instances **out, const void *ids, int dtype, size_t height,
                             size_t width, size_t row_stride, size_t pixel_stride,
                             size_t max_instances);

/*! ba_instances_count() : how many instances (0 for NULL). */
BA_API size_t ba_instances_count(const ba_instances *in);

/*! ba_instances_id() .. ba_instances_rle() : instance i (0 <= i < count;
 *  out of range: id 0, area 0, box all 0, rle NULL with *n 0).
 *  box: COCO's [x, y, width, height] in whole pixels, x right, y down
 *  (pycocotools' toBbox of the mask). rle: COCO's uncompressed RLE
 *  counts: the mask read column by column (column-major, as COCO and
 *  pycocotools.mask.encode store it), alternating runs of 0 and 1
 *  starting with 0 (so counts[0] may be 0); valid while `in` lives; n may
 *  be NULL. */
BA_API uint32_t ba_instances_id(const ba_instances *in, size_t i);
BA_API uint64_t ba_instances_area(const ba_instances *in, size_t i);
BA_API void ba_instances_box(const ba_instances *in, size_t i, uint32_t box[4]);
BA_API const uint32_t *ba_instances_rle(const ba_instances *in, size_t i, size_t *n);

/*! ba_instances_free() : NULL ok. */
BA_API void ba_instances_free(ba_instances *in);

/*! ba_rle_string_bound() : the most bytes ba_rle_to_string() writes for `n`
 *  counts, terminating NUL included. */
BA_API size_t ba_rle_string_bound(size_t n);

/*! ba_rle_to_string() : COCO's compressed RLE string of `n` counts (the
 *  "counts" of a segmentation in a COCO JSON file, as pycocotools' rleToString
 *  writes it), NUL-terminated, into dst; *len (may be NULL) gets its length
 *  without the NUL. BA_EBUFSIZE if cap is too small. */
BA_API int ba_rle_to_string(const uint32_t *counts, size_t n, char *dst, size_t cap, size_t *len);

/*! ba_rle_from_string() : the counts of a COCO compressed RLE string of
 *  `len` bytes (as pycocotools' rleFrString reads it) into counts[0 .. cap),
 *  *n their number. BA_EFORMAT for a string that is not one (a character
 *  outside '0'..'o', a count that does not fit 32 bits or is negative, an
 *  unterminated last count); BA_EBUFSIZE if more than cap counts (*n then
 *  says how many; counts may be NULL when cap is 0, to ask); *n is 0 after
 *  any other error. A string of length len has at most len counts. */
BA_API int ba_rle_from_string(const char *s, size_t len, uint32_t *counts, size_t cap, size_t *n);

/*! ba_rle_decode() : paint the (height, width) mask of `n` counts into dst
 *  (row-major, row 0 the top, rows `row_stride` bytes apart, 0: packed):
 *  `value` where the mask is 1, dst left as it was elsewhere. BA_EFORMAT
 *  (dst untouched) when the counts do not sum to height * width. */
BA_API int ba_rle_decode(const uint32_t *counts, size_t n, size_t height, size_t width,
                         uint8_t *dst, size_t row_stride, uint8_t value);

/*! ba_rle_measure() : the pixels a COCO compressed RLE string of `len`
 *  bytes covers (the sum of its counts) and how many of them are in the mask
 *  (its area: the odd counts), without storing the counts. BA_EFORMAT for a
 *  string that is not one (as ba_rle_from_string); pixels and ones (either
 *  may be NULL) are then 0. */
BA_API int ba_rle_measure(const char *s, size_t len, uint64_t *pixels, uint64_t *ones);

/*! ba_rle_decode_string() : ba_rle_from_string() then ba_rle_decode() in one
 *  call, with no allocation: paint the (height, width) mask of the COCO
 *  compressed RLE string `s` (`len` bytes) into dst, as ba_rle_decode().
 *  BA_EFORMAT (dst untouched) for a string that is not COCO RLE or whose
 *  counts do not sum to height * width. */
BA_API int ba_rle_decode_string(const char *s, size_t len, size_t height, size_t width,
                                uint8_t *dst, size_t row_stride, uint8_t value);

/*! ba_cryptomatte_hash() : Cryptomatte's hash of a name (MurmurHash3_x86_32,
 *  seed 0, of its `len` bytes): what a Cryptomatte manifest lists, as 8
 *  lower-case hex digits, for the name. */
BA_API uint32_t ba_cryptomatte_hash(const char *name, size_t len);

/*! ba_cryptomatte_id() : the bits of the float32 that a Cryptomatte pass
 *  stores for `hash` (the exponent kept within 1..254, so the float is
 *  never 0, a denormal, an infinity or a NaN), as Blender and the
 *  Cryptomatte specification compute it. */
BA_API uint32_t ba_cryptomatte_id(uint32_t hash);

/*! ba_cryptomatte_coverage() : add to out (height * width floats, packed)
 *  the coverage of `id` (the bits of its float in the pass: ba_cryptomatte_id)
 *  in one Cryptomatte pass, (height, width, 4) packed float32 holding two
 *  ranks per pixel (id, coverage, id, coverage). Summed over every pass of
 *  a kind (_00, _01, ...) into a zeroed out: the fraction of each pixel the
 *  object covers, the soft mask (matte) that Blender's Cryptomatte node
 *  makes. */
BA_API int ba_cryptomatte_coverage(float *out, const float *pass, size_t height, size_t width,
                                   uint32_t id);

/*! ba_flow_from_vector() : Blender's Vector pass (H, W, 4) to optical flow
 *  in image convention (pixels, x right, y down), (H, W, 2) each, packed.
 *  Blender stores, per pixel, (X, Y) = where the surface was in the previous
 *  frame minus where it is now, and (Z, W) = where it is now minus where it
 *  will be in the next frame, in pixels with y pointing up. So
 *  forward (now -> next) = (-Z, +W) and backward (now -> previous) =
 *  (X, -Y). Either output may be NULL. */
BA_API int ba_flow_from_vector(const float *vector, size_t height, size_t width, float *forward,
                               float *backward);

/* ====================================================================== */
/*  The display image: Blender's steps around OpenColorIO's view transform */
/* ====================================================================== */

/* Blender turns a render's float RGBA into its 8-bit display image (the PNG
 * it saves) in three steps: predivide, the view transform (OpenColorIO, with
 * the scene's display, view, look, exposure and gamma), then straight alpha,
 * dither and rounding. blendarray makes the same bytes with the same
 * OpenColorIO library between the two calls below. */

/* Blender's dither noise, which changed with its version. */
enum ba_dither_noise {
    BA_DITHER_SINES = 0, /* Blender 3.x: two sines of (x / width, y / height) within
                            blocks of 64 rows from the bottom, each its own image */
    BA_DITHER_HASH = 1,  /* Blender 4.x and later: the iqint3 hash of (x, y) */
};

/*! ba_display_predivide() : `n` packed RGBA pixels from src to dst (the
 *  same buffer is fine): where alpha is neither 0 nor 1, rgb * (1 / alpha)
 *  (premultiplied → straight, as Blender does before the view transform). */
BA_API int ba_display_predivide(float *dst, const float *src, size_t n);

/* How one image's display bytes are made after its view transform. */
typedef struct ba_display ba_display;

/*! ba_display_new() : for (height, width) images with Blender's dither
 *  intensity `dither` (0: none) and noise. BA_EINVAL for an unknown noise
 *  or a negative or NaN dither. */
BA_API int ba_display_new(ba_display **out, size_t height, size_t width, float dither,
                          int noise);

/*! ba_display_rows() : the display bytes of `rows` view-transformed rows
 *  starting at image row `first_row` (row 0 the top): where 0 < alpha < 1,
 *  rgb *= alpha then *= 1 / alpha (premultiplied again, then straight alpha
 *  for the file: two roundings, as in Blender); then, with dither, the
 *  noise of Blender's version times 0.0033 * dither added to rgb, at the
 *  pixel's position counted from the BOTTOM row (Blender's); then each
 *  channel to 0..255 as Blender rounds it: 0 for v <= 0 and NaN, 255 for
 *  v > 1 - 0.5/255, else (uint8)(255 v + 0.5); alpha without dither. src
 *  and dst are packed (rows, width, 4). Thread-safe on one `d`: blocks of
 *  rows may be made on several threads at once. */
BA_API int ba_display_rows(const ba_display *d, uint8_t *dst, const float *src,
                           size_t first_row, size_t rows);

/*! ba_display_free() : NULL ok. */
BA_API void ba_display_free(ba_display *d);

/* ====================================================================== */
/*  .blend files: which Blender saved one                                  */
/* ====================================================================== */

/* A Blender that cannot read a file saved by a newer one says only "not a
 * blend file"; the header says which version saved it. */

/* The most of a file's first bytes ba_blend_version() reads: a zstd-compressed
 * file's first block (at most 128 KiB) and the headers before it. */
#define BA_BLEND_HEAD_MAX (128 * 1024 + 64)

/*! ba_blend_version() : the version of the Blender that saved a .blend file,
 *  from the file's first `size` bytes at `head` (BA_BLEND_HEAD_MAX of them,
 *  or the whole file if shorter): e.g. *major 3, *minor 4 for Blender 3.4
 *  (a file records its Blender's major and minor version, not the patch).
 *  Reads each header Blender writes: "BLENDER", '_' or '-' (4- or 8-byte
 *  pointers), 'v' or 'V' (little or big endian), 3 digits (e.g.
 *  "BLENDER-v304": Blender 2.x to 4.x); "BLENDER17-01v" and 4 digits (e.g.
 *  "BLENDER17-01v0500": Blender 5.0 on); either one compressed with gzip
 *  (Blender before 3.0) or zstd (3.0 on). Returns BA_OK; BA_EFORMAT when
 *  the bytes are not the beginning of a .blend file (no "BLENDER" at the
 *  start, plain or decompressed; corrupt compressed data; too few bytes);
 *  BA_EUNSUPPORTED for "BLENDER" followed by a header of a format this
 *  reader does not know (Blender calls that a file of a future version);
 *  BA_ENOMEM; BA_EINVAL for NULL. *major and *minor are written on BA_OK
 *  only. */
BA_API int ba_blend_version(const void *head, size_t size, int *major, int *minor);

/*! ba_blend_version_fd() : the same for the file open as `fd`, read from its
 *  start with pread() (its file offset stays where it was). BA_EIO (errno
 *  set) when it cannot be read. */
BA_API int ba_blend_version_fd(int fd, int *major, int *minor);

/* ====================================================================== */
/*  COCO datasets                                                          */
/* ====================================================================== */

/* A COCO dataset written as frames arrive, for pycocotools and the tools that
 * read COCO: DIR/images/000000.png ... (each frame's display image) and
 * DIR/annotations.json ("info", "images", "categories", "annotations"; the
 * annotations are the instances of each frame's metadata, docs/labels.md:
 * masks as COCO compressed RLE, boxes, areas, the 8 box corners as
 * keypoints, "blendarray": {"name", "instance_id"}; instances without a
 * category are left out and counted).
 *
 * Memory stays flat in the number of frames: each image is written as it
 * comes, its records are appended to temporary files, and annotations.json
 * is assembled from them at the end; only the categories are kept.
 * The dataset is filled in a folder beside DIR, ".<name>.coco-<pid>-XXXXXX",
 * and renamed into place by ba_coco_finish(): DIR is complete or untouched.
 * A process killed meanwhile leaves that folder behind: the library does not
 * sweep; a caller may remove those whose process is gone.
 *
 *     ba_coco_writer *w = NULL;
 *     int err = ba_coco_new(&w);
 *     if (!err) err = ba_coco_open(w, "out/coco", 0);
 *     for (each frame and while !err)
 *         err = ba_coco_add(w, display, width, height, 0, frame_meta_json, -1);
 *     if (!err) err = ba_coco_finish(w, NULL);
 *     if (err) fprintf(stderr, "%s\n", ba_coco_message(w));
 *     ba_coco_free(w);   // removes the unfinished folder, if any
 *
 * Not thread-safe on one writer: one call at a time. */
typedef struct ba_coco_writer ba_coco_writer;

/* What ba_coco_count() counts. Values are fixed once released: append only. */
enum ba_coco_count {
    BA_COCO_IMAGES = 0,      /* images added */
    BA_COCO_ANNOTATIONS = 1, /* annotations written (instances with a category) */
    BA_COCO_CATEGORIES = 2,  /* distinct categories seen */
    BA_COCO_SKIPPED = 3,     /* instances left out: no category */
};

/*! ba_coco_new() : a writer, not open yet (BA_ENOMEM: *out NULL). Made
 *  apart from ba_coco_open() so that a failed open can say why. */
BA_API int ba_coco_new(ba_coco_writer **out);

/*! ba_coco_open() : start the dataset DIR (trailing slashes ignored), in a
 *  new folder beside it with images/ in it. DIR must be new, an empty folder,
 *  or (overwrite != 0) a folder with files, replaced at finish. Errors, with
 *  ba_coco_message() saying which: BA_EEXIST (DIR holds files and overwrite
 *  is 0), BA_EINVAL (DIR is "", "/", "." or "..", or exists and is not a
 *  folder, a symbolic link included), BA_EIO (DIR cannot be read, or no
 *  folder can be made beside it: its parent is missing, read-only, ...),
 *  BA_ESTATE (opened already), BA_ENOMEM. A writer that failed to open is
 *  unusable: free it. */
BA_API int ba_coco_open(ba_coco_writer *w, const char *dir, int overwrite);

/*! ba_coco_add() : one image and its annotations. rgba: the (height, width)
 *  8-bit RGBA display image, row 0 the top, rows `row_stride` bytes apart (0:
 *  packed), written now as images/<image id, 6 digits or more>.png.
 *  meta_json: the frame's metadata, a JSON object holding "annotations"
 *  (docs/labels.md: "instances", "categories", "keypoints"), as a blendarray
 *  frame's meta is; an integer "frame" in it is kept in the image's record.
 *  image_id: >= 0, or -1 for one more than the largest so far (0 first).
 *  Everything is checked before anything is written: BA_EFORMAT when the
 *  labels are not as docs/labels.md describes them (the message says what:
 *  "malformed labels in its metadata: instance 2: \"area\" is not the
 *  mask's pixel count"; every mask must be COCO RLE of the image's size),
 *  BA_EINVAL for a bad argument or an image id given before; the writer then
 *  stays usable. BA_EIO (errno set), BA_ENOMEM, when writing failed: a
 *  failed PNG leaves the writer usable, a failed record ends the dataset
 *  (BA_ESTATE after). BA_ESTATE when not open, failed or finished. */
BA_API int ba_coco_add(ba_coco_writer *w, const uint8_t *rgba, uint32_t width, uint32_t height,
                       size_t row_stride, const char *meta_json, int64_t image_id);

/*! ba_coco_finish() : write annotations.json and move the folder into place
 *  (onto DIR when it is new or empty; with overwrite, DIR with files is
 *  swapped for it and removed). info_json: NULL or a JSON object whose keys
 *  go into the dataset's "info" over its defaults ("description",
 *  "version": this library's, "date_created": now, UTC); one that is not an
 *  object is BA_EINVAL and nothing happens. Categories are listed by id.
 *  On any other failure nothing is left of the dataset (DIR as it was):
 *  BA_EEXIST when files appeared in DIR meanwhile and overwrite is 0,
 *  BA_EIO, BA_ENOMEM. The writer then takes no more calls (BA_ESTATE) but
 *  ba_coco_count() and ba_coco_message(). */
BA_API int ba_coco_finish(ba_coco_writer *w, const char *info_json);

/*! ba_coco_count() : an enum ba_coco_count so far (0 for NULL or an unknown one). */
BA_API uint64_t ba_coco_count(const ba_coco_writer *w, int what);

/*! ba_coco_message() : what went wrong in the last call that failed, with
 *  the path and the system's words where they help ("" when none; valid
 *  until the next call on w). */
BA_API const char *ba_coco_message(const ba_coco_writer *w);

/*! ba_coco_free() : remove an unfinished dataset's folder and free w (NULL ok). */
BA_API void ba_coco_free(ba_coco_writer *w);

/* ====================================================================== */
/*  Sharded datasets                                                       */
/* ====================================================================== */

/* A dataset written as WebDataset shards (docs/datasets.md), resumable:
 *
 *   DIR/dataset.json        {"format": "blendarray-shards", "version": 1,
 *                            "params", "shard_samples", "shard_bytes", "coco",
 *                            "blendarray"}: written once, when DIR is made
 *   DIR/shard-000000.tar .. POSIX ustar archives of whole samples: each
 *                            sample's members "<key>.<name>.npy" (an array;
 *                            a '/' of its name becomes '.'), "<key>.display.png"
 *                            (the array "display"), "<key>.json" (its metadata
 *                            less what is not a function of the seed and the
 *                            index: "worker" and the "*_seconds" timings);
 *                            key: the index, 9 digits or more
 *   DIR/shard-NNNNNN.coco.json  with BA_SHARDS_COCO: the shard's COCO file
 *   DIR/shards.jsonl        the index: one line per complete shard, appended
 *                            and fsync'd after its rename: {"shard", "samples",
 *                            "indices": [[first, last + 1], ...], "bytes",
 *                            "crc32", "coco"}. A shard is complete when its
 *                            line is there, and only then.
 *
 * A shard is filled under a temporary name in DIR (".shard-NNNNNN.tar.PID-XXXXXX")
 * and closes when it holds BA_SHARDS_SAMPLES samples or its members reach
 * BA_SHARDS_BYTES bytes; its bytes depend only on its samples, so a resumed
 * dataset equals an uninterrupted one. A second writer on the same DIR is
 * refused while the first lives (a lock on DIR/.lock). Memory stays flat in
 * the number of samples (what is done is kept as ranges of indices).
 *
 *     ba_shard_writer *w = NULL;
 *     int err = ba_shards_new(&w);
 *     if (!err) err = ba_shards_set_int(w, BA_SHARDS_SAMPLES, 1000);
 *     if (!err) err = ba_shards_set_int(w, BA_SHARDS_RESUME, 1);
 *     if (!err) err = ba_shards_open(w, "out/shards", "{\"seed\": 0}");
 *     for (each frame f whose index is not ba_shards_done(w, index), while !err)
 *         err = ba_shards_add(w, f->index, f->arrays, f->narrays, f->meta_json);
 *     if (!err) err = ba_shards_finish(w);
 *     if (err) fprintf(stderr, "%s\n", ba_shards_message(w));
 *     ba_shards_free(w);   // an unfinished shard's temporary file goes
 *
 * Not thread-safe on one writer: one call at a time. */
typedef struct ba_shard_writer ba_shard_writer;

/* The options of ba_shards_set_int(). Values are fixed once released: append only. */
enum ba_shards_option {
    BA_SHARDS_SAMPLES = 1, /* int 1..INT32_MAX: samples per shard. Default: 1000 */
    BA_SHARDS_BYTES = 2,   /* int 0..INT64_MAX: a shard closes after the sample that brings
                              its members (headers, data and padding; not the 1024-byte
                              end of the archive) to this many bytes or more; 0: no
                              byte limit. Default: 0 */
    BA_SHARDS_COCO = 3,    /* 0/1: a COCO file beside each shard (each sample needs its
                              "display" array and labels in its metadata). Default: 0 */
    BA_SHARDS_RESUME = 4,  /* 0/1: continue the dataset DIR holds. Default: 0 */
};

/* What ba_shards_count() counts. Values are fixed once released: append only. */
enum ba_shards_count {
    BA_SHARDS_DONE = 0,     /* samples in complete shards: found at open, and written */
    BA_SHARDS_COMPLETE = 1, /* complete shards in DIR */
    BA_SHARDS_WRITTEN = 2,  /* shards completed by this writer */
    BA_SHARDS_PENDING = 3,  /* samples added that no complete shard holds yet */
};

/*! ba_shards_new() : a writer, not open yet (BA_ENOMEM: *out NULL). Made
 *  apart from ba_shards_open() so that a failed open can say why. */
BA_API int ba_shards_new(ba_shard_writer **out);

/*! ba_shards_set_int() : set an enum ba_shards_option, before open.
 *  BA_EINVAL (ba_shards_message() says the bounds) for a value out of its
 *  bounds or an unknown option, BA_ESTATE after open. */
BA_API int ba_shards_set_int(ba_shard_writer *w, int option, int64_t value);

/*! ba_shards_open() : start or continue the dataset in DIR. params_json:
 *  what identifies the run (a JSON object: scene, settings, seed, the
 *  frames' plan, ...; NULL: {}), stored in dataset.json as given.
 *  - DIR missing (its parent must exist) or an empty folder: a new dataset.
 *  - DIR with files but no dataset.json: BA_EEXIST, nothing touched.
 *  - DIR with a dataset and BA_SHARDS_RESUME 0: BA_EEXIST (the message says
 *    how many shards and samples it holds).
 *  - With BA_SHARDS_RESUME 1: its params, shard samples, shard bytes and
 *    COCO must equal this run's (BA_EEXIST naming the first that differs,
 *    with both values); the index is read (a torn last line, left by a
 *    writer that died while appending it, is cut away; any other bad line is
 *    BA_EFORMAT with its number); every listed shard must have its listed
 *    size and crc32 and be a tar of its listed samples (BA_EFORMAT naming
 *    the shard, said to be damaged: the files are read whole); temporary
 *    files of dead writers and shard files the index does not list (never
 *    committed) are removed.
 *  BA_EBUSY when another writer holds DIR; BA_EINVAL (DIR is "" or "/", or
 *  not a folder), BA_EIO (with the path and errno's words), BA_ENOMEM,
 *  BA_ESTATE (opened before). A writer that failed to open is unusable. */
BA_API int ba_shards_open(ba_shard_writer *w, const char *dir, const char *params_json);

/*! ba_shards_done() : 1 when a complete shard holds sample `index`, else 0
 *  (samples added to the shard being written are not done yet). */
BA_API int ba_shards_done(const ba_shard_writer *w, int64_t index);

/*! ba_shards_add() : one sample: `narrays` arrays (names unique, a
 *  case-insensitive match included, as webdataset lower-cases them; made of
 *  parts that are neither empty nor hold a control character or a backslash,
 *  joined by '/'; "display", when there, an (H, W, 4) uint8 image, written
 *  as PNG) and meta_json, the frame's metadata (a JSON object). The shard
 *  closes, and is committed, after this sample when it is full.
 *  Everything is checked before anything is written: BA_EINVAL (a negative
 *  index, one done already or added before, a bad array or name, meta_json
 *  not an object, a member name over ustar's 100 bytes), BA_EFORMAT (with
 *  COCO: labels docs/labels.md does not describe), BA_EOVERFLOW (an array
 *  of 8 GiB or more); the writer then stays usable. BA_EIO (errno set; a
 *  full disk), BA_ENOMEM: the shard being written is removed, complete
 *  shards are untouched, and the writer takes no more samples (BA_ESTATE). */
BA_API int ba_shards_add(ba_shard_writer *w, int64_t index, const ba_frame_array *arrays,
                         int narrays, const char *meta_json);

/*! ba_shards_finish() : complete the last shard (short, when it is not
 *  full); the dataset is then complete, and DIR is unlocked. BA_EIO,
 *  BA_ENOMEM as in ba_shards_add(); BA_ESTATE when not open or failed. */
BA_API int ba_shards_finish(ba_shard_writer *w);

/*! ba_shards_count() : an enum ba_shards_count (0 for NULL or an unknown one). */
BA_API uint64_t ba_shards_count(const ba_shard_writer *w, int what);

/*! ba_shards_message() : what went wrong in the last call that failed,
 *  naming the folder or file and what to do ("" when none; valid until the
 *  next call on w). */
BA_API const char *ba_shards_message(const ba_shard_writer *w);

/*! ba_shards_free() : remove the temporary file of an unfinished shard (its
 *  samples are not done: a resume renders them again), unlock DIR, free w
 *  (NULL ok). Complete shards stay. */
BA_API void ba_shards_free(ba_shard_writer *w);

#ifdef __cplusplus
}
#endif
#endif /* BLENDARRAY_H */
