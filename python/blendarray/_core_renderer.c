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
#include <math.h>

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

/* An error as the exception blendarray raises for it (its JSON, from
 * ba_renderer_error_json or ba_renderer_options_error_json, through
 * blendarray._errors.from_json: SetupError, WorkerError with its output, ...). */
static PyObject *raise_json(const char *json, int err)
{
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

static PyObject *raise_renderer(ba_renderer *r, int err)
{
    return raise_json(ba_renderer_error_json(r), err);
}

/* The Python arguments, through the options' setters: 0, or -1 with the
 * exception set (a value the library refuses: its message). */
static int fill_options(ba_renderer_options *o, PyObject *const strs[6], long long seed,
                        int workers, int ring, int retries, double timeout, int verbose,
                        PyObject *const recycling[2])
{
    static const int str_opts[6] = {BA_OPT_BLENDER, BA_OPT_PYTHON, BA_OPT_PACKAGE_DIR,
                                    BA_OPT_SCENE, BA_OPT_SETTINGS, BA_OPT_SETUP};
    int err = BA_OK;
    for (int i = 0; i < 6 && err == BA_OK; i++) {
        if (strs[i] == Py_None)
            continue;
        const char *text = PyUnicode_AsUTF8(strs[i]);
        if (text == NULL)
            return -1;
        err = ba_renderer_options_set_str(o, str_opts[i], text);
    }
    if (err == BA_OK && !(timeout >= 0 && timeout <= INT32_MAX / 1000.0)) {
        char msg[96];
        snprintf(msg, sizeof msg, "timeout must be 0 (no limit) to %d seconds, not %g",
                 INT32_MAX / 1000, timeout);
        PyObject *cls = ba_py_error_type();
        if (cls != NULL) {
            PyErr_SetString(cls, msg);
            Py_DECREF(cls);
        }
        return -1;
    }
    /* whole milliseconds, rounded up: a timeout > 0 never becomes 0 (no limit) */
    long long ms = (long long)ceil(timeout * 1000);
    const struct { int opt; long long value; } ints[] = {
        {BA_OPT_SEED, seed}, {BA_OPT_WORKERS, workers}, {BA_OPT_RING, ring},
        {BA_OPT_RETRIES, retries}, {BA_OPT_TIMEOUT_MS, ms}, {BA_OPT_VERBOSE, verbose}};
    for (size_t i = 0; i < sizeof ints / sizeof *ints && err == BA_OK; i++)
        err = ba_renderer_options_set_int(o, ints[i].opt, ints[i].value);
    /* None: the library's default (no frame limit; the automatic memory limit) */
    static const int recycling_opts[2] = {BA_OPT_MAX_WORKER_FRAMES, BA_OPT_MAX_WORKER_MEMORY};
    for (int i = 0; i < 2 && err == BA_OK; i++) {
        if (recycling[i] == Py_None)
            continue;
        long long v = PyLong_AsLongLong(recycling[i]);
        if (v == -1 && PyErr_Occurred())
            return -1;
        err = ba_renderer_options_set_int(o, recycling_opts[i], v);
    }
    if (err != BA_OK) {
        raise_json(ba_renderer_options_error_json(o), err);
        return -1;
    }
    return 0;
}

static PyObject *Renderer_new(PyTypeObject *type, PyObject *args, PyObject *kw)
{
    static char *kwlist[] = {"blender", "python", "package_dir", "scene", "settings", "setup",
                             "seed", "workers", "ring", "retries", "timeout", "verbose",
                             "max_worker_frames", "max_worker_memory", NULL};
    PyObject *strs[6];
    PyObject *recycling[2] = {Py_None, Py_None};
    long long seed;
    int workers, ring, retries, verbose;
    double timeout;
    if (!PyArg_ParseTupleAndKeywords(args, kw, "OOOOOOLiiidp|OO:Renderer", kwlist, &strs[0],
                                     &strs[1], &strs[2], &strs[3], &strs[4], &strs[5], &seed,
                                     &workers, &ring, &retries, &timeout, &verbose,
                                     &recycling[0], &recycling[1]))
        return NULL;
    ba_renderer_options *o = NULL;
    if (ba_renderer_options_new(&o) != BA_OK)
        return PyErr_NoMemory();
    RendererObject *self = NULL;
    if (fill_options(o, strs, seed, workers, ring, retries, timeout, verbose, recycling) != 0 ||
        (self = (RendererObject *)type->tp_alloc(type, 0)) == NULL) {
        ba_renderer_options_free(o);
        return NULL;
    }
    ba_renderer *r = NULL;
    int err;
    Py_BEGIN_ALLOW_THREADS
    err = ba_renderer_open(&r, o);
    Py_END_ALLOW_THREADS
    /* a signal while Blender starts: run its handler; unless it raised, go on */
    while (err == BA_EINTR && r != NULL && PyErr_CheckSignals() == 0) {
        Py_BEGIN_ALLOW_THREADS
        err = ba_renderer_start(r);
        Py_END_ALLOW_THREADS
    }
    if (err != BA_OK) {
        if (!PyErr_Occurred()) /* open failed (r is NULL): the options say why */
            raise_json(r ? ba_renderer_error_json(r) : ba_renderer_options_error_json(o), err);
        Py_BEGIN_ALLOW_THREADS
        ba_renderer_close(r);
        Py_END_ALLOW_THREADS
        ba_renderer_options_free(o);
        Py_DECREF(self);
        return NULL;
    }
    ba_renderer_options_free(o);
    self->r = r;
    return (PyObject *)self;
}

PyDoc_STRVAR(tmp_sweep_doc,
"tmp_sweep(tmpdir=None)\n--\n\n"
"Remove the temporary folders that killed consumers left (ba_tmp_sweep;\n"
"tmpdir None: $TMPDIR, else /tmp). Best effort: returns the library's\n"
"error code, 0 when the folder could be read.");

static PyObject *tmp_sweep(PyObject *module, PyObject *args)
{
    (void)module;
    const char *tmpdir = NULL;
    if (!PyArg_ParseTuple(args, "|z:tmp_sweep", &tmpdir))
        return NULL;
    int err;
    Py_BEGIN_ALLOW_THREADS
    err = ba_tmp_sweep(tmpdir);
    Py_END_ALLOW_THREADS
    return PyLong_FromLong(err);
}

static PyMethodDef module_functions[] = {
    {"tmp_sweep", (PyCFunction)tmp_sweep, METH_VARARGS, tmp_sweep_doc},
    {NULL, NULL, 0, NULL},
};

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

PyDoc_STRVAR(Renderer_stat_doc,
"stat(what)\n--\n\n"
"One of ba_renderer_stat()'s counts (what: an enum ba_renderer_stat value,\n"
"0 recycled, 1 restarted, 2 frames, 3 over_memory, 4 memory_limit,\n"
"5 max_memory); -1 for an unknown one or a closed Renderer.");

static PyObject *Renderer_stat(RendererObject *self, PyObject *args)
{
    int what;
    if (!PyArg_ParseTuple(args, "i:stat", &what))
        return NULL;
    return PyLong_FromLongLong((long long)ba_renderer_stat(self->r, what));
}

PyDoc_STRVAR(Renderer_identity_doc,
"identity()\n--\n\n"
"What determines the frames (ba_renderer_identity): the JSON text of the\n"
"scene (path, size, crc32; null: the demo scene), settings, setup, seed and\n"
"the workers' Blender version. Reads the scene file (the GIL is released).");

static PyObject *Renderer_identity(RendererObject *self, PyObject *unused)
{
    (void)unused;
    if (closed(self))
        return NULL;
    char *json = NULL;
    int err;
    Py_BEGIN_ALLOW_THREADS
    err = ba_renderer_identity(self->r, &json);
    Py_END_ALLOW_THREADS
    if (err != BA_OK)
        return raise_renderer(self->r, err);
    PyObject *text = PyUnicode_FromString(json);
    ba_free(json);
    return text;
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
    {"stat", (PyCFunction)Renderer_stat, METH_VARARGS, Renderer_stat_doc},
    {"identity", (PyCFunction)Renderer_identity, METH_NOARGS, Renderer_identity_doc},
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
"         ring, retries, timeout, verbose, max_worker_frames=None,\n"
"         max_worker_memory=None)\n--\n\n"
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
    return PyModule_AddFunctions(m, module_functions);
}
