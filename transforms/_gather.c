/* The one loop of the CSV encoder and of string composition, in C: copy pieces of text, chosen by index from a
 * vocabulary held as Arrow holds a string array (int32 offsets into one data buffer), end to end into a new
 * buffer, and note where each row (a fixed or varying number of pieces) starts.
 *
 * Arrow's `take` does the same at 10-14 ns a piece, most of it per-piece overhead, as the pieces are short (a
 * separator, a word, a rendered number). Here a piece of up to 16 bytes is one unconditional 16-byte copy (the
 * source and the output have room behind it): 2-4 ns. The result is the same bytes; transforms/text.py falls
 * back to Arrow's `take` where this module is not built (setup.py builds it where a C compiler is found).
 *
 * The GIL is released for both passes: the worker threads of a local run gather at the same time.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <string.h>

#define PAD 16

static int get_buffer(PyObject *obj, Py_buffer *view, Py_ssize_t itemsize, const char *what) {
    if (PyObject_GetBuffer(obj, view, PyBUF_C_CONTIGUOUS) < 0)
        return -1;
    if (view->len % itemsize) {
        PyErr_Format(PyExc_ValueError, "%s: %zd bytes is not a whole number of %zd-byte items", what, view->len,
                     itemsize);
        PyBuffer_Release(view);
        return -1;
    }
    return 0;
}

/* One piece: whole 16-byte copies where the source has room for them (what they write past the piece is
 * overwritten by the next piece or lies in the output's padding), else an exact copy. */
static inline void copy_piece(uint8_t *dst, const uint8_t *src, int64_t start, int64_t len, Py_ssize_t data_len) {
    if (start + ((len + PAD - 1) & ~(int64_t)(PAD - 1)) <= data_len) {
        for (int64_t o = 0; o < len; o += PAD)
            memcpy(dst + o, src + start + o, PAD);
    } else {
        memcpy(dst, src + start, (size_t)len);
    }
}

/* Every piece lies inside data: the copies rely on it. */
static int check_offsets(const int32_t *off, Py_ssize_t m, Py_ssize_t data_len) {
    if (m < 0) {
        PyErr_SetString(PyExc_ValueError, "offsets: at least one value expected");
        return -1;
    }
    for (Py_ssize_t i = 0; i < m; i++) {
        if (off[i] < 0 || off[i] > off[i + 1]) {
            PyErr_Format(PyExc_ValueError, "offsets: not increasing at %zd", i);
            return -1;
        }
    }
    if (off[m] < 0 || off[m] > data_len) {
        PyErr_Format(PyExc_ValueError, "offsets: %d is past the end of data (%zd bytes)", (int)off[m], data_len);
        return -1;
    }
    return 0;
}

PyDoc_STRVAR(gather_doc,
"gather(offsets, data, index, k, counts) -> (bytes, row_offsets or None, total)\n\n"
"Piece i of the vocabulary is data[offsets[i]:offsets[i + 1]] (offsets: int32, data: bytes). The result holds\n"
"the pieces index[0], index[1], ... (int32) end to end in its first `total` bytes (16 more follow, unused).\n"
"Rows: `counts` (int64, pieces per row) if not None, else `k` pieces per row if k > 0, else none; row_offsets\n"
"(int32, rows + 1 values) says where each row starts, as an Arrow string array's offsets.");

