/*
 * blendarray._core.Renderer — the CPython face of ba_renderer (the one
 * consumer of the worker protocol), under the thin Python Renderer of
 * blendarray/_renderer.py.
 *
 * Frames are handed out zero-copy: each array is a small buffer object over
 * the frame's memory (its ring slot, or the memfd it came in), holding the
 * frame; when the last array over a frame is gone, the frame is released
 * and its slot goes back to its worker (ba_renderer_release, any thread).
 * The GIL is released while C waits; a signal ends the wait, its Python
 * handler runs, and unless it raised (Ctrl-C) the wait goes on.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include "blendarray.h"
#include "_core.h"

/* ---- a frame handed out, and buffers over its arrays ------------------ */

typedef struct {
    PyObject_HEAD
    ba_renderer *r;        /* stays allocated while a frame is out (ba_renderer_close) */
    const ba_frame *frame;
} FrameRefObject;

static void FrameRef_dealloc(FrameRefObject *self)
{
    ba_renderer_release(self->r, self->frame);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

static PyTypeObject FrameRef_Type = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "blendarray._core.FrameRef",
    .tp_basicsize = sizeof(FrameRefObject),
    .tp_dealloc = (destructor)FrameRef_dealloc,
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "One frame of a Renderer, released when the last array over it is gone.",
};

typedef struct {
    PyObject_HEAD
    FrameRefObject *ref;   /* strong */
    void *data;
    Py_ssize_t len;
} ArrayBufObject;

static int ArrayBuf_getbuffer(ArrayBufObject *self, Py_buffer *view, int flags)
{
    return PyBuffer_FillInfo(view, (PyObject *)self, self->data, self->len, 0, flags);
}

static PyBufferProcs ArrayBuf_as_buffer = {
    .bf_getbuffer = (getbufferproc)ArrayBuf_getbuffer,
    .bf_releasebuffer = NULL,
};

static void ArrayBuf_dealloc(ArrayBufObject *self)
{
    Py_XDECREF(self->ref);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

static PyObject *ArrayBuf_get_slot(ArrayBufObject *self, void *closure)
{
    (void)closure;
    if (self->ref->frame->slot < 0)
        Py_RETURN_NONE;
    return PyLong_FromLong(self->ref->frame->slot);
}

static PyGetSetDef ArrayBuf_getset[] = {
    {"slot", (getter)ArrayBuf_get_slot, NULL,
     "The ring slot the frame lies in; None: its own memory (a first frame, or one that did "
     "not fit).", NULL},
    {NULL, NULL, NULL, NULL, NULL},
};

static PyTypeObject ArrayBuf_Type = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "blendarray._core.ArrayBuf",
    .tp_basicsize = sizeof(ArrayBufObject),
    .tp_dealloc = (destructor)ArrayBuf_dealloc,
    .tp_as_buffer = &ArrayBuf_as_buffer,
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "The bytes of one array of a frame (writable; the frame lives while it does).",
    .tp_getset = ArrayBuf_getset,
};

/* ---- Renderer ----------------------------------------------------------- */

typedef struct {
    PyObject_HEAD
    ba_renderer *r;        /* NULL once closed */
} RendererObject;

/* The renderer's last error as the exception blendarray raises for it
 * (blendarray._errors.from_json: SetupError, WorkerError with its output, ...). */
static PyObject *raise_renderer(ba_renderer *r, int err)
{
    const char *json = r ? ba_renderer_error_json(r) : "{}";
    PyObject *mod = PyImport_ImportModule("blendarray._errors");
    PyObject *exc = mod ? PyObject_CallMethod(mod, "from_json", "sis", json, err,
                                              ba_strerror(err)) : NULL;
    Py_XDECREF(mod);
    if (exc != NULL) {
        PyErr_SetObject((PyObject *)Py_TYPE(exc), exc);
        Py_DECREF(exc);
    }
    return NULL;
}

