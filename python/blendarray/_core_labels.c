/*
 * _core_labels.c — the label kernels for the consumer side (blendarray.labels):
 * COCO RLE strings decoded into a mask, Cryptomatte coverage summed into a
 * soft mask. Buffers through the buffer protocol; the GIL released around
 * the C loops. Checking what the arrays are (dtype, shape) is the caller's
 * (labels.py), which knows NumPy; here only sizes are checked, so that no
 * call can write outside a buffer.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <stdint.h>
#include <stdlib.h>

#include "blendarray.h"
#include "_core.h"

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
    if (PyObject_GetBuffer(outobj, &out, PyBUF_C_CONTIGUOUS | PyBUF_WRITABLE | PyBUF_ND) != 0)
        return NULL;
    PyObject *result = NULL;
    uint32_t *counts = NULL;
    if (out.ndim != 2 || out.itemsize != 1) {
        PyErr_SetString(PyExc_ValueError, "rle_decode: out must be a 2-D uint8 buffer");
        goto done;
    }
    counts = malloc(((size_t)len + 1) * sizeof *counts); /* at most a count a character */
    if (!counts) {
        PyErr_NoMemory();
        goto done;
    }
    size_t n = 0, h = (size_t)out.shape[0], w = (size_t)out.shape[1];
    int err;
    Py_BEGIN_ALLOW_THREADS
    err = ba_rle_from_string(s, (size_t)len, counts, (size_t)len + 1, &n);
    if (err == BA_OK) err = ba_rle_decode(counts, n, h, w, out.buf, w, 1);
    Py_END_ALLOW_THREADS
    if (err != BA_OK) {
        PyErr_Format(PyExc_ValueError, "rle_decode: not the COCO RLE of a %zux%zu mask (%s)", h,
                     w, ba_strerror(err));
        goto done;
    }
    result = Py_NewRef(Py_None);
done:
    free(counts);
    PyBuffer_Release(&out);
    return result;
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
    {"cryptomatte_coverage", cryptomatte_coverage, METH_VARARGS, cryptomatte_coverage_doc},
    {"cryptomatte_id", cryptomatte_id, METH_O,
     "cryptomatte_id(name)\n--\n\nThe id (uint32, the bits of its float) that Cryptomatte "
     "passes hold for `name`."},
    {NULL, NULL, 0, NULL},
};

int ba_py_add_labels(PyObject *m)
{
    return PyModule_AddFunctions(m, label_methods);
}
