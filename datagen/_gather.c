/* The one loop of the CSV encoder and of string composition, in C: copy pieces of text, chosen by index from a
 * vocabulary held as Arrow holds a string array (int32 offsets into one data buffer), end to end into a new
 * buffer, and note where each row (a fixed or varying number of pieces) starts.
 *
 * Arrow's `take` does the same, but most of its time goes to per-piece overhead, as the pieces are short (a
 * separator, a word, a rendered number). Here a piece of up to 16 bytes is one unconditional 16-byte copy (the
 * source and the output have room behind it), with next to no overhead (what it saves: benchmarks/README.md,
 * "CPU per block"). The result is the same bytes; datagen/text.py falls back to Arrow's `take` where this module
 * is not built (setup.py builds it where a C compiler is found).
 *
 * The GIL is released for both passes: the worker threads of a local run gather at the same time. Another
 * Python thread could write to the arrays meanwhile (a buffer export stops them being freed, not written), so
 * what the copies rely on is checked again where it is used: such a race gives an error, never a write or read
 * outside the buffers.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <string.h>

#define PAD 16
#if defined(__GNUC__) || defined(__clang__)
#define UNLIKELY(x) __builtin_expect(!!(x), 0)
#else
#define UNLIKELY(x) (x)
#endif

/* Does a buffer's struct format say "native signed integers of `itemsize` bytes" (or, for 1, any bytes)? */
static int format_is(const char *format, Py_ssize_t itemsize) {
    if (format == NULL)
        return itemsize == 1;  /* unsigned bytes */
    if (*format == '@' || *format == '=')
        format++;
    else if (*format == '<') {
        const uint16_t one = 1;
        if (*(const uint8_t *)&one != 1) return 0;  /* little-endian data on a big-endian machine */
        format++;
    }
    if (format[0] == '\0' || format[1] != '\0')
        return 0;
    switch (itemsize) {
    case 1: return strchr("Bbc", format[0]) != NULL;
    case 4: return format[0] == 'i' || (format[0] == 'l' && sizeof(long) == 4);
    case 8: return format[0] == 'q' || (format[0] == 'l' && sizeof(long) == 8);
    default: return 0;
    }
}

static int get_buffer(PyObject *obj, Py_buffer *view, Py_ssize_t itemsize, const char *what) {
    if (PyObject_GetBuffer(obj, view, PyBUF_C_CONTIGUOUS | PyBUF_FORMAT) < 0)
        return -1;
    const char *expected = itemsize == 1 ? "bytes" : itemsize == 4 ? "int32" : "int64";
    if (view->itemsize != itemsize || !format_is(view->format, itemsize)) {
        PyErr_Format(PyExc_TypeError, "%s: %s expected, got items of format '%s' (%zd bytes)", what, expected,
                     view->format ? view->format : "B", view->itemsize);
    } else if ((uintptr_t)view->buf % (uintptr_t)itemsize) {
        PyErr_Format(PyExc_ValueError, "%s: %s not aligned to %zd bytes", what, expected, itemsize);
    } else {
        return 0;
    }
    PyBuffer_Release(view);
    return -1;
}

/* The output: `total` bytes and the padding that copy_piece may write into. */
static PyObject *new_output(int64_t total, int want_offsets) {
    if (want_offsets && total > INT32_MAX) {
        PyErr_SetString(PyExc_OverflowError, "more than 2**31 - 1 bytes of text in one array; use smaller batches");
        return NULL;
    }
    return PyBytes_FromStringAndSize(NULL, (Py_ssize_t)total + PAD);
}

static PyObject *changed_meanwhile(void) {
    PyErr_SetString(PyExc_RuntimeError, "an input array changed while it was read (written by another thread)");
    return NULL;
}

/* One piece of `len` >= 0 bytes from `start` >= 0: whole 16-byte copies where the source has room for them (what
 * they write past the piece is overwritten by the next piece or lies in the output's padding), else an exact
 * copy. Returns 1, copying nothing, if the piece does not lie inside the source. */