static int opt_str(PyObject *o, const char **out)
{
    if (o == Py_None) {
        *out = NULL;
        return 1;
    }
    *out = PyUnicode_AsUTF8(o);
    return *out != NULL;
}

static PyObject *Renderer_new(PyTypeObject *type, PyObject *args, PyObject *kw)
{
    static char *kwlist[] = {"blender", "python", "package_dir", "scene", "settings", "setup",
                             "seed", "workers", "ring", "retries", "timeout", "verbose", NULL};
    PyObject *o_bl, *o_py, *o_pkg, *o_scene, *o_settings, *o_setup;
    ba_renderer_options o;
    ba_renderer_options_init(&o);
    if (!PyArg_ParseTupleAndKeywords(args, kw, "OOOOOOLiiidp:Renderer", kwlist, &o_bl, &o_py,
                                     &o_pkg, &o_scene, &o_settings, &o_setup, &o.seed, &o.workers,
                                     &o.ring, &o.retries, &o.timeout, &o.verbose))
        return NULL;
    if (!opt_str(o_bl, &o.blender) || !opt_str(o_py, &o.python) ||
        !opt_str(o_pkg, &o.package_dir) || !opt_str(o_scene, &o.scene) ||
        !opt_str(o_settings, &o.settings_json) || !opt_str(o_setup, &o.setup_json))
        return NULL;
    RendererObject *self = (RendererObject *)type->tp_alloc(type, 0);
    if (self == NULL)
        return NULL;
    ba_renderer *r = NULL;
    int err;
    Py_BEGIN_ALLOW_THREADS
    err = ba_renderer_open(&r, &o);
    Py_END_ALLOW_THREADS
    /* a signal while Blender starts: run its handler; unless it raised, go on */
    while (err == BA_EINTR && r != NULL && PyErr_CheckSignals() == 0) {
        Py_BEGIN_ALLOW_THREADS
        err = ba_renderer_start(r);
        Py_END_ALLOW_THREADS
    }
    if (err != BA_OK) {
        if (!PyErr_Occurred())
            raise_renderer(r, err);
        Py_BEGIN_ALLOW_THREADS
        ba_renderer_close(r);
        Py_END_ALLOW_THREADS
        Py_DECREF(self);
        return NULL;
    }
    self->r = r;
    return (PyObject *)self;
}

static int closed(RendererObject *self)
{
    if (self->r != NULL)
        return 0;
    PyObject *cls = ba_py_error_type();
    if (cls != NULL) {
        PyErr_SetString(cls, "the Renderer is closed");
        Py_DECREF(cls);
    }
    return 1;
}

PyDoc_STRVAR(Renderer_submit_doc,
"submit(index, params_json=None)\n--\n\n"
"Queue one frame (ba_renderer_submit): its index and per-frame params as\n"
"JSON text. A stopped worker is restarted for it (the GIL is released).");

static PyObject *Renderer_submit(RendererObject *self, PyObject *args)
{
    long long index;
    const char *params = NULL;
    if (!PyArg_ParseTuple(args, "L|z:submit", &index, &params) || closed(self))
        return NULL;
    int err;
    Py_BEGIN_ALLOW_THREADS
    err = ba_renderer_submit(self->r, index, params);
    Py_END_ALLOW_THREADS
    if (err == BA_EINTR) /* queued; a worker still starting is finished by the next call */
        return PyErr_CheckSignals() < 0 ? NULL : Py_NewRef(Py_None);
    return err == BA_OK ? Py_NewRef(Py_None) : raise_renderer(self->r, err);
}

