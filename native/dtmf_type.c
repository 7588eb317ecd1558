/* Python type InbandDtmfFilter over sc_inband_dtmf, for tests and offline tools (e.g. cleaning a
 * G.711 recording): the engine runs the same filter per fork in C. */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include "dtmf.h"

typedef struct {
    PyObject_HEAD
    sc_inband_dtmf state;
} InbandDtmfFilterObject;

static PyObject *dtmf_filter_new(PyTypeObject *type, PyObject *args, PyObject *kwds)
{
    (void)args;
    (void)kwds;
    InbandDtmfFilterObject *self = (InbandDtmfFilterObject *)type->tp_alloc(type, 0);
    if (self)
        sc_inband_dtmf_init(&self->state, -1); /* passes everything until __init__ ran */
    return (PyObject *)self;
}

static int dtmf_filter_init(InbandDtmfFilterObject *self, PyObject *args, PyObject *kwds)
{
    static char *kwlist[] = {"payload_type", NULL};
    int pt;
    if (!PyArg_ParseTupleAndKeywords(args, kwds, "i:InbandDtmfFilter", kwlist, &pt))
        return -1;
    if (pt != 0 && pt != 8) {
        PyErr_Format(PyExc_ValueError, "payload_type must be 0 (PCMU) or 8 (PCMA), not %d", pt);
        return -1;
    }
    sc_inband_dtmf_init(&self->state, pt);
    return 0;
}

static PyObject *dtmf_filter_filter(InbandDtmfFilterObject *self, PyObject *arg)
{
    if (self->state.payload_type != 0 && self->state.payload_type != 8) {
        PyErr_SetString(PyExc_ValueError, "InbandDtmfFilter is not initialised");
        return NULL;
    }
    Py_buffer in;
    if (PyObject_GetBuffer(arg, &in, PyBUF_SIMPLE) != 0)
        return NULL;
    PyObject *out = PyBytes_FromStringAndSize(in.buf, in.len);
    PyBuffer_Release(&in);
    if (!out)
        return NULL;
    int hit = sc_inband_dtmf_filter(&self->state, (uint8_t *)PyBytes_AS_STRING(out),
                                    (size_t)PyBytes_GET_SIZE(out));
    return Py_BuildValue("(NO)", out, hit ? Py_True : Py_False);
}

static PyObject *dtmf_filter_get_suppressed(InbandDtmfFilterObject *self, void *closure)
{
    (void)closure;
    return PyLong_FromUnsignedLong(self->state.frames_suppressed);
}

static PyObject *dtmf_filter_get_pt(InbandDtmfFilterObject *self, void *closure)
{
    (void)closure;
    return PyLong_FromLong(self->state.payload_type);
}

static PyMethodDef dtmf_filter_methods[] = {
    {"filter", (PyCFunction)dtmf_filter_filter, METH_O,
     "filter(payload: bytes) -> tuple[bytes, bool]: the payload, replaced by G.711 silence "
     "when it carries (or follows) an in-band DTMF tone, and whether it was replaced."},
    {NULL, NULL, 0, NULL},
};

static PyGetSetDef dtmf_filter_getset[] = {
    {"frames_suppressed", (getter)dtmf_filter_get_suppressed, NULL,
     "number of payloads replaced by silence so far", NULL},
    {"payload_type", (getter)dtmf_filter_get_pt, NULL, "0 (PCMU) or 8 (PCMA)", NULL},
    {NULL, NULL, NULL, NULL, NULL},
};

static PyTypeObject InbandDtmfFilterType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "src_client._engine.InbandDtmfFilter",
    .tp_doc = "InbandDtmfFilter(payload_type: int)\n\n"
              "Stateful in-band DTMF suppressor for consecutive G.711 RTP payloads of one stream.",
    .tp_basicsize = sizeof(InbandDtmfFilterObject),
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_new = dtmf_filter_new,
    .tp_init = (initproc)dtmf_filter_init,
    .tp_methods = dtmf_filter_methods,
    .tp_getset = dtmf_filter_getset,
};

int sc_dtmf_register_type(PyObject *module)
{
    if (PyType_Ready(&InbandDtmfFilterType) < 0)
        return -1;
    return PyModule_AddObjectRef(module, "InbandDtmfFilter", (PyObject *)&InbandDtmfFilterType);
}
