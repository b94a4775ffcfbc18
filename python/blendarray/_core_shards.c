/*
 * _core_shards.c — ShardWriter (ba_shard_writer: a dataset of WebDataset
 * shards, resumable; docs/datasets.md) for the consumer side. The Python API
 * over it is blendarray.shards. Arrays come through the buffer protocol
 * (C-contiguous; the element format maps to an enum ba_dtype), the GIL is
 * released around the C work (encoding, writing, and at open a resume's
 * reading back of every shard), and the library's errors become exceptions
 * carrying its message: the caller's bad values (an index done already, a
 * bad array or name, labels COCO cannot take) as ValueError, the rest as
 * BlendArrayError.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <stdint.h>
#include <string.h>

#include "blendarray.h"
#include "_core.h"

typedef struct {
    PyObject_HEAD
    ba_shard_writer *w;
    int busy; /* a call is in C without the GIL: no second one meanwhile */
} ShardWriterObject;

static PyObject *shards_error(ShardWriterObject *self, int err, int input)
{
    const char *m = self->w ? ba_shards_message(self->w) : "";
    if (!*m) m = ba_strerror(err);
    if (err == BA_ENOMEM) return PyErr_NoMemory();
    if (input && (err == BA_EINVAL || err == BA_EFORMAT || err == BA_EOVERFLOW)) {
        PyErr_SetString(PyExc_ValueError, m);
        return NULL;
    }
    PyObject *cls = ba_py_error_type();
    if (cls) {
        PyErr_SetString(cls, m);
        Py_DECREF(cls);
    }
    return NULL;
}

static int shards_enter(ShardWriterObject *self)
{
    if (self->busy) {
        PyErr_SetString(PyExc_RuntimeError, "ShardWriter is in use by another thread");
        return -1;
    }
    if (!self->w) {
        PyObject *cls = ba_py_error_type();
        if (cls) {
            PyErr_SetString(cls, "the ShardWriter is closed");
            Py_DECREF(cls);
        }
        return -1;
    }
    self->busy = 1;
    return 0;
}

static PyObject *ShardWriter_new(PyTypeObject *type, PyObject *args, PyObject *kw)
{
    static char *kwlist[] = {"dir", "params_json", "samples", "bytes", "coco", "resume", NULL};
    PyObject *dir = NULL;
    const char *params = NULL;
    long long samples = 1000, bytes = 0;
    int coco = 0, resume = 0;
    if (!PyArg_ParseTupleAndKeywords(args, kw, "O&|zLLpp:ShardWriter", kwlist,
                                     PyUnicode_FSConverter, &dir, &params, &samples, &bytes,
                                     &coco, &resume))
        return NULL;
    ShardWriterObject *self = (ShardWriterObject *)type->tp_alloc(type, 0);
    if (!self) {
        Py_DECREF(dir);
        return NULL;
    }
    int err = ba_shards_new(&self->w);
    if (!err) err = ba_shards_set_int(self->w, BA_SHARDS_SAMPLES, samples);
    if (!err) err = ba_shards_set_int(self->w, BA_SHARDS_BYTES, bytes);
    if (!err) err = ba_shards_set_int(self->w, BA_SHARDS_COCO, coco);
    if (!err) err = ba_shards_set_int(self->w, BA_SHARDS_RESUME, resume);
    if (err) {
        shards_error(self, err, 1); /* an option out of bounds: the caller's */
        Py_DECREF(dir);
        Py_DECREF(self);
        return NULL;
    }
    Py_BEGIN_ALLOW_THREADS /* a resume reads every shard back */
    err = ba_shards_open(self->w, PyBytes_AS_STRING(dir), params);
    Py_END_ALLOW_THREADS
    Py_DECREF(dir);
    if (err) {
        shards_error(self, err, 0);
        Py_DECREF(self);
        return NULL;
    }
    return (PyObject *)self;
}

/* The arrays of a mapping (name -> buffer) as ba_frame_arrays; views[] and
 * items keep them alive. -1 with an exception set. */