/* (meta_json, [(name, ArrayBuf, dtype descr, shape), ...]) for a frame. */
static PyObject *frame_tuple(RendererObject *self, const ba_frame *f)
{
    FrameRefObject *ref = PyObject_New(FrameRefObject, &FrameRef_Type);
    if (ref == NULL) {
        ba_renderer_release(self->r, f);
        return NULL;
    }
    ref->r = self->r;
    ref->frame = f;
    PyObject *list = PyList_New(f->narrays);
    for (int i = 0; list != NULL && i < f->narrays; i++) {
        const ba_frame_array *a = &f->arrays[i];
        ArrayBufObject *buf = PyObject_New(ArrayBufObject, &ArrayBuf_Type);
        if (buf == NULL) {
            Py_CLEAR(list);
            break;
        }
        buf->ref = (FrameRefObject *)Py_NewRef((PyObject *)ref);
        buf->data = a->data;
        buf->len = (Py_ssize_t)a->nbytes;
        PyObject *shape = a->ndim == 3 ? Py_BuildValue("(KKK)", (unsigned long long)a->shape[0],
                                                       (unsigned long long)a->shape[1],
                                                       (unsigned long long)a->shape[2])
                                       : Py_BuildValue("(KK)", (unsigned long long)a->shape[0],
                                                       (unsigned long long)a->shape[1]);
        PyObject *item = shape ? Py_BuildValue("(sNsN)", a->name, (PyObject *)buf,
                                               ba_dtype_descr(a->dtype), shape)
                               : NULL;
        if (item == NULL) {
            if (shape == NULL)
                Py_DECREF(buf);
            Py_CLEAR(list);
            break;
        }
        PyList_SET_ITEM(list, i, item);
    }
    PyObject *result = list ? Py_BuildValue("(sN)", f->meta_json, list) : NULL;
    Py_DECREF(ref);
    return result;
}

PyDoc_STRVAR(Renderer_next_doc,
"next(ordered=True)\n--\n\n"
"The next frame (ba_renderer_next): (meta_json, [(name, buffer, dtype,\n"
"shape), ...]), or None when nothing submitted is left. Raises the error of\n"
"a frame in its turn (SetupError, WorkerError, ...), and BlendArrayError\n"
"when every ring slot is held by frames still kept.");

static PyObject *Renderer_next(RendererObject *self, PyObject *args, PyObject *kw)
{
    static char *kwlist[] = {"ordered", NULL};
    int ordered = 1;
    if (!PyArg_ParseTupleAndKeywords(args, kw, "|p:next", kwlist, &ordered) || closed(self))
        return NULL;
    for (;;) {
        const ba_frame *f = NULL;
        int err;
        Py_BEGIN_ALLOW_THREADS
        err = ba_renderer_next(self->r, ordered ? BA_NEXT_ORDERED : BA_NEXT_ANY, -1, &f);
        Py_END_ALLOW_THREADS
        if (err == BA_OK)
            return frame_tuple(self, f);
        if (err == BA_EDONE)
            Py_RETURN_NONE;
        if (err != BA_EINTR)
            return raise_renderer(self->r, err);
        if (PyErr_CheckSignals() < 0)
            return NULL;
    }
}

PyDoc_STRVAR(Renderer_cancel_doc,
"cancel(wait)\n--\n\n"
"Forget every frame not handed out yet; wait for those being rendered\n"
"(workers stay warm) or stop their workers.");

static PyObject *Renderer_cancel(RendererObject *self, PyObject *args)
{
    int wait;
    if (!PyArg_ParseTuple(args, "p:cancel", &wait))
        return NULL;
    if (self->r != NULL) {
        Py_BEGIN_ALLOW_THREADS
        ba_renderer_cancel(self->r, wait);
        Py_END_ALLOW_THREADS
    }
    Py_RETURN_NONE;
}

static PyObject *Renderer_close(RendererObject *self, PyObject *unused)
{
    (void)unused;
    ba_renderer *r = self->r;
    self->r = NULL;
    if (r != NULL) {
        Py_BEGIN_ALLOW_THREADS
        ba_renderer_close(r); /* freed when its last frame is released */
        Py_END_ALLOW_THREADS
    }
    Py_RETURN_NONE;
}

