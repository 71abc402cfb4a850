/* The scalar fast path of a compiled Function (see symdiff/compiler/function.py).
 *
 * A Function whose inputs and outputs are all float64 scalars also gets a Numba @cfunc,
 * void kernel_c(const double *in, double *out). ScalarCall is the Function's __call__: when
 * it is given exactly its number of positional arguments, all Python floats, it reads them
 * into a C array, calls kernel_c and returns Python floats. Any other call (keywords, ints,
 * NumPy scalars, a wrong count, anything else) goes to the Python wrapper, which converts
 * or refuses the arguments as usual. Nothing here accepts a value the wrapper would refuse.
 *
 * This extension is optional: without it the Python wrapper serves every call.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stddef.h>

#define MAX_SCALARS 64

typedef void (*kernel_fn)(const double *in, double *out);

typedef struct {
    PyObject_HEAD
    vectorcallfunc vectorcall;
    kernel_fn fn;
    Py_ssize_t n_in, n_out;
    int single;          /* one output: return it bare, else a list */
    PyObject *fallback;  /* the Python wrapper (bound to its Function) */
} ScalarCall;

static PyObject *
scalar_call(PyObject *op, PyObject *const *args, size_t nargsf, PyObject *kwnames)
{
    ScalarCall *self = (ScalarCall *)op;
    Py_ssize_t n = PyVectorcall_NARGS(nargsf), i;
    double in[MAX_SCALARS], out[MAX_SCALARS];

    if (kwnames == NULL && n == self->n_in) {
        for (i = 0; i < n; i++) {
            if (!PyFloat_CheckExact(args[i]))
                break;
            in[i] = PyFloat_AS_DOUBLE(args[i]);
        }
        if (i == n) {
            self->fn(in, out);
            if (self->single)
                return PyFloat_FromDouble(out[0]);
            PyObject *list = PyList_New(self->n_out);
            if (list == NULL)
                return NULL;
            for (i = 0; i < self->n_out; i++) {
                PyObject *x = PyFloat_FromDouble(out[i]);
                if (x == NULL) {
                    Py_DECREF(list);
                    return NULL;
                }
                PyList_SET_ITEM(list, i, x);
            }
            return list;
        }
    }
    return PyObject_Vectorcall(self->fallback, args, nargsf, kwnames);
}

static PyObject *
scalar_new(PyTypeObject *type, PyObject *args, PyObject *kwargs)
{
    static char *names[] = {"address", "n_in", "n_out", "single", "fallback", NULL};
    PyObject *address, *fallback;
    Py_ssize_t n_in, n_out;
    int single;
    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "OnnpO", names, &address, &n_in, &n_out, &single, &fallback))
        return NULL;
    if (n_in < 0 || n_in > MAX_SCALARS || n_out < 1 || n_out > MAX_SCALARS || (single && n_out != 1)) {
        PyErr_SetString(PyExc_ValueError, "ScalarCall: bad argument or result count");
        return NULL;
    }
    void *fn = PyLong_AsVoidPtr(address);
    if (fn == NULL) {
        if (!PyErr_Occurred())
            PyErr_SetString(PyExc_ValueError, "ScalarCall: null function address");
        return NULL;
    }
    if (!PyCallable_Check(fallback)) {
        PyErr_SetString(PyExc_TypeError, "ScalarCall: fallback must be callable");
        return NULL;
    }
    ScalarCall *self = (ScalarCall *)type->tp_alloc(type, 0);
    if (self == NULL)
        return NULL;
    self->vectorcall = scalar_call;
    self->fn = (kernel_fn)fn;
    self->n_in = n_in;
    self->n_out = n_out;
    self->single = single;
    Py_INCREF(fallback);
    self->fallback = fallback;
    return (PyObject *)self;
}

static int
scalar_traverse(ScalarCall *self, visitproc visit, void *arg)
{
    Py_VISIT(self->fallback);
    return 0;
}

static int
scalar_clear(ScalarCall *self)
{
    Py_CLEAR(self->fallback);
    return 0;
}

static void
scalar_dealloc(ScalarCall *self)
{
    PyObject_GC_UnTrack(self);
    scalar_clear(self);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

static PyTypeObject ScalarCallType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "symdiff.compiler._fastcall.ScalarCall",
    .tp_doc = "A Function's call on Python floats, straight into its compiled kernel.",
    .tp_basicsize = sizeof(ScalarCall),
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC | Py_TPFLAGS_HAVE_VECTORCALL,
    .tp_vectorcall_offset = offsetof(ScalarCall, vectorcall),
    .tp_call = PyVectorcall_Call,
    .tp_new = scalar_new,
    .tp_traverse = (traverseproc)scalar_traverse,
    .tp_clear = (inquiry)scalar_clear,
    .tp_dealloc = (destructor)scalar_dealloc,
};

static struct PyModuleDef fastcall_module = {
    PyModuleDef_HEAD_INIT, "_fastcall", "The scalar fast path of compiled Functions.", -1, NULL,
};

PyMODINIT_FUNC
PyInit__fastcall(void)
{
    if (PyType_Ready(&ScalarCallType) < 0)
        return NULL;
    PyObject *m = PyModule_Create(&fastcall_module);
    if (m == NULL)
        return NULL;
    Py_INCREF(&ScalarCallType);
    if (PyModule_AddObject(m, "ScalarCall", (PyObject *)&ScalarCallType) < 0) {
        Py_DECREF(&ScalarCallType);
        Py_DECREF(m);
        return NULL;
    }
    PyModule_AddIntConstant(m, "MAX_SCALARS", MAX_SCALARS);
    return m;
}
