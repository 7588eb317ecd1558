/* Python type _engine.Engine (engine_type.c). */
#ifndef SC_ENGINE_TYPE_H
#define SC_ENGINE_TYPE_H

typedef struct _object PyObject;

/* 0 = ok, -1 = Python exception set */
int sc_engine_register_type(PyObject *module);

#endif
