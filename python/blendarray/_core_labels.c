/*
 * _core_labels.c — the label kernels for the consumer side (blendarray.labels):
 * COCO RLE decoded into a mask, Cryptomatte coverage summed into a soft mask,
 * and CocoWriter (ba_coco_writer: a COCO dataset written as frames come).
 * Buffers through the buffer protocol; the GIL released around the C work.
 * Checking what the arrays are (dtype, shape) is the caller's (labels.py),
 * which knows NumPy; here only sizes are checked, so that no call can write
 * outside a buffer.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "blendarray.h"
#include "_core.h"

/* A writable C-contiguous 2-D uint8 buffer: the mask; -1 with an exception set. */
static int mask_buffer(PyObject *obj, Py_buffer *out, const char *fn)
{
    if (PyObject_GetBuffer(obj, out, PyBUF_C_CONTIGUOUS | PyBUF_WRITABLE | PyBUF_ND) != 0)
        return -1;
    if (out->ndim != 2 || out->itemsize != 1) {
        PyErr_Format(PyExc_ValueError, "%s: out must be a 2-D uint8 buffer", fn);
        PyBuffer_Release(out);
        return -1;
    }
    return 0;
}

static PyObject *mask_error(int err, const Py_buffer *out)
{
    PyErr_Format(PyExc_ValueError, "not the COCO RLE of a %zdx%zd mask (%s)", out->shape[0],
                 out->shape[1], ba_strerror(err));
    return NULL;
}

PyDoc_STRVAR(rle_decode_doc,
"rle_decode(counts, out)\n--\n\n"
"Set to 1 the pixels of the COCO compressed RLE string `counts` (bytes) in\n"
"`out`, a writable C-contiguous (H, W) uint8 buffer (H and W: the mask's\n"
"size). ValueError for a string that is not COCO RLE or does not fill H * W.");

static PyObject *rle_decode(PyObject *self, PyObject *args)
{
    (void)self;
    const char *s;
    Py_ssize_t len;
    PyObject *outobj;
    if (!PyArg_ParseTuple(args, "y#O", &s, &len, &outobj)) return NULL;
    Py_buffer out;
    if (mask_buffer(outobj, &out, "rle_decode") != 0) return NULL;
    int err;
    Py_BEGIN_ALLOW_THREADS
    err = ba_rle_decode_string(s, (size_t)len, (size_t)out.shape[0], (size_t)out.shape[1],
                               out.buf, 0, 1);
    Py_END_ALLOW_THREADS
    PyObject *result = err ? mask_error(err, &out) : Py_NewRef(Py_None);
    PyBuffer_Release(&out);
    return result;
}

PyDoc_STRVAR(rle_decode_counts_doc,
"rle_decode_counts(counts, out)\n--\n\n"
"As rle_decode, for COCO's uncompressed RLE: `counts` a C-contiguous buffer\n"
"of uint32 run lengths (0s first, column by column), as pycocotools takes a\n"
"list of counts.");

static PyObject *rle_decode_counts(PyObject *self, PyObject *args)
{
    (void)self;
    PyObject *countsobj, *outobj;
    if (!PyArg_ParseTuple(args, "OO", &countsobj, &outobj)) return NULL;
    Py_buffer counts, out;
    if (PyObject_GetBuffer(countsobj, &counts, PyBUF_C_CONTIGUOUS | PyBUF_FORMAT) != 0)
        return NULL;
    if (ba_py_dtype_of(counts.format) != BA_DTYPE_U32 || counts.itemsize != 4) {
        PyBuffer_Release(&counts);
        PyErr_SetString(PyExc_ValueError, "rle_decode_counts: counts must be uint32");
        return NULL;
    }
    if (mask_buffer(outobj, &out, "rle_decode_counts") != 0) {
        PyBuffer_Release(&counts);
        return NULL;
    }
    int err;
    Py_BEGIN_ALLOW_THREADS
    err = ba_rle_decode(counts.buf, (size_t)counts.len / 4, (size_t)out.shape[0],
                        (size_t)out.shape[1], out.buf, 0, 1);
    Py_END_ALLOW_THREADS
    PyObject *result = err ? mask_error(err, &out) : Py_NewRef(Py_None);
    PyBuffer_Release(&out);
    PyBuffer_Release(&counts);
    return result;
}

PyDoc_STRVAR(rle_counts_doc,
"rle_counts(counts)\n--\n\n"
"The run lengths (a list of int) of the COCO compressed RLE string `counts`\n"
"(bytes), as pycocotools' rleFrString reads them. ValueError for a string\n"
"that is not one.");

