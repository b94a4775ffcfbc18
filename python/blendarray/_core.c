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
 * The transport half: Ring (the shared-memory frame ring; Lease objects
 * export one slot through the buffer protocol, so NumPy arrays over a slot
 * keep it leased exactly as long as they live) and the control messages
 * with descriptors (msg_send, msg_recv, peer_check).
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <errno.h>
#include <poll.h>
#include <stdint.h>
#include <string.h> /* strcmp */
#include <time.h>

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

/* struct-module format of a buffer -> enum ba_dtype, or -1. */
static int dtype_of(const char *fmt)
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
    return -1;
}

PyDoc_STRVAR(save_npy_doc,
"save_npy(path, array, overwrite=False)\n--\n\n"
"Write a C-contiguous float32/float16/uint8/int32/uint16 array to `path` in\n"
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
    int dtype = dtype_of(view.format);
    if (dtype < 0 || (size_t)view.itemsize != ba_dtype_size(dtype)) {
        PyErr_Format(PyExc_TypeError, "save_npy: unsupported element format '%s'; use float32, "
                     "float16, uint8, int32 or uint16", view.format ? view.format : "B");
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

/* ---------------------------------------------------------------------- */
/*  Transport: frame ring, leases, control messages                        */
/* ---------------------------------------------------------------------- */

#if PY_VERSION_HEX >= 0x030D0000
#define ba_py_finalizing() Py_IsFinalizing()
#else
#define ba_py_finalizing() _Py_IsFinalizing()
#endif

/* BA_EIO carries errno: say what it was. */
static PyObject *raise_ba_errno(int err, int saved_errno, const char *what)
{
    if (err != BA_EIO || saved_errno == 0)
        return raise_ba(err, what, NULL);
    PyObject *cls = ba_py_error_type();
    if (cls == NULL)
        return NULL;
    PyErr_Format(cls, "%s: %s: %s", what, ba_strerror(err), strerror(saved_errno));
    Py_DECREF(cls);
    return NULL;
}

typedef struct {
    PyObject_HEAD
    ba_ring *ring;
} RingObject;

typedef struct {
    PyObject_HEAD
    RingObject *ring;     /* strong: the mapping outlives every lease */
    PyObject *on_release; /* called once with the index, or NULL */
    uint32_t index;
    int released;
} LeaseObject;

static PyTypeObject Ring_Type;
static PyTypeObject Lease_Type;

static PyObject *Ring_new(PyTypeObject *type, PyObject *args, PyObject *kw)
{
    static char *kwlist[] = {"slots", "slot_size", NULL};
    Py_ssize_t slots, slot_size;
    if (!PyArg_ParseTupleAndKeywords(args, kw, "nn:Ring", kwlist, &slots, &slot_size))
        return NULL;
    if (slots < 1 || (size_t)slots > BA_RING_MAX_SLOTS) {
        PyErr_Format(PyExc_ValueError, "Ring: slots must be 1..%u, not %zd",
                     (unsigned)BA_RING_MAX_SLOTS, slots);
        return NULL;
    }
    if (slot_size < 1) {
        PyErr_Format(PyExc_ValueError, "Ring: slot_size must be positive, not %zd", slot_size);
        return NULL;
    }
    RingObject *self = (RingObject *)type->tp_alloc(type, 0);
    if (self == NULL)
        return NULL;
    int err, saved;
    Py_BEGIN_ALLOW_THREADS
    err = ba_ring_create(&self->ring, (uint32_t)slots, (size_t)slot_size);
    saved = errno;
    Py_END_ALLOW_THREADS
    if (err != BA_OK) {
        Py_DECREF(self);
        return raise_ba_errno(err, saved, "cannot create the frame ring");
    }
    return (PyObject *)self;
}

static void Ring_dealloc(RingObject *self)
{
    ba_ring_close(self->ring);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

static PyObject *Ring_get_fd(RingObject *self, void *closure)
{
    (void)closure;
    return PyLong_FromLong(ba_ring_fd(self->ring));
}

static PyObject *Ring_get_slots(RingObject *self, void *closure)
{
    (void)closure;
    return PyLong_FromUnsignedLong(ba_ring_slots(self->ring));
}

static PyObject *Ring_get_slot_size(RingObject *self, void *closure)
{
    (void)closure;
    return PyLong_FromSize_t(ba_ring_slot_size(self->ring));
}

PyDoc_STRVAR(Ring_lease_doc,
"lease(index, on_release)\n--\n\n"
"A Lease exporting slot `index` through the buffer protocol (writable\n"
"bytes, length slot_size). When the Lease, and with it every buffer taken\n"
"from it (np.frombuffer arrays, memoryviews), is gone, on_release(index) is\n"
"called once (not during interpreter shutdown; None: no call). The Lease\n"
"holds the Ring, so the mapping outlives it.");

static PyObject *Ring_lease(RingObject *self, PyObject *args, PyObject *kw)
{
    static char *kwlist[] = {"index", "on_release", NULL};
    Py_ssize_t index;
    PyObject *on_release;
    if (!PyArg_ParseTupleAndKeywords(args, kw, "nO:lease", kwlist, &index, &on_release))
        return NULL;
    if (index < 0 || (size_t)index >= ba_ring_slots(self->ring)) {
        PyErr_Format(PyExc_IndexError, "lease: slot %zd out of range (the ring has %u)", index,
                     (unsigned)ba_ring_slots(self->ring));
        return NULL;
    }
    if (on_release != Py_None && !PyCallable_Check(on_release)) {
        PyErr_SetString(PyExc_TypeError, "lease: on_release must be callable or None");
        return NULL;
    }
    LeaseObject *lease = PyObject_GC_New(LeaseObject, &Lease_Type);
    if (lease == NULL)
        return NULL;
    Py_INCREF(self);
    lease->ring = self;
    lease->on_release = on_release == Py_None ? NULL : Py_NewRef(on_release);
    lease->index = (uint32_t)index;
    lease->released = 0;
    PyObject_GC_Track((PyObject *)lease);
    return (PyObject *)lease;
}

static PyGetSetDef Ring_getset[] = {
    {"fd", (getter)Ring_get_fd, NULL,
     "The ring's memfd, to send to a worker (owned by the Ring: dup it to keep it).", NULL},
    {"slots", (getter)Ring_get_slots, NULL, "Number of slots.", NULL},
    {"slot_size", (getter)Ring_get_slot_size, NULL,
     "Bytes per slot (the requested size rounded up to the page size).", NULL},
    {NULL, NULL, NULL, NULL, NULL},
};

static PyMethodDef Ring_methods[] = {
    {"lease", (PyCFunction)(void (*)(void))Ring_lease, METH_VARARGS | METH_KEYWORDS,
     Ring_lease_doc},
    {NULL, NULL, 0, NULL},
};

PyDoc_STRVAR(Ring_doc,
"Ring(slots, slot_size)\n--\n\n"
"A shared-memory frame ring: `slots` page-aligned slots of at least\n"
"`slot_size` bytes in one sealed, anonymous memfd (`fd`), mapped here.\n"
"Workers attach to it through the fd (blendarray._lib.Ring.attach).");

static PyTypeObject Ring_Type = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "blendarray._core.Ring",
    .tp_basicsize = sizeof(RingObject),
    .tp_dealloc = (destructor)Ring_dealloc,
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = Ring_doc,
    .tp_methods = Ring_methods,
    .tp_getset = Ring_getset,
    .tp_new = Ring_new,
};

static int Lease_getbuffer(LeaseObject *self, Py_buffer *view, int flags)
{
    void *p = ba_ring_slot(self->ring->ring, self->index);
    size_t n = ba_ring_slot_size(self->ring->ring);
    if (p == NULL || n > (size_t)PY_SSIZE_T_MAX) {
        view->obj = NULL;
        PyErr_SetString(PyExc_BufferError, "lease: slot not mapped");
        return -1;
    }
    return PyBuffer_FillInfo(view, (PyObject *)self, p, (Py_ssize_t)n, 0, flags);
}

static PyBufferProcs Lease_as_buffer = {
    .bf_getbuffer = (getbufferproc)Lease_getbuffer,
    .bf_releasebuffer = NULL,
};

/* Called once, by the dealloc or the cycle collector (PEP 442). */
static void Lease_finalize(PyObject *obj)
{
    LeaseObject *self = (LeaseObject *)obj;
    if (self->released)
        return;
    self->released = 1;
    PyObject *cb = self->on_release;
    self->on_release = NULL;
    if (cb == NULL)
        return;
    if (ba_py_finalizing()) { /* modules may be half torn down: skip the call */
        Py_DECREF(cb);
        return;
    }
#if PY_VERSION_HEX >= 0x030C0000
    PyObject *exc = PyErr_GetRaisedException();
#else
    PyObject *type, *value, *tb;
    PyErr_Fetch(&type, &value, &tb);
#endif
    PyObject *index = PyLong_FromUnsignedLong(self->index);
    PyObject *r = index != NULL ? PyObject_CallOneArg(cb, index) : NULL;
    if (r == NULL)
        PyErr_WriteUnraisable(cb);
    Py_XDECREF(r);
    Py_XDECREF(index);
    Py_DECREF(cb);
#if PY_VERSION_HEX >= 0x030C0000
    PyErr_SetRaisedException(exc);
#else
    PyErr_Restore(type, value, tb);
#endif
}

static int Lease_traverse(LeaseObject *self, visitproc visit, void *arg)
{
    Py_VISIT(self->on_release);
    Py_VISIT(self->ring);
    return 0;
}

static int Lease_clear(LeaseObject *self)
{
    /* the Ring stays until the dealloc: a buffer may still point into it */
    Py_CLEAR(self->on_release);
    return 0;
}

static void Lease_dealloc(LeaseObject *self)
{
    if (PyObject_CallFinalizerFromDealloc((PyObject *)self) < 0)
        return; /* resurrected by on_release */
    PyObject_GC_UnTrack(self);
    Py_CLEAR(self->on_release);
    Py_CLEAR(self->ring);
    PyObject_GC_Del(self);
}

static PyObject *Lease_get_index(LeaseObject *self, void *closure)
{
    (void)closure;
    return PyLong_FromUnsignedLong(self->index);
}

static PyObject *Lease_get_ring(LeaseObject *self, void *closure)
{
    (void)closure;
    return Py_NewRef((PyObject *)self->ring);
}

static PyObject *Lease_get_nbytes(LeaseObject *self, void *closure)
{
    (void)closure;
    return PyLong_FromSize_t(ba_ring_slot_size(self->ring->ring));
}

static PyGetSetDef Lease_getset[] = {
    {"index", (getter)Lease_get_index, NULL, "The slot's index.", NULL},
    {"ring", (getter)Lease_get_ring, NULL, "The Ring the slot belongs to.", NULL},
    {"nbytes", (getter)Lease_get_nbytes, NULL, "The slot's size in bytes.", NULL},
    {NULL, NULL, NULL, NULL, NULL},
};

PyDoc_STRVAR(Lease_doc,
"One slot of a Ring, lent out: a writable bytes buffer of the slot's memory.\n"
"Made by Ring.lease(); on_release(index) runs when the last reference (any\n"
"array over the buffer included) is gone.");

static PyTypeObject Lease_Type = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "blendarray._core.Lease",
    .tp_basicsize = sizeof(LeaseObject),
    .tp_dealloc = (destructor)Lease_dealloc,
    .tp_as_buffer = &Lease_as_buffer,
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC,
    .tp_doc = Lease_doc,
    .tp_traverse = (traverseproc)Lease_traverse,
    .tp_clear = (inquiry)Lease_clear,
    .tp_getset = Lease_getset,
    .tp_finalize = Lease_finalize,
};

PyDoc_STRVAR(msg_send_doc,
"msg_send(sock, data, fds=())\n--\n\n"
"Send one message (1..BA_MSG_MAX bytes of a bytes-like `data`) with up to\n"
"4 file descriptors on a connected AF_UNIX SOCK_SEQPACKET socket (an fd or\n"
"an object with fileno()). ValueError for an empty or too long message or\n"
"too many fds; BlendArrayError when the peer is gone or sending fails.");

static PyObject *msg_send(PyObject *self, PyObject *args, PyObject *kw)
{
    (void)self;
    static char *kwlist[] = {"sock", "data", "fds", NULL};
    PyObject *sock_obj, *fds_obj = NULL;
    Py_buffer data;
    if (!PyArg_ParseTupleAndKeywords(args, kw, "Oy*|O:msg_send", kwlist, &sock_obj, &data,
                                     &fds_obj))
        return NULL;
    PyObject *result = NULL, *seq = NULL;
    int fds[BA_MSG_MAX_FDS], nfds = 0;
    int sock = PyObject_AsFileDescriptor(sock_obj);
    if (sock < 0)
        goto done;
    if (data.len < 1 || (size_t)data.len > BA_MSG_MAX) {
        PyErr_Format(PyExc_ValueError, "msg_send: a message is 1..%u bytes, not %zd",
                     (unsigned)BA_MSG_MAX, data.len);
        goto done;
    }
    if (fds_obj != NULL) {
        seq = PySequence_Fast(fds_obj, "msg_send: fds must be a sequence of file descriptors");
        if (seq == NULL)
            goto done;
        Py_ssize_t n = PySequence_Fast_GET_SIZE(seq);
        if (n > BA_MSG_MAX_FDS) {
            PyErr_Format(PyExc_ValueError, "msg_send: at most %d fds, not %zd", BA_MSG_MAX_FDS, n);
            goto done;
        }
        for (Py_ssize_t i = 0; i < n; i++) {
            fds[i] = PyObject_AsFileDescriptor(PySequence_Fast_GET_ITEM(seq, i));
            if (fds[i] < 0)
                goto done;
        }
        nfds = (int)n;
    }
    int err, saved;
    Py_BEGIN_ALLOW_THREADS
    err = ba_msg_send(sock, data.buf, (size_t)data.len, fds, nfds);
    saved = errno;
    Py_END_ALLOW_THREADS
    result = err ? raise_ba_errno(err, saved, "msg_send") : Py_NewRef(Py_None);
done:
    Py_XDECREF(seq);
    PyBuffer_Release(&data);
    return result;
}

static int64_t mono_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

PyDoc_STRVAR(msg_recv_doc,
"msg_recv(sock, timeout_ms=-1)\n--\n\n"
"Wait up to timeout_ms (-1: forever) for one message: (bytes, [fds]) (the\n"
"fds are now the caller's, close-on-exec), or None at end of stream.\n"
"TimeoutError when nothing arrived in time; BlendArrayError for a\n"
"malformed message (its fds are closed) or a failure. The GIL is released\n"
"while waiting; a signal (Ctrl-C) runs its Python handler, and an\n"
"exception from it (KeyboardInterrupt) ends the wait.");

static PyObject *msg_recv(PyObject *self, PyObject *args, PyObject *kw)
{
    (void)self;
    static char *kwlist[] = {"sock", "timeout_ms", NULL};
    PyObject *sock_obj;
    int timeout_ms = -1;
    if (!PyArg_ParseTupleAndKeywords(args, kw, "O|i:msg_recv", kwlist, &sock_obj, &timeout_ms))
        return NULL;
    int sock = PyObject_AsFileDescriptor(sock_obj);
    if (sock < 0)
        return NULL;
    if (timeout_ms < -1) {
        PyErr_SetString(PyExc_ValueError, "msg_recv: timeout_ms must be -1 or >= 0");
        return NULL;
    }
    char *buf = PyMem_RawMalloc(BA_MSG_MAX);
    if (buf == NULL)
        return PyErr_NoMemory();
    PyObject *result = NULL;
    int fds[BA_MSG_MAX_FDS], nfds = 0;
    size_t len = 0;
    int64_t deadline = timeout_ms >= 0 ? mono_us() + (int64_t)timeout_ms * 1000 : -1;
    /* Wait here rather than in ba_msg_recv(), so that a signal brings us
     * back to Python: poll() fails with EINTR, the handler runs, and an
     * exception it raises ends the call. Then take the message without
     * waiting. */
    for (;;) {
        int wait = -1;
        if (deadline >= 0) {
            int64_t left = (deadline - mono_us() + 999) / 1000; /* ms, rounded up */
            wait = left <= 0 ? 0 : left > INT32_MAX ? INT32_MAX : (int)left;
        }
        struct pollfd p = {.fd = sock, .events = POLLIN, .revents = 0};
        int r, err = BA_ETIMEDOUT, saved = 0;
        Py_BEGIN_ALLOW_THREADS
        r = poll(&p, 1, wait);
        saved = errno;
        if (r > 0 && !(p.revents & POLLNVAL)) {
            nfds = BA_MSG_MAX_FDS;
            err = ba_msg_recv(sock, buf, BA_MSG_MAX, &len, fds, &nfds, 0);
            saved = errno;
        }
        Py_END_ALLOW_THREADS
        if (r < 0) {
            if (saved != EINTR) {
                errno = saved;
                PyErr_SetFromErrno(PyExc_OSError);
                goto done;
            }
            if (PyErr_CheckSignals() < 0)
                goto done;
            continue;
        }
        if (r > 0 && (p.revents & POLLNVAL)) {
            errno = EBADF;
            PyErr_SetFromErrno(PyExc_OSError);
            goto done;
        }
        if (r == 0) {
            if (deadline >= 0 && mono_us() >= deadline) {
                PyErr_Format(PyExc_TimeoutError, "msg_recv: nothing within %d ms", timeout_ms);
                goto done;
            }
            continue;
        }
        if (err == BA_ETIMEDOUT)
            continue; /* another reader took it: wait on */
        if (err == BA_ECLOSED) {
            result = Py_NewRef(Py_None);
            goto done;
        }
        if (err == BA_EFORMAT) {
            raise_ba(err, "msg_recv: a message too long, with too many fds, or with "
                          "unexpected control data", NULL);
            goto done;
        }
        if (err != BA_OK) {
            raise_ba_errno(err, saved, "msg_recv");
            goto done;
        }
        break;
    }
    PyObject *list = PyList_New(nfds);
    PyObject *bytes = list != NULL ? PyBytes_FromStringAndSize(buf, (Py_ssize_t)len) : NULL;
    int i = 0;
    for (; bytes != NULL && i < nfds; i++) {
        PyObject *fd = PyLong_FromLong(fds[i]);
        if (fd == NULL)
            break;
        PyList_SET_ITEM(list, i, fd);
    }
    if (bytes == NULL || i < nfds) { /* give nothing back: close every fd */
        for (int j = 0; j < nfds; j++)
            close(fds[j]);
        Py_XDECREF(bytes);
        Py_XDECREF(list);
        goto done;
    }
    result = PyTuple_Pack(2, bytes, list);
    Py_DECREF(bytes);
    Py_DECREF(list);
    if (result == NULL)
        for (int j = 0; j < nfds; j++)
            close(fds[j]);
done:
    PyMem_RawFree(buf);
    return result;
}

PyDoc_STRVAR(peer_check_doc,
"peer_check(sock, pid)\n--\n\n"
"True when the process at the other end of the AF_UNIX socket runs as our\n"
"user and, if pid > 0, has that pid (SO_PEERCRED: the credentials of whoever\n"
"connected, or of a socketpair()'s creator).");

static PyObject *peer_check(PyObject *self, PyObject *args, PyObject *kw)
{
    (void)self;
    static char *kwlist[] = {"sock", "pid", NULL};
    PyObject *sock_obj;
    int pid;
    if (!PyArg_ParseTupleAndKeywords(args, kw, "Oi:peer_check", kwlist, &sock_obj, &pid))
        return NULL;
    int sock = PyObject_AsFileDescriptor(sock_obj);
    if (sock < 0)
        return NULL;
    int err = ba_peer_check(sock, pid);
    if (err == BA_OK)
        Py_RETURN_TRUE;
    if (err == BA_EPERM)
        Py_RETURN_FALSE;
    return raise_ba_errno(err, errno, "peer_check");
}

static PyMethodDef methods[] = {
    {"save_npy", (PyCFunction)(void (*)(void))save_npy, METH_VARARGS | METH_KEYWORDS, save_npy_doc},
    {"version", version, METH_NOARGS, "version()\n--\n\nlibblendarray's version string."},
    {"msg_send", (PyCFunction)(void (*)(void))msg_send, METH_VARARGS | METH_KEYWORDS, msg_send_doc},
    {"msg_recv", (PyCFunction)(void (*)(void))msg_recv, METH_VARARGS | METH_KEYWORDS, msg_recv_doc},
    {"peer_check", (PyCFunction)(void (*)(void))peer_check, METH_VARARGS | METH_KEYWORDS,
     peer_check_doc},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "blendarray._core",
    "libblendarray for Python: atomic NPY writing, pixel conversions, and the\n"
    "frame transport (shared-memory ring, control messages with fds).", 0, methods,
    NULL, NULL, NULL, NULL,
};

PyMODINIT_FUNC PyInit__core(void)
{
    if (PyType_Ready(&Ring_Type) < 0 || PyType_Ready(&Lease_Type) < 0)
        return NULL;
    PyObject *m = PyModule_Create(&module);
    if (m == NULL)
        return NULL;
    Py_INCREF(&Ring_Type);
    if (PyModule_AddObject(m, "Ring", (PyObject *)&Ring_Type) < 0) {
        Py_DECREF(&Ring_Type);
        goto fail;
    }
    Py_INCREF(&Lease_Type);
    if (PyModule_AddObject(m, "Lease", (PyObject *)&Lease_Type) < 0) {
        Py_DECREF(&Lease_Type);
        goto fail;
    }
    if (ba_py_add_renderer(m) < 0)
        goto fail;
    if (PyModule_AddIntConstant(m, "MSG_MAX", BA_MSG_MAX) < 0
        || PyModule_AddIntConstant(m, "MSG_MAX_FDS", BA_MSG_MAX_FDS) < 0)
        goto fail;
    return m;
fail:
    Py_DECREF(m);
    return NULL;
}