static PyObject *gather(PyObject *self, PyObject *args) {
    (void)self;
    PyObject *offsets_obj, *data_obj, *index_obj, *counts_obj;
    Py_ssize_t k;
    if (!PyArg_ParseTuple(args, "OOOnO", &offsets_obj, &data_obj, &index_obj, &k, &counts_obj))
        return NULL;
    Py_buffer ob = {0}, db = {0}, ib = {0}, cb = {0};
    PyObject *out = NULL, *rows = NULL, *result = NULL;
    int have_counts = counts_obj != Py_None;
    if (get_buffer(offsets_obj, &ob, 4, "offsets") < 0) return NULL;
    if (get_buffer(data_obj, &db, 1, "data") < 0) goto done;
    if (get_buffer(index_obj, &ib, 4, "index") < 0) goto done;
    if (have_counts && get_buffer(counts_obj, &cb, 8, "counts") < 0) goto done;

    const int32_t *off = (const int32_t *)ob.buf;
    const uint8_t *src = (const uint8_t *)db.buf;
    const int32_t *index = (const int32_t *)ib.buf;
    const int64_t *counts = have_counts ? (const int64_t *)cb.buf : NULL;
    Py_ssize_t m = ob.len / 4 - 1, pieces = ib.len / 4, data_len = db.len, nrows = 0;
    if (check_offsets(off, m, data_len) < 0) goto done;
    if (have_counts) {
        nrows = cb.len / 8;
        int64_t sum = 0;
        for (Py_ssize_t r = 0; r < nrows; r++) {
            if (counts[r] < 0) {
                PyErr_Format(PyExc_ValueError, "counts: %lld at row %zd", (long long)counts[r], r);
                goto done;
            }
            sum += counts[r];
        }
        if (sum != pieces) {
            PyErr_Format(PyExc_ValueError, "counts add up to %lld, index holds %zd pieces", (long long)sum, pieces);
            goto done;
        }
    } else if (k > 0) {
        if (pieces % k) {
            PyErr_Format(PyExc_ValueError, "index: %zd pieces is not a whole number of rows of %zd", pieces, k);
            goto done;
        }
        nrows = pieces / k;
    } else if (k < 0) {
        PyErr_Format(PyExc_ValueError, "k: %zd, expected 0 or more", k);
        goto done;
    }
    int want_rows = have_counts || k > 0;
    if (want_rows) {
        rows = PyBytes_FromStringAndSize(NULL, (nrows + 1) * 4);
        if (!rows) goto done;
    }
    int32_t *row_off = want_rows ? (int32_t *)PyBytes_AS_STRING(rows) : NULL;

    /* Pass 1: check every index and add up the lengths (and the rows' starts). */
    int64_t total = 0;
    Py_ssize_t bad = -1;
    Py_BEGIN_ALLOW_THREADS
    Py_ssize_t j = 0;
    if (want_rows) {
        for (Py_ssize_t r = 0; r < nrows && bad < 0; r++) {
            row_off[r] = (int32_t)total;
            Py_ssize_t end = j + (have_counts ? (Py_ssize_t)counts[r] : k);
            for (; j < end; j++) {
                uint32_t i = (uint32_t)index[j];
                if (i >= (uint32_t)m) { bad = j; break; }
                total += off[i + 1] - off[i];
            }
            if (total > INT32_MAX) { bad = -2; break; }
        }
        if (bad == -1) row_off[nrows] = (int32_t)total;
    } else {
        for (; j < pieces; j++) {
            uint32_t i = (uint32_t)index[j];
            if (i >= (uint32_t)m) { bad = j; break; }
            total += off[i + 1] - off[i];
        }
    }
    Py_END_ALLOW_THREADS
    if (bad >= 0) {
        PyErr_Format(PyExc_IndexError, "index: %d at %zd, the vocabulary has %zd pieces", (int)index[bad], bad, m);
        goto done;
    }
    if (bad == -2 || (want_rows && total > INT32_MAX)) {
        PyErr_SetString(PyExc_OverflowError, "more than 2**31 - 1 bytes of text in one array; use smaller batches");
        goto done;
    }

    out = PyBytes_FromStringAndSize(NULL, (Py_ssize_t)total + PAD);
    if (!out) goto done;
    uint8_t *dst = (uint8_t *)PyBytes_AS_STRING(out);

    /* Pass 2: copy. */
    Py_BEGIN_ALLOW_THREADS
    for (Py_ssize_t p = 0; p < pieces; p++) {
        uint32_t i = (uint32_t)index[p];
        int32_t len = off[i + 1] - off[i];
        copy_piece(dst, src, off[i], len, data_len);
        dst += len;
    }
    Py_END_ALLOW_THREADS
    memset(dst, 0, PAD);  /* the padding: defined bytes, whatever the last copy left there */

    result = Py_BuildValue("(OOL)", out, want_rows ? rows : Py_None, (long long)total);

done:
    Py_XDECREF(out);
    Py_XDECREF(rows);
    if (ob.obj) PyBuffer_Release(&ob);
    if (db.obj) PyBuffer_Release(&db);
    if (ib.obj) PyBuffer_Release(&ib);
    if (cb.obj) PyBuffer_Release(&cb);
    return result;
}