static PyObject *rle_counts(PyObject *self, PyObject *arg)
{
    (void)self;
    char *s;
    Py_ssize_t len;
    if (PyBytes_AsStringAndSize(arg, &s, &len) != 0) return NULL;
    size_t n = 0;
    int err = ba_rle_from_string(s, (size_t)len, NULL, 0, &n); /* how many */
    uint32_t *counts = err == BA_EBUFSIZE ? PyMem_Malloc(n * sizeof *counts) : NULL;
    if (err == BA_EBUFSIZE && !counts) return PyErr_NoMemory();
    if (counts) err = ba_rle_from_string(s, (size_t)len, counts, n, &n);
    PyObject *list = err ? NULL : PyList_New((Py_ssize_t)n);
    if (err)
        PyErr_Format(PyExc_ValueError, "rle_counts: not a COCO compressed RLE string (%s)",
                     ba_strerror(err));
    for (size_t i = 0; list && i < n; i++) {
        PyObject *v = PyLong_FromUnsignedLong(counts[i]);
        if (!v) Py_CLEAR(list);
        else PyList_SET_ITEM(list, (Py_ssize_t)i, v);
    }
    PyMem_Free(counts);
    return list;
}

static int is_f32(const Py_buffer *b)
{
    return ba_py_dtype_of(b->format) == BA_DTYPE_F32 && b->itemsize == 4;
}

PyDoc_STRVAR(cryptomatte_coverage_doc,
"cryptomatte_coverage(out, pass_, id)\n--\n\n"
"Add to `out` (a writable C-contiguous float32 buffer of H * W items) the\n"
"coverage of the Cryptomatte id `id` (uint32: the bits of its float) in\n"
"`pass_`, a C-contiguous float32 buffer of H * W * 4 items (two ranks a pixel).");

static PyObject *cryptomatte_coverage(PyObject *self, PyObject *args)
{
    (void)self;
    PyObject *outobj, *passobj, *idobj;
    if (!PyArg_ParseTuple(args, "OOO!", &outobj, &passobj, &PyLong_Type, &idobj)) return NULL;
    unsigned long id = PyLong_AsUnsignedLong(idobj); /* negative: OverflowError */
    if (PyErr_Occurred()) return NULL;
    if (id > UINT32_MAX) {
        PyErr_SetString(PyExc_OverflowError, "cryptomatte_coverage: id is a uint32");
        return NULL;
    }
    Py_buffer out, pass;
    int flags = PyBUF_C_CONTIGUOUS | PyBUF_FORMAT;
    if (PyObject_GetBuffer(outobj, &out, flags | PyBUF_WRITABLE) != 0) return NULL;
    if (PyObject_GetBuffer(passobj, &pass, flags) != 0) {
        PyBuffer_Release(&out);
        return NULL;
    }
    PyObject *result = NULL;
    size_t pixels = (size_t)out.len / sizeof(float);
    if (!is_f32(&out) || !is_f32(&pass)) {
        PyErr_SetString(PyExc_ValueError, "cryptomatte_coverage: out and pass_ are float32");
        goto done;
    }
    if ((size_t)pass.len != pixels * 4 * sizeof(float)) {
        PyErr_Format(PyExc_ValueError, "cryptomatte_coverage: %zd bytes of pass for %zd of out: "
                     "want 4 floats a pixel against 1", pass.len, out.len);
        goto done;
    }
    int err;
    Py_BEGIN_ALLOW_THREADS
    err = ba_cryptomatte_coverage(out.buf, pass.buf, 1, pixels, (uint32_t)id);
    Py_END_ALLOW_THREADS
    if (err != BA_OK) {
        PyErr_Format(PyExc_ValueError, "cryptomatte_coverage: %s", ba_strerror(err));
        goto done;
    }
    result = Py_NewRef(Py_None);
done:
    PyBuffer_Release(&pass);
    PyBuffer_Release(&out);
    return result;
}

static PyObject *cryptomatte_id(PyObject *self, PyObject *arg)
{
    (void)self;
    Py_ssize_t len;
    const char *name = PyUnicode_AsUTF8AndSize(arg, &len);
    if (!name) return NULL;
    return PyLong_FromUnsignedLong(ba_cryptomatte_id(ba_cryptomatte_hash(name, (size_t)len)));
}

static PyMethodDef label_methods[] = {
    {"rle_decode", rle_decode, METH_VARARGS, rle_decode_doc},
    {"rle_decode_counts", rle_decode_counts, METH_VARARGS, rle_decode_counts_doc},
    {"rle_counts", rle_counts, METH_O, rle_counts_doc},
    {"cryptomatte_coverage", cryptomatte_coverage, METH_VARARGS, cryptomatte_coverage_doc},
    {"cryptomatte_id", cryptomatte_id, METH_O,
     "cryptomatte_id(name)\n--\n\nThe id (uint32, the bits of its float) that Cryptomatte "
     "passes hold for `name`."},
    {NULL, NULL, 0, NULL},
};

