/* The C fast paths of a compiled Function (see symdiff/compiler/function.py).
 *
 * ScalarCall: a Function whose inputs and outputs are all float64 scalars also gets a Numba
 * @cfunc, void kernel_c(const double *in, double *out). When given exactly its number of
 * positional arguments, all Python floats, ScalarCall reads them into a C array, calls kernel_c
 * and returns Python floats.
 *
 * ArrayCall: any other Function whose arguments the Python wrapper would pass on unchanged
 * (C-contiguous ndarrays of exactly the expected dtype and rank, Python floats for float64
 * scalars). It checks those properties and the shapes, binding named dims consistently across
 * arguments, then calls Numba's entry point with the inputs, the constant arrays and the dims.
 *
 * Both are the Function's __call__. Any call they do not take (keywords, a wrong count, ints,
 * lists, NumPy scalars, strided or Fortran-ordered arrays, other dtypes, wrong shapes) goes to
 * the Python wrapper, which converts or refuses the arguments with its own messages; so does a
 * call whose kernel raises ValueError, IndexError or ZeroDivisionError (kernels are pure, so the
 * wrapper's second run raises the same error, as a symdiff error). Nothing here accepts a value
 * the wrapper would refuse.
 *
 * This extension is optional: without it the Python wrapper serves every call.
 */
#define PY_SSIZE_T_CLEAN
#define NPY_NO_DEPRECATED_API NPY_1_7_API_VERSION
#include <Python.h>
#include <stddef.h>
#include <numpy/arrayobject.h>

#define MAX_SCALARS 64
#define MAX_ARGS 64    /* ArrayCall: inputs + constant arrays + named dims */
#define MAX_SIZES 256  /* ArrayCall: the ranks of all inputs together */

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

/* ------------------------------------------------------------------------------------------ */

typedef struct {
    PyObject_HEAD
    vectorcallfunc vectorcall;
    PyObject *entry;     /* Numba's entry point: (inputs..., constant arrays..., dims...) */
    PyObject *consts;    /* tuple of the constant arrays */
    PyObject *specs;     /* tuple per input: None (a float) or (dtype, (size or -1-dim, ...)) */
    PyObject *fallback;  /* the Python wrapper (bound to its Function) */
    Py_ssize_t n_in, n_dims;
    int result;          /* 0: the entry's result as it is, 1: list(result), 2: [result] */
    /* the specs, unpacked: per input its dtype (NULL: a Python float), rank and first size */
    PyArray_Descr *descr[MAX_ARGS];
    int ndim[MAX_ARGS];
    Py_ssize_t first[MAX_ARGS];
    Py_ssize_t sizes[MAX_SIZES];  /* per dim of each input: >= 0 a static size, < 0 named dim -1-size */
} ArrayCall;

static PyObject *
array_call(PyObject *op, PyObject *const *args, size_t nargsf, PyObject *kwnames)
{
    ArrayCall *self = (ArrayCall *)op;
    Py_ssize_t n = PyVectorcall_NARGS(nargsf), k, j;
    npy_intp dims[MAX_ARGS];
    PyObject *stack[MAX_ARGS];
    Py_ssize_t n_consts = PyTuple_GET_SIZE(self->consts);

    if (kwnames != NULL || n != self->n_in)
        goto slow;
    for (j = 0; j < self->n_dims; j++)
        dims[j] = -1;
    for (k = 0; k < n; k++) {
        PyObject *a = args[k];
        if (self->descr[k] == NULL) {
            if (!PyFloat_CheckExact(a))
                goto slow;
            continue;
        }
        if (Py_TYPE(a) != &PyArray_Type)
            goto slow;
        PyArrayObject *arr = (PyArrayObject *)a;
        if (PyArray_DESCR(arr) != self->descr[k] || PyArray_NDIM(arr) != self->ndim[k] ||
            !PyArray_IS_C_CONTIGUOUS(arr))
            goto slow;
        npy_intp *shape = PyArray_DIMS(arr);
        const Py_ssize_t *want = self->sizes + self->first[k];
        for (j = 0; j < self->ndim[k]; j++) {
            if (want[j] >= 0) {
                if (shape[j] != want[j])
                    goto slow;
            }
            else {
                npy_intp *d = &dims[-1 - want[j]];
                if (*d < 0)
                    *d = shape[j];
                else if (*d != shape[j])
                    goto slow;
            }
        }
    }
    for (j = 0; j < self->n_dims; j++)
        if (dims[j] < 0)  /* a named dim no argument bound: the wrapper reports it */
            goto slow;
    for (k = 0; k < n; k++)
        stack[k] = args[k];
    for (k = 0; k < n_consts; k++)
        stack[n + k] = PyTuple_GET_ITEM(self->consts, k);
    for (j = 0; j < self->n_dims; j++) {
        stack[n + n_consts + j] = PyLong_FromSsize_t(dims[j]);
        if (stack[n + n_consts + j] == NULL) {
            while (--j >= 0)
                Py_DECREF(stack[n + n_consts + j]);
            return NULL;
        }
    }
    PyObject *r = PyObject_Vectorcall(self->entry, stack, n + n_consts + self->n_dims, NULL);
    for (j = 0; j < self->n_dims; j++)
        Py_DECREF(stack[n + n_consts + j]);
    if (r == NULL) {
        if (PyErr_ExceptionMatches(PyExc_ValueError) || PyErr_ExceptionMatches(PyExc_IndexError) ||
            PyErr_ExceptionMatches(PyExc_ZeroDivisionError)) {
            PyErr_Clear();  /* the wrapper runs it again and raises it as a symdiff error */
            goto slow;
        }
        return NULL;
    }
    if (self->result == 1) {
        PyObject *list = PySequence_List(r);
        Py_DECREF(r);
        return list;
    }
    if (self->result == 2) {
        PyObject *list = PyList_New(1);
        if (list == NULL) {
            Py_DECREF(r);
            return NULL;
        }
        PyList_SET_ITEM(list, 0, r);
        return list;
    }
    return r;
slow:
    return PyObject_Vectorcall(self->fallback, args, nargsf, kwnames);
}

