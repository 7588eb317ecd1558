/* Extension module src_client._engine: the media engine (Engine) plus the SRTP and in-band DTMF
 * types used by tests and tools (SrtpContext, InbandDtmfFilter). */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include "dtmf.h"
#include "engine_type.h"
#include "srtp.h"

static struct PyModuleDef engine_module = {
    PyModuleDef_HEAD_INIT,
    .m_name = "src_client._engine",
    .m_doc = "Media engine: RTP relay, forks to an SRS (RTP/SRTP), players; see src_client.media.",
    .m_size = -1,
};

PyMODINIT_FUNC PyInit__engine(void)
{
    PyObject *m = PyModule_Create(&engine_module);
    if (!m)
        return NULL;
    if (sc_engine_register_type(m) < 0 || sc_srtp_register_type(m) < 0 ||
        sc_dtmf_register_type(m) < 0) {
        Py_DECREF(m);
        return NULL;
    }
    return m;
}
