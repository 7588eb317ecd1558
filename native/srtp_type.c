/* Python type SrtpContext over sc_srtp: lets the bundled test SRS and tools decrypt forks, and
 * lets tests drive the exact code the engine runs. The repr never shows key material. */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include "srtp.h"

typedef struct {
    PyObject_HEAD
    sc_srtp *ctx;
    PyObject *suite; /* str */
} SrtpContextObject;

static int srtp_ctx_init(SrtpContextObject *self, PyObject *args, PyObject *kwds)
{
    static char *kwlist[] = {"suite", "key", "salt", NULL};
    const char *suite_name;
    Py_buffer key, salt;
    sc_srtp_suite suite;
    if (!PyArg_ParseTupleAndKeywords(args, kwds, "sy*y*:SrtpContext", kwlist, &suite_name, &key,
                                     &salt))
        return -1;
    int rc = -1;
    if (sc_srtp_suite_from_name(suite_name, &suite) != 0) {
        PyErr_Format(PyExc_ValueError, "unsupported SRTP crypto suite '%s'", suite_name);
        goto out;
    }
    sc_srtp *ctx = sc_srtp_new(suite, key.buf, (size_t)key.len, salt.buf, (size_t)salt.len);
    if (!ctx) {
        PyErr_Format(PyExc_ValueError,
                     "bad master key/salt for %s: need a 16-byte key and a %d-byte salt",
                     suite_name, suite == SC_SRTP_AEAD_AES_128_GCM ? 12 : 14);
        goto out;
    }
    PyObject *name = PyUnicode_FromString(suite_name);
    if (!name) {
        sc_srtp_free(ctx);
        goto out;
    }
    sc_srtp_free(self->ctx);
    Py_XSETREF(self->suite, name);
    self->ctx = ctx;
    rc = 0;
out:
    PyBuffer_Release(&key);
    PyBuffer_Release(&salt);
    return rc;
}

static void srtp_ctx_dealloc(SrtpContextObject *self)
{
    sc_srtp_free(self->ctx);
    Py_XDECREF(self->suite);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

static PyObject *srtp_ctx_repr(SrtpContextObject *self)
{
    return PyUnicode_FromFormat("<SrtpContext %S>", self->suite ? self->suite : Py_None);
}

typedef int (*grow_fn)(sc_srtp *, uint8_t *, size_t, size_t);
typedef int (*shrink_fn)(sc_srtp *, uint8_t *, size_t);

static PyObject *run(SrtpContextObject *self, PyObject *arg, grow_fn grow, shrink_fn shrink,
                     size_t trailer, const char *what)
{
    if (!self->ctx) {
        PyErr_SetString(PyExc_ValueError, "SrtpContext is not initialised");
        return NULL;
    }
    Py_buffer in;
    if (PyObject_GetBuffer(arg, &in, PyBUF_SIMPLE) != 0)
        return NULL;
    PyObject *out = PyBytes_FromStringAndSize(NULL, in.len + (Py_ssize_t)trailer);
    if (!out) {
        PyBuffer_Release(&in);
        return NULL;
    }
    uint8_t *buf = (uint8_t *)PyBytes_AS_STRING(out);
    memcpy(buf, in.buf, (size_t)in.len);
    int n = grow ? grow(self->ctx, buf, (size_t)in.len, (size_t)in.len + trailer)
                 : shrink(self->ctx, buf, (size_t)in.len);
    PyBuffer_Release(&in);
    if (n < 0) {
        Py_DECREF(out);
        PyErr_Format(PyExc_ValueError, "%s failed (malformed packet, authentication failure "
                                       "or replay)", what);
        return NULL;
    }
    if (_PyBytes_Resize(&out, n) != 0)
        return NULL;
    return out;
}

static PyObject *protect_rtp(SrtpContextObject *self, PyObject *arg)
{
    return run(self, arg, sc_srtp_protect_rtp, NULL, SC_SRTP_MAX_TRAILER, "SRTP protect");
}

static PyObject *unprotect_rtp(SrtpContextObject *self, PyObject *arg)
{
    return run(self, arg, NULL, sc_srtp_unprotect_rtp, 0, "SRTP unprotect");
}

static PyObject *protect_rtcp(SrtpContextObject *self, PyObject *arg)
{
    return run(self, arg, sc_srtp_protect_rtcp, NULL, SC_SRTCP_MAX_TRAILER, "SRTCP protect");
}

static PyObject *unprotect_rtcp(SrtpContextObject *self, PyObject *arg)
{
    return run(self, arg, NULL, sc_srtp_unprotect_rtcp, 0, "SRTCP unprotect");
}

static PyMethodDef srtp_ctx_methods[] = {
    {"protect_rtp", (PyCFunction)protect_rtp, METH_O, "Protect one RTP packet -> SRTP."},
    {"unprotect_rtp", (PyCFunction)unprotect_rtp, METH_O,
     "Authenticate, replay-check and decrypt one SRTP packet -> RTP (ValueError on failure)."},
    {"protect_rtcp", (PyCFunction)protect_rtcp, METH_O, "Protect one compound RTCP packet."},
    {"unprotect_rtcp", (PyCFunction)unprotect_rtcp, METH_O,
     "Authenticate, replay-check and decrypt one SRTCP packet (ValueError on failure)."},
    {NULL, NULL, 0, NULL},
};

static PyObject *srtp_ctx_get_suite(SrtpContextObject *self, void *closure)
{
    (void)closure;
    return Py_NewRef(self->suite ? self->suite : Py_None);
}

static PyGetSetDef srtp_ctx_getset[] = {
    {"suite", (getter)srtp_ctx_get_suite, NULL, "SDES crypto-suite name", NULL},
    {NULL, NULL, NULL, NULL, NULL},
};

static PyTypeObject SrtpContextType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "src_client._engine.SrtpContext",
    .tp_doc = "SrtpContext(suite: str, key: bytes, salt: bytes)\n\n"
              "One SRTP crypto context (RFC 3711 / RFC 7714) from an SDES master key and salt.",
    .tp_basicsize = sizeof(SrtpContextObject),
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_new = PyType_GenericNew,
    .tp_init = (initproc)srtp_ctx_init,
    .tp_dealloc = (destructor)srtp_ctx_dealloc,
    .tp_repr = (reprfunc)srtp_ctx_repr,
    .tp_methods = srtp_ctx_methods,
    .tp_getset = srtp_ctx_getset,
};

