/* Compiled DTW behind posecli.align.dtw.feature_dtw / matrix_dtw.
 *
 * Why C and not numba: numba's import plus its loaded kernels hold ~110 MB in every process that aligns, more
 * than the whole computation (issue 19 asks for <= 50 MB in all at 10k x 10k); a small extension costs nothing
 * at import. No library does this job: dtaidistance has no subsequence mode, no cosine/cityblock costs on the
 * fly and not our tie order, and keeps either the full matrix or no path.
 *
 * Same recurrence, tie rules and band windows as the numpy sweep in dtw.py (the reference it is tested against):
 *   D[i,j] = C[i,j] + min(D[i-1,j-1], D[i-1,j], D[i,j-1]); ties: diagonal, then (i-1, j), then (i, j-1).
 *
 * Costs: computed on the fly from the two feature sequences, a row at a time, never the N x M matrix. The loop
 * runs over columns with the features outer (b is passed transposed, d x M), so each cell's sum is still added
 * in feature order 0..d-1 (identical to scipy's cdist, no reassociation) while the compiler vectorises across
 * cells. Built with -ffp-contract=off so that no fused multiply-add changes a rounding between builds.
 *
 * Path in O(sqrt(N) M) memory (checkpointing): the forward sweep keeps two rows of D and copies one row out of
 * every K; the backtrack then recomputes one block of K rows at a time from its checkpoint, recording 2-bit
 * decisions for that block only, and walks through it. Recomputed blocks stop at the column the path has
 * reached (a monotone path never goes right when walked back), so the extra work is about half a forward sweep
 * for a diagonal path. K = sqrt(32 N) balances checkpoint rows (8 bytes a cell) against decision rows (2 bits):
 * about 3 MB at 10k x 10k where the full decision planes were 25 MB. Recomputed rows are bit-identical to the
 * forward ones (same code, same inputs), so the path is exactly that of a full-matrix backtrack.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

enum { PRECOMPUTED = 0, EUCLIDEAN = 1, SQEUCLIDEAN = 2, COSINE = 3, CITYBLOCK = 4 };

/* One wider build of the cost loop for AVX2 machines, picked at load time; "default" elsewhere. */
#if defined(__GNUC__) && defined(__x86_64__) && defined(__linux__)
#define COST_CLONES __attribute__((target_clones("avx2", "default")))
#else
#define COST_CLONES
#endif

/* Cost sums run on GCC/Clang vector types (elementwise, so every lane adds its own cell's terms in feature order
 * exactly as scalar code would): four vectors of 4 doubles = 16 cells per tile, their sums held in registers
 * while the features stream past, four independent add chains. Other compilers get the scalar loop. */
#if defined(__GNUC__)
#define VECTOR_SUMS 1
typedef double vec __attribute__((vector_size(32)));
typedef long long vlong __attribute__((vector_size(32)));
#endif
#define TILE 16

typedef struct {
    int kind, cost_f32, subsequence;
    Py_ssize_t n, m, d;
    const double *a;  /* n x d */
    const double *bt; /* d x m */
    const double *na, *nb;
    const void *cost; /* n x m, float32 or float64 */
    const int64_t *lo, *hi;
} Problem;

typedef struct { /* a row buffer of m + 1 entries: [j + 1] holds D[., j], [0] stands for column -1 */
    double *v;
    Py_ssize_t lo, hi; /* columns written last (outside them the buffer holds inf) */
} Row;

/* out[j0..j0+w-1] = sums of TERM(x, b) over the features, in feature order within every cell. */
#define SCALAR_SUMS(TERM, w)                                                                                     \
    for (Py_ssize_t j = j0; j < j0 + (w); j++) {                                                                 \
        double acc = 0.0;                                                                                        \
        for (Py_ssize_t k = 0; k < d; k++) {                                                                     \
            const double x = ai[k], b = bt[k * m + j];                                                           \
            acc += TERM;                                                                                         \
        }                                                                                                        \
        out[j] = acc;                                                                                            \
    }

#ifdef VECTOR_SUMS
/* unaligned loads and stores of 4 doubles (a macro: a function returning `vec` would have an ABI that depends on
 * the target, which target_clones varies) */