static PyObject *
array_new(PyTypeObject *type, PyObject *args, PyObject *kwargs)
{
    static char *names[] = {"entry", "specs", "consts", "n_dims", "result", "fallback", NULL};
    PyObject *entry, *specs, *consts, *fallback;
    Py_ssize_t n_dims, k, j, used = 0;
    int result;
    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "OO!O!niO", names, &entry, &PyTuple_Type, &specs,
                                     &PyTuple_Type, &consts, &n_dims, &result, &fallback))
        return NULL;
    Py_ssize_t n_in = PyTuple_GET_SIZE(specs);
    if (n_dims < 0 || result < 0 || result > 2 || n_in + PyTuple_GET_SIZE(consts) + n_dims > MAX_ARGS) {
        PyErr_SetString(PyExc_ValueError, "ArrayCall: bad counts");
        return NULL;
    }
    if (!PyCallable_Check(entry) || !PyCallable_Check(fallback)) {
        PyErr_SetString(PyExc_TypeError, "ArrayCall: entry and fallback must be callable");
        return NULL;
    }
    ArrayCall *self = (ArrayCall *)type->tp_alloc(type, 0);
    if (self == NULL)
        return NULL;
    for (k = 0; k < n_in; k++) {
        PyObject *spec = PyTuple_GET_ITEM(specs, k), *shape;
        PyArray_Descr *descr;
        self->first[k] = used;
        if (spec == Py_None) {
            self->descr[k] = NULL;
            self->ndim[k] = 0;
            continue;
        }
        if (!PyArg_ParseTuple(spec, "O!O!", &PyArrayDescr_Type, &descr, &PyTuple_Type, &shape))
            goto fail;
        Py_ssize_t nd = PyTuple_GET_SIZE(shape);
        if (nd > NPY_MAXDIMS || used + nd > MAX_SIZES) {
            PyErr_SetString(PyExc_ValueError, "ArrayCall: too many dimensions");
            goto fail;
        }
        self->descr[k] = descr;  /* borrowed: self->specs keeps it alive */
        self->ndim[k] = (int)nd;
        for (j = 0; j < nd; j++) {
            Py_ssize_t size = PyLong_AsSsize_t(PyTuple_GET_ITEM(shape, j));
            if (size == -1 && PyErr_Occurred())
                goto fail;
            if (size < -n_dims) {
                PyErr_SetString(PyExc_ValueError, "ArrayCall: dim index out of range");
                goto fail;
            }
            self->sizes[used++] = size;
        }
    }
    self->vectorcall = array_call;
    self->n_in = n_in;
    self->n_dims = n_dims;
    self->result = result;
    Py_INCREF(entry);
    self->entry = entry;
    Py_INCREF(specs);
    self->specs = specs;
    Py_INCREF(consts);
    self->consts = consts;
    Py_INCREF(fallback);
    self->fallback = fallback;
    return (PyObject *)self;
fail:
    Py_DECREF(self);
    return NULL;
}

static int
array_traverse(ArrayCall *self, visitproc visit, void *arg)
{
    Py_VISIT(self->entry);
    Py_VISIT(self->specs);
    Py_VISIT(self->consts);
    Py_VISIT(self->fallback);
    return 0;
}

static int
array_clear(ArrayCall *self)
{
    Py_CLEAR(self->entry);
    Py_CLEAR(self->specs);
    Py_CLEAR(self->consts);
    Py_CLEAR(self->fallback);
    return 0;
}

static void
array_dealloc(ArrayCall *self)
{
    PyObject_GC_UnTrack(self);
    array_clear(self);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

static PyTypeObject ArrayCallType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "symdiff.compiler._fastcall.ArrayCall",
    .tp_doc = "A Function's call on ready arrays and floats, checked in C, into Numba's entry point.",
    .tp_basicsize = sizeof(ArrayCall),
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC | Py_TPFLAGS_HAVE_VECTORCALL,
    .tp_vectorcall_offset = offsetof(ArrayCall, vectorcall),
    .tp_call = PyVectorcall_Call,
    .tp_new = array_new,
    .tp_traverse = (traverseproc)array_traverse,
    .tp_clear = (inquiry)array_clear,
    .tp_dealloc = (destructor)array_dealloc,
};

static struct PyModuleDef fastcall_module = {
    PyModuleDef_HEAD_INIT, "_fastcall", "The C fast paths of compiled Functions.", -1, NULL,
};

PyMODINIT_FUNC
PyInit__fastcall(void)
{
    import_array();  /* NumPy's C API; raises ImportError on an incompatible NumPy */
    if (PyType_Ready(&ScalarCallType) < 0 || PyType_Ready(&ArrayCallType) < 0)
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
    Py_INCREF(&ArrayCallType);
    if (PyModule_AddObject(m, "ArrayCall", (PyObject *)&ArrayCallType) < 0) {
        Py_DECREF(&ArrayCallType);
        Py_DECREF(m);
        return NULL;
    }
    PyModule_AddIntConstant(m, "MAX_SCALARS", MAX_SCALARS);
    PyModule_AddIntConstant(m, "MAX_ARGS", MAX_ARGS);
    PyModule_AddIntConstant(m, "MAX_SIZES", MAX_SIZES);
    return m;
}