/* _srtp_kdf(key, salt, label, length) -> bytes: the RFC 3711 §4.3 PRF the contexts use, so
 * tests can check it against RFC 3711 Appendix B.2/B.3. */
static PyObject *srtp_kdf(PyObject *module, PyObject *args)
{
    (void)module;
    Py_buffer key, salt;
    int label;
    Py_ssize_t length;
    if (!PyArg_ParseTuple(args, "y*y*in:_srtp_kdf", &key, &salt, &label, &length))
        return NULL;
    PyObject *out = NULL;
    if (label < 0 || label > 255 || length < 0 || length > (1 << 24)) {
        PyErr_SetString(PyExc_ValueError, "label must be 0..255 and length 0..2**24");
        goto done;
    }
    out = PyBytes_FromStringAndSize(NULL, length);
    if (!out)
        goto done;
    if (sc_srtp_kdf(key.buf, (size_t)key.len, salt.buf, (size_t)salt.len, (uint8_t)label,
                    (uint8_t *)PyBytes_AS_STRING(out), (size_t)length) != 0) {
        Py_CLEAR(out);
        PyErr_SetString(PyExc_ValueError, "need a 16-byte key and a salt of at most 14 bytes");
    }
done:
    PyBuffer_Release(&key);
    PyBuffer_Release(&salt);
    return out;
}

static PyMethodDef srtp_functions[] = {
    {"_srtp_kdf", srtp_kdf, METH_VARARGS,
     "_srtp_kdf(key, salt, label, length) -> bytes: RFC 3711 §4.3 key derivation (tests)."},
    {NULL, NULL, 0, NULL},
};

int sc_srtp_register_type(PyObject *module)
{
    if (PyType_Ready(&SrtpContextType) < 0)
        return -1;
    if (PyModule_AddObjectRef(module, "SrtpContext", (PyObject *)&SrtpContextType) < 0)
        return -1;
    return PyModule_AddFunctions(module, srtp_functions);
}