static int take_arrays(PyObject *items, ba_frame_array *arrays, Py_buffer *views, Py_ssize_t n,
                       Py_ssize_t *taken)
{
    *taken = 0;
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *pair = PyList_GET_ITEM(items, i);
        if (!PyTuple_Check(pair) || PyTuple_GET_SIZE(pair) != 2) {
            PyErr_SetString(PyExc_TypeError, "add: arrays must be a mapping of name -> array");
            return -1;
        }
        PyObject *key = PyTuple_GET_ITEM(pair, 0), *value = PyTuple_GET_ITEM(pair, 1);
        const char *name = PyUnicode_Check(key) ? PyUnicode_AsUTF8(key) : NULL;
        if (!name) {
            if (!PyErr_Occurred())
                PyErr_Format(PyExc_TypeError, "add: array names are str, not %.80s",
                             Py_TYPE(key)->tp_name);
            return -1;
        }
        if (PyObject_GetBuffer(value, &views[i], PyBUF_C_CONTIGUOUS | PyBUF_FORMAT) != 0)
            return -1;
        *taken = i + 1;
        Py_buffer *v = &views[i];
        int dtype = ba_py_dtype_of(v->format);
        if (dtype < 0 || (size_t)v->itemsize != ba_dtype_size(dtype)) {
            PyErr_Format(PyExc_TypeError, "add: array '%s' has element format '%s'; a shard "
                         "takes float32, float16, uint8, int32, uint16 or uint32", name,
                         v->format ? v->format : "B");
            return -1;
        }
        if (v->ndim < 1 || v->ndim > 3) {
            PyErr_Format(PyExc_ValueError, "add: array '%s' has %d dimensions; a shard takes "
                         "1 to 3", name, v->ndim);
            return -1;
        }
        ba_frame_array *a = &arrays[i];
        memset(a, 0, sizeof *a);
        a->name = name;
        a->dtype = dtype;
        a->ndim = v->ndim;
        for (int d = 0; d < v->ndim; d++) a->shape[d] = (uint64_t)v->shape[d];
        a->data = v->buf;
        a->nbytes = (size_t)v->len;
    }
    return 0;
}

PyDoc_STRVAR(ShardWriter_add_doc,
"add(index, arrays, meta_json)\n--\n\n"
"One sample: `arrays` a mapping of name -> C-contiguous array (a Frame, a\n"
"dict), `meta_json` the frame's metadata as JSON text. ValueError for an\n"
"index done already or a bad array (the writer goes on); BlendArrayError\n"
"when writing failed (the shard being written is removed, and the writer\n"
"takes no more).");

static PyObject *ShardWriter_add(ShardWriterObject *self, PyObject *args, PyObject *kw)
{
    static char *kwlist[] = {"index", "arrays", "meta_json", NULL};
    long long index;
    PyObject *mapping;
    const char *meta;
    Py_ssize_t meta_len;
    if (!PyArg_ParseTupleAndKeywords(args, kw, "LOs#:add", kwlist, &index, &mapping, &meta,
                                     &meta_len))
        return NULL;
    if ((size_t)meta_len != strlen(meta)) {
        PyErr_SetString(PyExc_ValueError, "add: meta_json holds a NUL character");
        return NULL;
    }
    PyObject *items = PyMapping_Items(mapping);
    if (!items) return NULL;
    if (!PyList_Check(items)) { /* PyMapping_Items gives a list */
        Py_DECREF(items);
        PyErr_SetString(PyExc_TypeError, "add: arrays must be a mapping of name -> array");
        return NULL;
    }
    Py_ssize_t n = PyList_GET_SIZE(items), taken = 0;
    if (n > 4096) {
        Py_DECREF(items);
        PyErr_SetString(PyExc_ValueError, "add: more than 4096 arrays in one sample");
        return NULL;
    }
    ba_frame_array *arrays = PyMem_Calloc((size_t)n + 1, sizeof *arrays);
    Py_buffer *views = PyMem_Calloc((size_t)n + 1, sizeof *views);
    PyObject *result = NULL;
    if (!arrays || !views) {
        PyErr_NoMemory();
        goto done;
    }
    if (take_arrays(items, arrays, views, n, &taken) != 0 || shards_enter(self) != 0) goto done;
    int err;
    Py_BEGIN_ALLOW_THREADS /* the PNG's encoding and the writes */
    err = ba_shards_add(self->w, (int64_t)index, arrays, (int)n, meta);
    Py_END_ALLOW_THREADS
    self->busy = 0;
    result = err ? shards_error(self, err, 1) : Py_NewRef(Py_None);
done:
    for (Py_ssize_t i = 0; i < taken; i++) PyBuffer_Release(&views[i]);
    PyMem_Free(views);
    PyMem_Free(arrays);
    Py_DECREF(items);
    return result;
}