#define LOAD4(v, p) memcpy(&(v), (p), sizeof(vec))
#define ROW_SUMS(TERM)                                                                                           \
    do {                                                                                                         \
        Py_ssize_t j0 = lo;                                                                                      \
        for (; j0 + TILE - 1 <= hi; j0 += TILE) {                                                                \
            vec s0 = {0}, s1 = {0}, s2 = {0}, s3 = {0};                                                          \
            for (Py_ssize_t k = 0; k < d; k++) {                                                                 \
                const vec x = (vec){0} + ai[k];                                                                  \
                const double *bk = bt + k * m + j0;                                                              \
                vec b;                                                                                           \
                LOAD4(b, bk), s0 += TERM;                                                                        \
                LOAD4(b, bk + 4), s1 += TERM;                                                                    \
                LOAD4(b, bk + 8), s2 += TERM;                                                                    \
                LOAD4(b, bk + 12), s3 += TERM;                                                                   \
            }                                                                                                    \
            memcpy(out + j0, &s0, sizeof s0), memcpy(out + j0 + 4, &s1, sizeof s1);                              \
            memcpy(out + j0 + 8, &s2, sizeof s2), memcpy(out + j0 + 12, &s3, sizeof s3);                         \
        }                                                                                                        \
        SCALAR_SUMS(TERM_SCALAR, hi - j0 + 1)                                                                    \
    } while (0)
#define ABS(v) ((vec)((vlong)(v) & 0x7fffffffffffffffLL))
#else
#define ROW_SUMS(TERM)                                                                                           \
    do {                                                                                                         \
        const Py_ssize_t j0 = lo;                                                                                \
        SCALAR_SUMS(TERM_SCALAR, hi - lo + 1)                                                                    \
    } while (0)
#define ABS(v) fabs(v)
#endif

COST_CLONES static void row_costs(const Problem *p, Py_ssize_t i, Py_ssize_t lo, Py_ssize_t hi, double *out)
{
    const Py_ssize_t m = p->m, d = p->d;
    if (p->kind == PRECOMPUTED) {
        if (p->cost_f32) {
            const float *r = (const float *)p->cost + i * m;
            for (Py_ssize_t j = lo; j <= hi; j++) out[j] = r[j];
        } else {
            memcpy(out + lo, (const double *)p->cost + i * m + lo, (size_t)(hi - lo + 1) * sizeof(double));
        }
        return;
    }
    const double *ai = p->a + i * d, *bt = p->bt;
    if (p->kind == CITYBLOCK) {
#define TERM_SCALAR fabs(x - b)
        ROW_SUMS(ABS(x - b));
#undef TERM_SCALAR
    } else if (p->kind == COSINE) {
#define TERM_SCALAR x * b
        ROW_SUMS(x * b);
#undef TERM_SCALAR
    } else {
#define TERM_SCALAR (x - b) * (x - b)
        ROW_SUMS((x - b) * (x - b));
#undef TERM_SCALAR
    }
    if (p->kind == EUCLIDEAN) {
        for (Py_ssize_t j = lo; j <= hi; j++) out[j] = sqrt(out[j]);
    } else if (p->kind == COSINE) {
        /* a zero-norm frame gives NaN, as in scipy: refused by the caller's finiteness check */
        for (Py_ssize_t j = lo; j <= hi; j++) out[j] = 1.0 - out[j] / (p->na[i] * p->nb[j]);
    }
}

/* Row i into `cur` from `prev` over columns [lo, hi]; decisions into the two packbits rows when given.
 * Returns 0, or -1 when the window's costs are not all finite (their sum, like the numpy sweep's cumsum). */
static int sweep_row(const Problem *p, Py_ssize_t i, Py_ssize_t lo, Py_ssize_t hi, double *c, const Row *prev,
                     Row *cur, uint8_t *left_row, uint8_t *up_row)
{
    double *restrict v = cur->v;
    const double *restrict pv = prev->v;
    row_costs(p, i, lo, hi, c);
    /* clear what `cur` held two rows ago outside the new window: O(window) per row, not O(m) */
    v[0] = INFINITY;
    for (Py_ssize_t k = cur->lo; k <= cur->hi && k < lo; k++) v[k + 1] = INFINITY;
    for (Py_ssize_t k = cur->lo > hi + 1 ? cur->lo : hi + 1; k <= cur->hi; k++) v[k + 1] = INFINITY;
    cur->lo = lo;
    cur->hi = hi;
    double total = 0.0;
    if (p->subsequence && i == 0) { /* free start anywhere in B */
        for (Py_ssize_t j = lo; j <= hi; j++) {
            total += c[j];
            v[j + 1] = c[j];
        }
        return isfinite(total) ? 0 : -1;
    }
    double left = INFINITY;
    unsigned bits_left = 0, bits_up = 0;
    for (Py_ssize_t j = lo; j <= hi; j++) {
        const double cj = c[j], diag = pv[j], up = pv[j + 1];
        total += cj;
        const double e = (diag <= up ? diag : up) + cj;
        const double via_left = left + cj;
        const int from_left = via_left < e; /* strict: on a tie the previous row wins */
        left = from_left ? via_left : e;
        v[j + 1] = left;
        if (left_row) {
            bits_left = (bits_left << 1) | (unsigned)from_left;
            bits_up = (bits_up << 1) | (unsigned)(up < diag); /* strict: on a tie the diagonal wins */
            if ((j & 7) == 7 || j == hi) {
                const int shift = 7 - (int)(j & 7); /* big-endian within a byte, as np.packbits */
                left_row[j >> 3] = (uint8_t)(bits_left << shift);
                up_row[j >> 3] = (uint8_t)(bits_up << shift);
                bits_left = bits_up = 0;
            }
        }
    }
    return isfinite(total) ? 0 : -1;
}