static inline int copy_piece(uint8_t *dst, const uint8_t *src, int64_t start, int64_t len, Py_ssize_t data_len) {
    int64_t stop = start + len;
    if (stop + (PAD - 1) <= data_len) {  /* start + len rounded up to 16 bytes is inside the source */
        for (int64_t o = 0; o < len; o += PAD)
            memcpy(dst + o, src + start + o, PAD);
        return 0;
    }
    if (stop > data_len)
        return 1;
    memcpy(dst, src + start, (size_t)len);
    return 0;
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
            if (counts[r] < 0 || counts[r] > (int64_t)pieces - sum) {
                PyErr_Format(PyExc_ValueError, "counts: %lld at row %zd, where %lld of the index's %zd pieces are left",
                             (long long)counts[r], r, (long long)((int64_t)pieces - sum), pieces);
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

    /* Pass 1: check every index and add up the lengths (and the rows' starts). `negative` collects the sign of
     * every length: offsets checked above but written since would show here. */
    int64_t total = 0;
    Py_ssize_t bad = -1;
    int32_t bad_value = 0, negative = 0, changed = 0;
    Py_BEGIN_ALLOW_THREADS
    Py_ssize_t j = 0;
    if (want_rows) {
        for (Py_ssize_t r = 0; r < nrows; r++) {
            int64_t count = have_counts ? counts[r] : (int64_t)k;
            if (UNLIKELY(count < 0 || count > (int64_t)(pieces - j))) { changed = 1; break; }
            row_off[r] = (int32_t)total;
            for (Py_ssize_t end = j + (Py_ssize_t)count; j < end; j++) {
                uint32_t i = (uint32_t)index[j];
                if (UNLIKELY(i >= (uint32_t)m)) { bad = j; bad_value = (int32_t)i; break; }
                int32_t len = off[i + 1] - off[i];
                negative |= len;
                total += len;
            }
            if (bad >= 0 || total > INT32_MAX) break;  /* new_output says the latter */
        }
        if (bad < 0 && !changed && total <= INT32_MAX) row_off[nrows] = (int32_t)total;
    } else {
        for (; j < pieces; j++) {
            uint32_t i = (uint32_t)index[j];
            if (UNLIKELY(i >= (uint32_t)m)) { bad = j; bad_value = (int32_t)i; break; }
            int32_t len = off[i + 1] - off[i];
            negative |= len;
            total += len;
        }
    }
    Py_END_ALLOW_THREADS
    if (bad >= 0) {
        PyErr_Format(PyExc_IndexError, "index: %d at %zd, the vocabulary has %zd pieces", (int)bad_value, bad, m);
        goto done;
    }
    if (changed || negative < 0) { changed_meanwhile(); goto done; }
    out = new_output(total, want_rows);
    if (!out) goto done;
    uint8_t *dst = (uint8_t *)PyBytes_AS_STRING(out);
    const uint8_t *dst_end = dst + total;

    /* Pass 2: copy. */
    Py_BEGIN_ALLOW_THREADS
    for (Py_ssize_t p = 0; p < pieces; p++) {
        uint32_t i = (uint32_t)index[p];
        if (UNLIKELY(i >= (uint32_t)m)) { changed = 1; break; }
        int32_t start = off[i], len = off[i + 1] - start;
        if (UNLIKELY((start | len) < 0 || len > dst_end - dst || copy_piece(dst, src, start, len, data_len))) {
            changed = 1;
            break;
        }
        dst += len;
    }
    Py_END_ALLOW_THREADS
    if (changed || dst != dst_end) { changed_meanwhile(); goto done; }
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
    if (get_buffer(ranges_obj, &rb, 4, "ranges") < 0) return NULL;
    if (rb.len % 8) {
        PyErr_Format(PyExc_ValueError, "ranges: (start, length) pairs expected, got %zd int32 values", rb.len / 4);
        goto done;
    }
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
    int32_t bad_value = 0;
    Py_BEGIN_ALLOW_THREADS
    for (Py_ssize_t r = 0; r < n; r++) {
        uint32_t i = (uint32_t)index[r];
        int32_t start = i < (uint32_t)m ? ranges[2 * i] : 0, len = i < (uint32_t)m ? ranges[2 * i + 1] : 0;
        if (i >= (uint32_t)m || start < 0 || len < 0 || (int64_t)start + len > data_len) {
            bad = r;
            bad_value = (int32_t)i;
            break;
        }
        chosen[2 * r] = start;
        chosen[2 * r + 1] = len;
        row_off[r] = (int32_t)total;
        total += len;
        if (total > INT32_MAX) break;  /* new_output says so */
    }
    if (bad == -1 && total <= INT32_MAX) row_off[n] = (int32_t)total;
    Py_END_ALLOW_THREADS
    if (bad >= 0) {
        PyErr_Format(PyExc_IndexError, "index: %d at %zd is not a piece inside data (%zd pieces, %zd bytes)",
                     (int)bad_value, bad, m, data_len);
        goto done;
    }
    out = new_output(total, 1);
    if (!out) goto done;
    uint8_t *dst = (uint8_t *)PyBytes_AS_STRING(out);
    Py_BEGIN_ALLOW_THREADS
    for (Py_ssize_t r = 0; r < n; r++) {  /* `chosen` is this call's own: checked in pass 1, unchanged since */
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
    PyModuleDef_HEAD_INIT, "datagen._gather",
    "Pieces of text gathered end to end (see datagen/_gather.c).", -1, methods, NULL, NULL, NULL, NULL,
};

PyMODINIT_FUNC PyInit__gather(void) { return PyModule_Create(&module); }