static PyObject *ShardWriter_done(ShardWriterObject *self, PyObject *arg)
{
    long long index = PyLong_AsLongLong(arg);
    if (index == -1 && PyErr_Occurred()) return NULL;
    return PyBool_FromLong(self->w && ba_shards_done(self->w, (int64_t)index));
}

static PyObject *ShardWriter_finish(ShardWriterObject *self, PyObject *unused)
{
    (void)unused;
    if (shards_enter(self) != 0) return NULL;
    int err;
    Py_BEGIN_ALLOW_THREADS
    err = ba_shards_finish(self->w);
    Py_END_ALLOW_THREADS
    self->busy = 0;
    return err ? shards_error(self, err, 0) : Py_NewRef(Py_None);
}

static PyObject *ShardWriter_close(ShardWriterObject *self, PyObject *unused)
{
    (void)unused;
    if (self->busy) {
        PyErr_SetString(PyExc_RuntimeError, "ShardWriter is in use by another thread");
        return NULL;
    }
    ba_shard_writer *w = self->w;
    self->w = NULL;
    Py_BEGIN_ALLOW_THREADS /* an unfinished shard's temporary file is removed */
    ba_shards_free(w);
    Py_END_ALLOW_THREADS
    Py_RETURN_NONE;
}

static PyObject *ShardWriter_count(ShardWriterObject *self, void *what)
{
    return PyLong_FromUnsignedLongLong(ba_shards_count(self->w, (int)(intptr_t)what));
}

static void ShardWriter_dealloc(ShardWriterObject *self)
{
    ba_shards_free(self->w); /* never busy: a call holds a reference */
    Py_TYPE(self)->tp_free((PyObject *)self);
}

static PyMethodDef ShardWriter_methods[] = {
    {"add", (PyCFunction)(void (*)(void))ShardWriter_add, METH_VARARGS | METH_KEYWORDS,
     ShardWriter_add_doc},
    {"done", (PyCFunction)ShardWriter_done, METH_O,
     "done(index)\n--\n\nWhether a complete shard holds sample `index`."},
    {"finish", (PyCFunction)ShardWriter_finish, METH_NOARGS,
     "finish()\n--\n\nComplete the last shard (short when not full): the dataset is complete."},
    {"close", (PyCFunction)ShardWriter_close, METH_NOARGS,
     "close()\n--\n\nFree the writer: an unfinished shard's temporary file is removed, "
     "complete shards stay."},
    {NULL, NULL, 0, NULL},
};

static PyGetSetDef ShardWriter_getset[] = {
    {"samples_done", (getter)ShardWriter_count, NULL, "Samples in complete shards.",
     (void *)BA_SHARDS_DONE},
    {"shards", (getter)ShardWriter_count, NULL, "Complete shards in the folder.",
     (void *)BA_SHARDS_COMPLETE},
    {"shards_written", (getter)ShardWriter_count, NULL, "Shards completed by this writer.",
     (void *)BA_SHARDS_WRITTEN},
    {"samples_pending", (getter)ShardWriter_count, NULL,
     "Samples added that no complete shard holds yet.", (void *)BA_SHARDS_PENDING},
    {NULL, NULL, NULL, NULL, NULL},
};

static PyTypeObject ShardWriter_Type = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "blendarray._core.ShardWriter",
    .tp_basicsize = sizeof(ShardWriterObject),
    .tp_dealloc = (destructor)ShardWriter_dealloc,
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "ShardWriter(dir, params_json=None, samples=1000, bytes=0, coco=False, "
              "resume=False)\n--\n\n"
              "ba_shard_writer: a dataset of WebDataset shards in the folder dir "
              "(blendarray.shards.ShardWriter is the Python API over it).",
    .tp_methods = ShardWriter_methods,
    .tp_getset = ShardWriter_getset,
    .tp_new = ShardWriter_new,
};

int ba_py_add_shards(PyObject *m)
{
    if (PyType_Ready(&ShardWriter_Type) < 0) return -1;
    Py_INCREF(&ShardWriter_Type);
    if (PyModule_AddObject(m, "ShardWriter", (PyObject *)&ShardWriter_Type) < 0) {
        Py_DECREF(&ShardWriter_Type);
        return -1;
    }
    return 0;
}