PyDoc_STRVAR(gather_ranges_doc,
"gather_ranges(ranges, data, index) -> (bytes, row_offsets, total)\n\n"
"Row r is piece index[r], where piece i is data[start:start + length] for (start, length) = ranges[i] (ranges:\n"
"int32 pairs; index: int32): pieces may overlap, as the prefixes of one text do. The result is as gather's with\n"
"one piece a row.");

static PyObject *gather_ranges(PyObject *self, PyObject *args) {
    (void)self;
    PyObject *ranges_obj, *data_obj, *index_obj;
    if (!PyArg_ParseTuple(args, "OOO", &ranges_obj, &data_obj, &index_obj))
        return NULL;
    Py_buffer rb = {0}, db = {0}, ib = {0};
    PyObject *out = NULL, *rows = NULL, *result = NULL;
    int32_t *chosen = NULL;
    if (get_buffer(ranges_obj, &rb, 8, "ranges") < 0) return NULL;
    if (get_buffer(data_obj, &db, 1, "data") < 0) goto done;
    if (get_buffer(index_obj, &ib, 4, "index") < 0) goto done;
    const int32_t *ranges = (const int32_t *)rb.buf;
    const int32_t *index = (const int32_t *)ib.buf;
    const uint8_t *src = (const uint8_t *)db.buf;
    Py_ssize_t m = rb.len / 8, n = ib.len / 4, data_len = db.len;
    rows = PyBytes_FromStringAndSize(NULL, (n + 1) * 4);
    chosen = PyMem_Malloc((n ? n : 1) * 2 * sizeof(int32_t));
    if (!rows || !chosen) {
        if (rows) PyErr_NoMemory();
        goto done;
    }
    int32_t *row_off = (int32_t *)PyBytes_AS_STRING(rows);

    /* Pass 1: the table is read once, at random (only what is drawn; each range is checked), into `chosen`;
     * pass 2 reads that in order. */
    int64_t total = 0;
    Py_ssize_t bad = -1;
    Py_BEGIN_ALLOW_THREADS
    for (Py_ssize_t r = 0; r < n; r++) {
        uint32_t i = (uint32_t)index[r];
        if (i >= (uint32_t)m) { bad = r; break; }
        int32_t start = ranges[2 * i], len = ranges[2 * i + 1];
        if (start < 0 || len < 0 || (int64_t)start + len > data_len) { bad = r; break; }
        chosen[2 * r] = start;
        chosen[2 * r + 1] = len;
        row_off[r] = (int32_t)total;
        total += len;
        if (total > INT32_MAX) { bad = -2; break; }
    }
    if (bad == -1) row_off[n] = (int32_t)total;
    Py_END_ALLOW_THREADS
    if (bad >= 0) {
        PyErr_Format(PyExc_IndexError, "index: %d at %zd is not a piece inside data (%zd pieces, %zd bytes)",
                     (int)index[bad], bad, m, data_len);
        goto done;
    }
    if (bad == -2) {
        PyErr_SetString(PyExc_OverflowError, "more than 2**31 - 1 bytes of text in one array; use smaller batches");
        goto done;
    }
    out = PyBytes_FromStringAndSize(NULL, (Py_ssize_t)total + PAD);
    if (!out) goto done;
    uint8_t *dst = (uint8_t *)PyBytes_AS_STRING(out);
    Py_BEGIN_ALLOW_THREADS
    for (Py_ssize_t r = 0; r < n; r++) {
        copy_piece(dst, src, chosen[2 * r], chosen[2 * r + 1], data_len);
        dst += chosen[2 * r + 1];
    }
    Py_END_ALLOW_THREADS
    memset(dst, 0, PAD);
    result = Py_BuildValue("(OOL)", out, rows, (long long)total);

done:
    PyMem_Free(chosen);
    Py_XDECREF(out);
    Py_XDECREF(rows);
    if (rb.obj) PyBuffer_Release(&rb);
    if (db.obj) PyBuffer_Release(&db);
    if (ib.obj) PyBuffer_Release(&ib);
    return result;
}

static PyMethodDef methods[] = {
    {"gather_ranges", gather_ranges, METH_VARARGS, gather_ranges_doc},
    {"gather", gather, METH_VARARGS, gather_doc},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "transforms._gather",
    "Pieces of text gathered end to end (see transforms/_gather.c).", -1, methods, NULL, NULL, NULL, NULL,
};

PyMODINIT_FUNC PyInit__gather(void) { return PyModule_Create(&module); }