static void init_row(const Problem *p, Row *r, int virtual_start)
{
    for (Py_ssize_t k = 0; k <= p->m; k++) r->v[k] = INFINITY;
    if (virtual_start) r->v[0] = 0.0; /* row 0 of whole-sequence DTW steps "diagonally" from D[-1, -1] = 0 */
    r->lo = 0;
    r->hi = -1;
}

typedef struct {
    double distance;
    Py_ssize_t end, bad, path_len;
    int oom;
} Result;

static Py_ssize_t block_rows(Py_ssize_t n)
{
    Py_ssize_t k = (Py_ssize_t)ceil(sqrt(32.0 * (double)n));
    return k < 1 ? 1 : (k > n ? n : k);
}

/* The whole computation, without the GIL. `path` (2 * (n + m) int64) is NULL for the distance only. */
static void solve(const Problem *p, int64_t *path, Result *res)
{
    const Py_ssize_t n = p->n, m = p->m, K = block_rows(n), nblocks = (n + K - 1) / K, row_bytes = (m + 7) / 8;
    double *buf = malloc(sizeof(double) * (size_t)(3 * (m + 1)));
    double *checkpoints = path ? malloc(sizeof(double) * (size_t)(nblocks * (m + 1))) : NULL;
    uint8_t *planes = path ? malloc((size_t)(2 * K * row_bytes)) : NULL;
    res->oom = !buf || (path && (!checkpoints || !planes));
    res->bad = -1;
    res->path_len = 0;
    if (res->oom) goto done;
    double *c = buf + 2 * (m + 1);
    Row r0 = {buf, 0, -1}, r1 = {buf + (m + 1), 0, -1};
    Row *prev = &r0, *cur = &r1, *tmp;
    init_row(p, prev, !p->subsequence);
    init_row(p, cur, 0);
    for (Py_ssize_t i = 0; i < n; i++) {
        if (path && i % K == 0) memcpy(checkpoints + (i / K) * (m + 1), prev->v, sizeof(double) * (size_t)(m + 1));
        if (sweep_row(p, i, p->lo[i], p->hi[i], c, prev, cur, NULL, NULL)) {
            res->bad = i;
            goto done;
        }
        tmp = prev, prev = cur, cur = tmp;
    }
    Py_ssize_t end = m - 1;
    if (p->subsequence) { /* the first column with the least D[n-1, j] */
        end = prev->lo;
        for (Py_ssize_t j = prev->lo + 1; j <= prev->hi; j++)
            if (prev->v[j + 1] < prev->v[end + 1]) end = j;
    }
    res->distance = prev->v[end + 1];
    res->end = end;
    if (!path) goto done;

    /* backtrack, one block of rows at a time from the last */
    Py_ssize_t i = n - 1, j = end, k = 0;
    path[0] = i, path[1] = j;
    for (Py_ssize_t b = nblocks - 1; b >= 0; b--) {
        const Py_ssize_t first = b * K;
        if (i < first) continue;
        /* recompute rows first..i, columns up to j only */
        memcpy(prev->v, checkpoints + b * (m + 1), sizeof(double) * (size_t)(m + 1));
        prev->lo = first > 0 ? p->lo[first - 1] : 0;
        prev->hi = first > 0 ? p->hi[first - 1] : -1;
        init_row(p, cur, 0);
        for (Py_ssize_t r = first; r <= i; r++) {
            const Py_ssize_t hi = p->hi[r] < j ? p->hi[r] : j;
            uint8_t *left_row = planes + (r - first) * row_bytes;
            sweep_row(p, r, p->lo[r], hi, c, prev, cur, left_row, left_row + K * row_bytes);
            tmp = prev, prev = cur, cur = tmp;
        }
        while (i >= first && (i > 0 || (j > 0 && !p->subsequence))) {
            const uint8_t *left_row = planes + (i - first) * row_bytes, *up_row = left_row + K * row_bytes;
            const int shift = 7 - (int)(j & 7);
            if ((left_row[j >> 3] >> shift) & 1) {
                j--;
            } else if ((up_row[j >> 3] >> shift) & 1) {
                i--;
            } else {
                i--;
                j--;
            }
            k++;
            path[2 * k] = i, path[2 * k + 1] = j;
        }
    }
    res->path_len = k + 1;
    for (Py_ssize_t s = 0, t = k; s < t; s++, t--) { /* first cell first */
        int64_t x = path[2 * s], y = path[2 * s + 1];
        path[2 * s] = path[2 * t], path[2 * s + 1] = path[2 * t + 1];
        path[2 * t] = x, path[2 * t + 1] = y;
    }
done:
    free(buf);
    free(checkpoints);
    free(planes);
}