static PyObject *Renderer_pids(RendererObject *self, PyObject *unused)
{
    (void)unused;
    int n = self->r ? ba_renderer_workers(self->r) : 0;
    PyObject *list = PyList_New(n);
    for (int i = 0; list != NULL && i < n; i++) {
        PyObject *pid = PyLong_FromLong(ba_renderer_worker_pid(self->r, i));
        if (pid == NULL) {
            Py_CLEAR(list);
            break;
        }
        PyList_SET_ITEM(list, i, pid);
    }
    return list;
}

static PyObject *Renderer_get_queued(RendererObject *self, void *closure)
{
    (void)closure;
    return PyLong_FromSize_t(ba_renderer_queued(self->r));
}

static PyObject *Renderer_get_held(RendererObject *self, void *closure)
{
    (void)closure;
    return PyLong_FromLong(ba_renderer_held(self->r));
}

static void Renderer_dealloc(RendererObject *self)
{
    if (self->r != NULL) {
        ba_renderer *r = self->r;
        self->r = NULL;
        Py_BEGIN_ALLOW_THREADS
        ba_renderer_close(r);
        Py_END_ALLOW_THREADS
    }
    Py_TYPE(self)->tp_free((PyObject *)self);
}

static PyMethodDef Renderer_methods[] = {
    {"submit", (PyCFunction)Renderer_submit, METH_VARARGS, Renderer_submit_doc},
    {"next", (PyCFunction)(void (*)(void))Renderer_next, METH_VARARGS | METH_KEYWORDS,
     Renderer_next_doc},
    {"cancel", (PyCFunction)Renderer_cancel, METH_VARARGS, Renderer_cancel_doc},
    {"close", (PyCFunction)Renderer_close, METH_NOARGS,
     "close()\n--\n\nStop the workers; frames handed out stay valid."},
    {"pids", (PyCFunction)Renderer_pids, METH_NOARGS,
     "pids()\n--\n\nEach worker's process id (0 while it is stopped)."},
    {NULL, NULL, 0, NULL},
};

static PyGetSetDef Renderer_getset[] = {
    {"queued", (getter)Renderer_get_queued, NULL,
     "Frames submitted that no worker has taken yet.", NULL},
    {"held", (getter)Renderer_get_held, NULL,
     "Frames handed out whose arrays are still alive (each holds a ring slot).", NULL},
    {NULL, NULL, NULL, NULL, NULL},
};

PyDoc_STRVAR(Renderer_doc,
"Renderer(blender, python, package_dir, scene, settings, setup, seed, workers,\n"
"         ring, retries, timeout, verbose)\n--\n\n"
"ba_renderer: warm Blender workers (settings and setup as JSON text, see\n"
"docs/protocol.md). blendarray.Renderer is the Python API over it.");

static PyTypeObject Renderer_Type = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "blendarray._core.Renderer",
    .tp_basicsize = sizeof(RendererObject),
    .tp_dealloc = (destructor)Renderer_dealloc,
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = Renderer_doc,
    .tp_methods = Renderer_methods,
    .tp_getset = Renderer_getset,
    .tp_new = Renderer_new,
};

int ba_py_add_renderer(PyObject *m)
{
    if (PyType_Ready(&Renderer_Type) < 0 || PyType_Ready(&FrameRef_Type) < 0 ||
        PyType_Ready(&ArrayBuf_Type) < 0)
        return -1;
    Py_INCREF(&ArrayBuf_Type);
    if (PyModule_AddObject(m, "ArrayBuf", (PyObject *)&ArrayBuf_Type) < 0) {
        Py_DECREF(&ArrayBuf_Type);
        return -1;
    }
    Py_INCREF(&Renderer_Type);
    if (PyModule_AddObject(m, "Renderer", (PyObject *)&Renderer_Type) < 0) {
        Py_DECREF(&Renderer_Type);
        return -1;
    }
    return 0;
}
