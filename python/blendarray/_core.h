/* _core.h — what the extension's C files share. */
#ifndef BA_PY_CORE_H
#define BA_PY_CORE_H

#include <Python.h>

/* blendarray._errors.BlendArrayError (a new reference), or NULL with an exception set. */
PyObject *ba_py_error_type(void);

/* The enum ba_dtype of a buffer's struct-module format (NULL: bytes), or -1. */
int ba_py_dtype_of(const char *fmt);

/* _core_renderer.c: add Renderer to the module; -1 with an exception set. */
int ba_py_add_renderer(PyObject *m);

/* _core_labels.c: add the label kernels (rle_decode, rle_decode_counts,
 * rle_counts, cryptomatte_coverage, cryptomatte_id) and CocoWriter (the
 * library's COCO writer, ba_coco_writer); -1 with an exception set. */
int ba_py_add_labels(PyObject *m);

/* _core_shards.c: add ShardWriter (ba_shard_writer: WebDataset shards,
 * resumable); -1 with an exception set. */
int ba_py_add_shards(PyObject *m);

#endif
