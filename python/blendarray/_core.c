/*
 * blendarray._core — the CPython face of libblendarray, for the consumer
 * side (plain Python, not Blender: Blender's side reaches the C library
 * through ctypes, so it works with whatever Python a Blender embeds).
 *
 * Thin on purpose: arguments are parsed, buffers are taken through the
 * buffer protocol (no NumPy C API, so no build-time NumPy), the GIL is
 * released around the C work, and library errors become BlendArrayError
 * with the library's message.
 *
 * The Renderer (ba_renderer, the consumer of the worker protocol) is in
 * _core_renderer.c, the label kernels in _core_labels.c, the shard writer
 * in _core_shards.c. The transport
 * itself (ring, messages) has no binding here: the consumer reaches it only
 * through ba_renderer, and Blender's side binds it with ctypes
 * (blendarray._lib).
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <stdint.h>
#include <string.h> /* strcmp */

#include "blendarray.h"
#include "_core.h"

PyObject *ba_py_error_type(void)
{
    /* blendarray._errors.BlendArrayError, so users catch one exception type. */
    PyObject *mod = PyImport_ImportModule("blendarray._errors");
    if (mod == NULL)
        return NULL;
    PyObject *cls = PyObject_GetAttrString(mod, "BlendArrayError");
    Py_DECREF(mod);
    return cls;
}

static PyObject *raise_ba(int err, const char *what, PyObject *path)
{
    PyObject *cls = ba_py_error_type();
    if (cls == NULL)
        return NULL;
    if (path != NULL)
        PyErr_Format(cls, "%s %S: %s", what, path, ba_strerror(err));
    else
        PyErr_Format(cls, "%s: %s", what, ba_strerror(err));
    Py_DECREF(cls);
    return NULL;
}

int ba_py_dtype_of(const char *fmt)
{
    if (fmt == NULL)
        return BA_DTYPE_U8;
    if (fmt[0] == '<' || fmt[0] == '=' || fmt[0] == '@')
        fmt++; /* only little-endian machines are supported */
    if (strcmp(fmt, "f") == 0)
        return BA_DTYPE_F32;
    if (strcmp(fmt, "e") == 0)
        return BA_DTYPE_F16;
    if (strcmp(fmt, "B") == 0)
        return BA_DTYPE_U8;
    if (strcmp(fmt, "i") == 0)
        return BA_DTYPE_I32;
    if (strcmp(fmt, "H") == 0)
        return BA_DTYPE_U16;
    if (strcmp(fmt, "I") == 0)
        return BA_DTYPE_U32;
    return -1;
}

PyDoc_STRVAR(save_npy_doc,
"save_npy(path, array, overwrite=False)\n--\n\n"
"Write a C-contiguous float32/float16/uint8/int32/uint16/uint32 array to `path` in\n"
"NumPy's .npy format, atomically: a temporary file beside it, fsync, rename.\n"
"An existing file is kept unless overwrite is true.");

static PyObject *save_npy(PyObject *self, PyObject *args, PyObject *kw)
{
    (void)self;
    static char *kwlist[] = {"path", "array", "overwrite", NULL};
    PyObject *path = NULL, *array;
    int overwrite = 0;
    if (!PyArg_ParseTupleAndKeywords(args, kw, "O&O|p", kwlist, PyUnicode_FSConverter, &path,
                                     &array, &overwrite))
        return NULL;
    Py_buffer view;
    if (PyObject_GetBuffer(array, &view, PyBUF_C_CONTIGUOUS | PyBUF_FORMAT) != 0) {
        Py_DECREF(path);
        return NULL;
    }
    PyObject *result = NULL;
    int dtype = ba_py_dtype_of(view.format);
    if (dtype < 0 || (size_t)view.itemsize != ba_dtype_size(dtype)) {
        PyErr_Format(PyExc_TypeError, "save_npy: unsupported element format '%s'; use float32, "
                     "float16, uint8, int32, uint16 or uint32", view.format ? view.format : "B");
        goto done;
    }
    if (view.ndim > BA_NPY_MAX_DIMS) {
        PyErr_Format(PyExc_ValueError, "save_npy: %d dimensions, at most %d", view.ndim,
                     BA_NPY_MAX_DIMS);
        goto done;
    }
    uint64_t shape[BA_NPY_MAX_DIMS];
    for (int i = 0; i < view.ndim; i++)
        shape[i] = (uint64_t)view.shape[i];
    int err;
    Py_BEGIN_ALLOW_THREADS
    err = ba_npy_save(PyBytes_AS_STRING(path), dtype, view.ndim, shape, view.buf, (size_t)view.len,
                      overwrite);
    Py_END_ALLOW_THREADS
    if (err != BA_OK) {
        PyObject *p = PyUnicode_DecodeFSDefault(PyBytes_AS_STRING(path));
        if (p != NULL) {
            raise_ba(err, "cannot write", p);
            Py_DECREF(p);
        }
        goto done;
    }
    result = Py_NewRef(Py_None);
done:
    PyBuffer_Release(&view);
    Py_DECREF(path);
    return result;
}

static PyObject *version(PyObject *self, PyObject *unused)
{
    (void)self;
    (void)unused;
    return PyUnicode_FromString(ba_version_string());
}

static PyMethodDef methods[] = {
    {"save_npy", (PyCFunction)(void (*)(void))save_npy, METH_VARARGS | METH_KEYWORDS, save_npy_doc},
    {"version", version, METH_NOARGS, "version()\n--\n\nlibblendarray's version string."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "blendarray._core",
    "libblendarray for Python: atomic NPY writing, Renderer (warm Blender\n"
    "workers streaming frames through shared memory) and the label kernels.", 0, methods,
    NULL, NULL, NULL, NULL,
};

PyMODINIT_FUNC PyInit__core(void)
{
    PyObject *m = PyModule_Create(&module);
    if (m == NULL)
        return NULL;
    /* frames queued per worker: RenderDataset sizes its ring by it */
    if (PyModule_AddIntConstant(m, "RENDERER_INFLIGHT", BA_RENDERER_INFLIGHT) < 0
        || ba_py_add_renderer(m) < 0 || ba_py_add_labels(m) < 0 || ba_py_add_shards(m) < 0) {
        Py_DECREF(m);
        return NULL;
    }
    return m;
}