/* ---- CocoWriter: ba_coco_writer ---------------------------------------- */

typedef struct {
    PyObject_HEAD
    ba_coco_writer *w;
    int busy; /* a call is in C without the GIL: no second one meanwhile */
} CocoWriterObject;

/* The library's error as an exception: the caller's bad values as ValueError
 * (input != 0), the rest as BlendArrayError, naming overwrite for BA_EEXIST. */
static PyObject *coco_error(CocoWriterObject *self, int err, int input)
{
    const char *m = self->w ? ba_coco_message(self->w) : "";
    if (!*m) m = ba_strerror(err);
    if (err == BA_ENOMEM) return PyErr_NoMemory();
    if (input && (err == BA_EFORMAT || err == BA_EINVAL)) {
        PyErr_SetString(PyExc_ValueError, m);
        return NULL;
    }
    PyObject *cls = ba_py_error_type();
    if (cls) {
        PyErr_Format(cls, "%s%s", m, err == BA_EEXIST ? " (overwrite=True replaces it)" : "");
        Py_DECREF(cls);
    }
    return NULL;
}

static int coco_enter(CocoWriterObject *self)
{
    if (self->busy) {
        PyErr_SetString(PyExc_RuntimeError, "CocoWriter is in use by another thread");
        return -1;
    }
    if (!self->w) {
        PyObject *cls = ba_py_error_type();
        if (cls) {
            PyErr_SetString(cls, "the CocoWriter is closed");
            Py_DECREF(cls);
        }
        return -1;
    }
    self->busy = 1;
    return 0;
}

static PyObject *CocoWriter_new(PyTypeObject *type, PyObject *args, PyObject *kw)
{
    static char *kwlist[] = {"dir", "overwrite", NULL};
    PyObject *dir = NULL;
    int overwrite = 0;
    if (!PyArg_ParseTupleAndKeywords(args, kw, "O&|p:CocoWriter", kwlist, PyUnicode_FSConverter,
                                     &dir, &overwrite))
        return NULL;
    CocoWriterObject *self = (CocoWriterObject *)type->tp_alloc(type, 0);
    if (!self) {
        Py_DECREF(dir);
        return NULL;
    }
    int err = ba_coco_new(&self->w);
    if (!err) {
        Py_BEGIN_ALLOW_THREADS
        err = ba_coco_open(self->w, PyBytes_AS_STRING(dir), overwrite);
        Py_END_ALLOW_THREADS
    }
    Py_DECREF(dir);
    if (err) {
        coco_error(self, err, 0);
        Py_DECREF(self);
        return NULL;
    }
    return (PyObject *)self;
}

PyDoc_STRVAR(CocoWriter_add_doc,
"add(rgba, meta_json, image_id=-1)\n--\n\n"
"One image, a C-contiguous (H, W, 4) uint8 buffer, and the labels of the\n"
"frame's metadata (JSON text holding \"annotations\"); image_id -1: the next.\n"
"ValueError for labels that are not docs/labels.md's (the writer goes on).");

static PyObject *CocoWriter_add(CocoWriterObject *self, PyObject *args, PyObject *kw)
{
    static char *kwlist[] = {"rgba", "meta_json", "image_id", NULL};
    PyObject *rgbaobj;
    const char *meta;
    Py_ssize_t meta_len;
    long long image_id = -1;
    if (!PyArg_ParseTupleAndKeywords(args, kw, "Os#|L:add", kwlist, &rgbaobj, &meta, &meta_len,
                                     &image_id))
        return NULL;
    if ((size_t)meta_len != strlen(meta)) {
        PyErr_SetString(PyExc_ValueError, "add: meta_json holds a NUL character");
        return NULL;
    }
    Py_buffer rgba;
    if (PyObject_GetBuffer(rgbaobj, &rgba, PyBUF_C_CONTIGUOUS | PyBUF_FORMAT) != 0) return NULL;
    if (rgba.ndim != 3 || rgba.shape[2] != 4 || rgba.itemsize != 1 ||
        ba_py_dtype_of(rgba.format) != BA_DTYPE_U8 || rgba.shape[0] > INT32_MAX ||
        rgba.shape[1] > INT32_MAX) {
        PyBuffer_Release(&rgba);
        PyErr_SetString(PyExc_ValueError, "add: rgba must be an (H, W, 4) uint8 image");
        return NULL;
    }
    if (coco_enter(self) != 0) {
        PyBuffer_Release(&rgba);
        return NULL;
    }
    int err;
    Py_BEGIN_ALLOW_THREADS /* the PNG's encoding: most of the time */
    err = ba_coco_add(self->w, rgba.buf, (uint32_t)rgba.shape[1], (uint32_t)rgba.shape[0], 0,
                      meta, (int64_t)image_id);
    Py_END_ALLOW_THREADS
    self->busy = 0;
    PyBuffer_Release(&rgba);
    return err ? coco_error(self, err, 1) : Py_NewRef(Py_None);
}