static int need(const Py_buffer *b, Py_ssize_t items, Py_ssize_t size, const char *name)
{
    if (b->len < items * size) {
        PyErr_Format(PyExc_ValueError, "%s holds %zd bytes, needs %zd", name, b->len, items * size);
        return -1;
    }
    return 0;
}

PyDoc_STRVAR(run_doc,
    "run(kind, a, bt, na, nb, cost, cost_f32, lo, hi, n, m, d, subsequence, path) -> (distance, end, bad, length)\n\n"
    "a: (n, d) float64; bt: (d, m) float64 (b transposed); na, nb: float64 norms (cosine); cost: (n, m) float32\n"
    "or float64 (kind 0); lo, hi: (n,) int64 windows; path: writable (n + m, 2) int64 or None. C-contiguous.\n"
    "bad >= 0 names the first row whose window holds a non-finite cost (nothing else is valid then).");

static PyObject *run(PyObject *self, PyObject *args)
{
    Problem p;
    Py_buffer a, bt, na, nb, cost, lo, hi, out = {0};
    PyObject *path_obj;
    if (!PyArg_ParseTuple(args, "iy*y*y*y*y*iy*y*nnniO", &p.kind, &a, &bt, &na, &nb, &cost, &p.cost_f32, &lo, &hi,
                          &p.n, &p.m, &p.d, &p.subsequence, &path_obj))
        return NULL;
    PyObject *ret = NULL;
    int with_path = path_obj != Py_None;
    if (with_path && PyObject_GetBuffer(path_obj, &out, PyBUF_WRITABLE | PyBUF_C_CONTIGUOUS) < 0) goto release;
    if (p.n < 1 || p.m < 1 || p.kind < PRECOMPUTED || p.kind > CITYBLOCK) {
        PyErr_SetString(PyExc_ValueError, "bad problem size or kind");
        goto release;
    }
    if (need(&lo, p.n, 8, "lo") || need(&hi, p.n, 8, "hi") || (with_path && need(&out, 2 * (p.n + p.m), 8, "path")))
        goto release;
    if (p.kind == PRECOMPUTED ? need(&cost, p.n * p.m, p.cost_f32 ? 4 : 8, "cost")
                              : (need(&a, p.n * p.d, 8, "a") || need(&bt, p.d * p.m, 8, "bt") ||
                                 (p.kind == COSINE && (need(&na, p.n, 8, "na") || need(&nb, p.m, 8, "nb")))))
        goto release;
    p.a = a.buf, p.bt = bt.buf, p.na = na.buf, p.nb = nb.buf, p.cost = cost.buf, p.lo = lo.buf, p.hi = hi.buf;
    for (Py_ssize_t i = 0; i < p.n; i++) { /* the windows index the buffers: check them before trusting them */
        if (p.lo[i] < 0 || p.hi[i] >= p.m || p.lo[i] > p.hi[i] || (i && p.lo[i] < p.lo[i - 1])) {
            PyErr_Format(PyExc_ValueError, "bad window in row %zd", i);
            goto release;
        }
    }
    Result res;
    Py_BEGIN_ALLOW_THREADS
    solve(&p, with_path ? out.buf : NULL, &res);
    Py_END_ALLOW_THREADS
    if (res.oom) {
        PyErr_NoMemory();
        goto release;
    }
    ret = Py_BuildValue("dnnn", res.distance, res.end, res.bad, res.path_len);
release:
    PyBuffer_Release(&a);
    PyBuffer_Release(&bt);
    PyBuffer_Release(&na);
    PyBuffer_Release(&nb);
    PyBuffer_Release(&cost);
    PyBuffer_Release(&lo);
    PyBuffer_Release(&hi);
    if (with_path && out.obj) PyBuffer_Release(&out);
    return ret;
}

static PyMethodDef methods[] = {{"run", run, METH_VARARGS, run_doc}, {NULL, NULL, 0, NULL}};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_dtw", "Compiled DTW sweeps (see _dtw.c).", -1,
                                    methods};

PyMODINIT_FUNC PyInit__dtw(void) { return PyModule_Create(&module); }