PyDoc_STRVAR(CocoWriter_finish_doc,
"finish(info_json=None)\n--\n\n"
"Write annotations.json and move the dataset into place; info_json: keys of\n"
"its \"info\" (JSON text of an object).");

static PyObject *CocoWriter_finish(CocoWriterObject *self, PyObject *args, PyObject *kw)
{
    static char *kwlist[] = {"info_json", NULL};
    const char *info = NULL;
    if (!PyArg_ParseTupleAndKeywords(args, kw, "|z:finish", kwlist, &info)) return NULL;
    if (coco_enter(self) != 0) return NULL;
    int err;
    Py_BEGIN_ALLOW_THREADS
    err = ba_coco_finish(self->w, info);
    Py_END_ALLOW_THREADS
    self->busy = 0;
    return err ? coco_error(self, err, 1) : Py_NewRef(Py_None);
}

static PyObject *CocoWriter_close(CocoWriterObject *self, PyObject *unused)
{
    (void)unused;
    if (self->busy) {
        PyErr_SetString(PyExc_RuntimeError, "CocoWriter is in use by another thread");
        return NULL;
    }
    ba_coco_writer *w = self->w;
    self->w = NULL;
    Py_BEGIN_ALLOW_THREADS /* an unfinished dataset's folder is removed */
    ba_coco_free(w);
    Py_END_ALLOW_THREADS
    Py_RETURN_NONE;
}

static PyObject *CocoWriter_count(CocoWriterObject *self, void *what)
{
    return PyLong_FromUnsignedLongLong(ba_coco_count(self->w, (int)(intptr_t)what));
}

static void CocoWriter_dealloc(CocoWriterObject *self)
{
    ba_coco_free(self->w); /* never busy: a call holds a reference */
    Py_TYPE(self)->tp_free((PyObject *)self);
}

static PyMethodDef CocoWriter_methods[] = {
    {"add", (PyCFunction)(void (*)(void))CocoWriter_add, METH_VARARGS | METH_KEYWORDS,
     CocoWriter_add_doc},
    {"finish", (PyCFunction)(void (*)(void))CocoWriter_finish, METH_VARARGS | METH_KEYWORDS,
     CocoWriter_finish_doc},
    {"close", (PyCFunction)CocoWriter_close, METH_NOARGS,
     "close()\n--\n\nFree the writer; an unfinished dataset's folder is removed."},
    {NULL, NULL, 0, NULL},
};

static PyGetSetDef CocoWriter_getset[] = {
    {"images", (getter)CocoWriter_count, NULL, "Images added.", (void *)BA_COCO_IMAGES},
    {"annotations", (getter)CocoWriter_count, NULL, "Annotations written.",
     (void *)BA_COCO_ANNOTATIONS},
    {"categories", (getter)CocoWriter_count, NULL, "Categories seen.", (void *)BA_COCO_CATEGORIES},
    {"skipped", (getter)CocoWriter_count, NULL, "Instances left out: no category.",
     (void *)BA_COCO_SKIPPED},
    {NULL, NULL, NULL, NULL, NULL},
};

static PyTypeObject CocoWriter_Type = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "blendarray._core.CocoWriter",
    .tp_basicsize = sizeof(CocoWriterObject),
    .tp_dealloc = (destructor)CocoWriter_dealloc,
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "CocoWriter(dir, overwrite=False)\n--\n\n"
              "ba_coco_writer: a COCO dataset streamed into the folder dir "
              "(blendarray.labels.CocoWriter is the Python API over it).",
    .tp_methods = CocoWriter_methods,
    .tp_getset = CocoWriter_getset,
    .tp_new = CocoWriter_new,
};

int ba_py_add_labels(PyObject *m)
{
    if (PyModule_AddFunctions(m, label_methods) < 0 || PyType_Ready(&CocoWriter_Type) < 0)
        return -1;
    Py_INCREF(&CocoWriter_Type);
    if (PyModule_AddObject(m, "CocoWriter", (PyObject *)&CocoWriter_Type) < 0) {
        Py_DECREF(&CocoWriter_Type);
        return -1;
    }
    return 0;
}
