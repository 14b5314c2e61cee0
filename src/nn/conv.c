/* Conv2d as a few GEMMs over the input itself, with no im2col matrix.
 *
 * Space-to-depth by the stride s turns a k×k, stride-s convolution into a q×q, stride-1 one
 * over c·s² channels (q = ceil(k/s); taps past k get zero weights). A chunk of n samples is
 * laid out as X[c·s²][n·hq·wq], hq = oh+q-1 and wq = ow+q-1, and the stride-1 convolution is
 * then q² GEMMs: tap (dy, dx) multiplies its weights Wt[oc][c·s²] with X read from column
 * dy·wq+dx on, adding into Y[oc][n·hq·wq]. Output column (i, y, x) so sums X over (i, y+dy,
 * x+dx); columns with y ≥ oh or x ≥ ow read across rows or samples and are dropped. The GEMMs
 * read an X the size of the input where im2col wrote k²/s² times as much (3.6× for 8×8/4),
 * and the chunk is as many samples as fit a fixed scratch budget: it depends on the shapes
 * alone, so results do not depend on how the scratch was sized. */
#include <stdbool.h>
#include <string.h>

#include "gbfarm/nn.h"
#include "vector.h"

enum { CHUNK_FLOATS = 1 << 20 }; /* 4 MB: a chunk's X, Y (and dX) */

typedef struct geom {
    int oh, ow, q, hq, wq, cs; /* cs = c·s²: X's rows */
    size_t cols, pad, taps;    /* columns a sample; X's overreach past the last; q²·oc·cs */
} geom;

static geom geom_of(int c, int h, int w, int oc, int k, int s)
{
    geom g = {.oh = (h - k) / s + 1, .ow = (w - k) / s + 1, .q = (k + s - 1) / s, .cs = c * s * s};
    g.hq = g.oh + g.q - 1, g.wq = g.ow + g.q - 1;
    g.cols = (size_t)g.hq * g.wq;
    g.pad = (size_t)(g.q - 1) * (g.wq + 1);
    g.taps = (size_t)g.q * g.q * oc * g.cs;
    return g;
}

/* A chunk of n samples needs X and dX [cs][n·cols + pad] and Y [oc][n·cols]. */
static size_t chunk_floats(geom g, int oc, int n)
{
    size_t ld = (size_t)n * g.cols + g.pad;
    return 2 * (size_t)g.cs * ld + (size_t)oc * n * g.cols;
}

static int chunk_of(geom g, int oc, int B)
{
    int n = 1;
    while (n < B && chunk_floats(g, oc, n + 1) <= CHUNK_FLOATS) n++;
    return n;
}

size_t nn_conv2d_scratch_floats(int c, int h, int w, int oc, int k, int s, int B)
{
    geom g = geom_of(c, h, w, oc, k, s);
    return 2 * g.taps + chunk_floats(g, oc, chunk_of(g, oc, B));
}

/* Where weight (f, ci, ky, kx) sits among the taps: Wt[dy·q+dx][f][(ci·s+sy)·s+sx] with
 * ky = dy·s+sy, kx = dx·s+sx, i.e. at at[ky·k+kx] + f·cs + ci·s². */
static void tap_offsets(size_t *at, int oc, int k, int s, geom g)
{
    for (int ky = 0; ky < k; ky++)
        for (int kx = 0; kx < k; kx++)
            at[ky * k + kx] = (size_t)((ky / s) * g.q + kx / s) * oc * g.cs + (ky % s) * s + kx % s;
}

/* Wt from w, read in order; taps past the kernel (k not a multiple of s) stay 0. */
static void tap_weights(float *wt, const float *w, int c, int oc, int k, int s, geom g)
{
    size_t at[256]; /* k ≤ 16 */
    tap_offsets(at, oc, k, s, g);
    if (k % s) memset(wt, 0, sizeof(float) * g.taps);
    for (int f = 0; f < oc; f++)
        for (int ci = 0; ci < c; ci++) {
            float *to = wt + (size_t)f * g.cs + (size_t)ci * s * s;
            for (int kk = 0; kk < k * k; kk++) to[at[kk]] = *w++;
        }
}

/* The adjoint: dw[f][ci][ky][kx] += dWt at the same place; taps past the kernel drop out. */
static void add_tap_grads(float *dw, const float *dwt, int c, int oc, int k, int s, geom g)
{
    size_t at[256];
    tap_offsets(at, oc, k, s, g);
    for (int f = 0; f < oc; f++)
        for (int ci = 0; ci < c; ci++) {
            const float *from = dwt + (size_t)f * g.cs + (size_t)ci * s * s;
            for (int kk = 0; kk < k * k; kk++) *dw++ += from[at[kk]];
        }
}

/* x[j] = img[j·s] (to_x), or back: img[j·s] = x[j]. */
static inline void strided(float *x, float *img, int s, int n, bool to_x)
{
    if (to_x)
        for (int j = 0; j < n; j++) x[j] = img[j * s];
    else
        for (int j = 0; j < n; j++) img[j * s] = x[j];
}

/* The same, with s a constant in each case so that the loops vectorise. */
static inline void strided_row(float *x, float *img, int s, int n, bool to_x)
{
    switch (s) {
    case 1:
        strided(x, img, 1, n, to_x);
        break;
    case 2:
        strided(x, img, 2, n, to_x);
        break;
    case 4:
        strided(x, img, 4, n, to_x);
        break;
    default:
        strided(x, img, s, n, to_x);
    }
}

/* Space-to-depth puts pixel (i, ci, y, x) of a chunk at X[(ci·s + y%s)·s + x%s][i·cols +
 * (y/s)·wq + x/s]. to_x: X = the pixels, 0 where none lands (past the image, the pad);
 * otherwise its adjoint, img = X's entries, where img was zeroed for the pixels X lacks. */
NN_VECTOR static void space_to_depth(float *x, size_t ld, float *img, int n, int c, int h, int w,
                                     int s, geom g, int to_x)
{
    for (int ci = 0; ci < c; ci++)
        for (int sy = 0; sy < s; sy++)
            for (int sx = 0; sx < s; sx++) {
                float *row = x + ((size_t)(ci * s + sy) * s + sx) * ld;
                int xn = (w - sx + s - 1) / s; /* columns xq with xq·s+sx < w */
                if (xn > g.wq) xn = g.wq;
                for (int i = 0; i < n; i++)
                    for (int yq = 0; yq < g.hq; yq++, row += g.wq) {
                        int y = yq * s + sy, got = y < h ? xn : 0; /* columns with a pixel */
                        if (got)
                            strided_row(row, img + (((size_t)i * c + ci) * h + y) * w + sx, s, got,
                                        to_x);
                        if (to_x) memset(row + got, 0, sizeof(float) * (g.wq - got));
                    }
                if (to_x) memset(row, 0, sizeof(float) * g.pad);
            }
}

void nn_conv2d_forward(float *out, float *scratch, const float *in, const float *w, const float *b,
                       int B, int c, int h, int wd, int oc, int k, int s)
{
    geom g = geom_of(c, h, wd, oc, k, s);
    int cb = chunk_of(g, oc, B);
    size_t in_n = (size_t)c * h * wd, out_n = (size_t)oc * g.oh * g.ow;
    float *wt = scratch, *x = wt + 2 * g.taps;
    tap_weights(wt, w, c, oc, k, s, g);
    for (int i0 = 0; i0 < B; i0 += cb) {
        int n = B - i0 < cb ? B - i0 : cb;
        size_t cols = (size_t)n * g.cols, ld = cols + g.pad;
        float *y = x + (size_t)g.cs * ld;
        space_to_depth(x, ld, (float *)(in + i0 * in_n), n, c, h, wd, s, g, 1);
        for (int t = 0; t < g.q * g.q; t++) {
            size_t off = (size_t)(t / g.q) * g.wq + t % g.q;
            nn_sgemm(0, 0, oc, (int)cols, g.cs, 1.0f, wt + t * (g.taps / (g.q * g.q)), g.cs,
                     x + off, (int)ld, t ? 1.0f : 0.0f, y, (int)cols);
        }
        /* out[i][f][oy][ox] = y[f][i·cols + oy·wq + ox] + b[f] */
        for (int i = 0; i < n; i++)
            for (int f = 0; f < oc; f++) {
                float *o = out + (i0 + i) * out_n + (size_t)f * g.oh * g.ow, bf = b ? b[f] : 0.0f;
                const float *src = y + (size_t)f * cols + (size_t)i * g.cols;
                for (int oy = 0; oy < g.oh; oy++, o += g.ow, src += g.wq)
                    for (int ox = 0; ox < g.ow; ox++) o[ox] = src[ox] + bf;
            }
    }
}

void nn_conv2d_backward(float *din, float *dw, float *db, float *scratch, const float *dout,
                        const float *in, const float *w, int B, int c, int h, int wd, int oc, int k,
                        int s)
{
    geom g = geom_of(c, h, wd, oc, k, s);
    int cb = chunk_of(g, oc, B);
    size_t in_n = (size_t)c * h * wd, out_n = (size_t)oc * g.oh * g.ow,
           per_tap = g.taps / (g.q * g.q);
    float *wt = scratch, *dwt = wt + g.taps, *x = dwt + g.taps;
    tap_weights(wt, w, c, oc, k, s, g);
    memset(dwt, 0, sizeof(float) * g.taps);
    for (int i0 = 0; i0 < B; i0 += cb) {
        int n = B - i0 < cb ? B - i0 : cb;
        size_t cols = (size_t)n * g.cols, ld = cols + g.pad;
        float *dx = x + (size_t)g.cs * ld, *dy = dx + (size_t)g.cs * ld;
        /* dy[f][i·cols + oy·wq + ox] = dout[i][f][oy][ox], 0 in the dropped columns */
        memset(dy, 0, sizeof(float) * oc * cols);
        for (int i = 0; i < n; i++)
            for (int f = 0; f < oc; f++) {
                const float *src = dout + (i0 + i) * out_n + (size_t)f * g.oh * g.ow;
                float *d = dy + (size_t)f * cols + (size_t)i * g.cols;
                for (int oy = 0; oy < g.oh; oy++, src += g.ow, d += g.wq)
                    memcpy(d, src, sizeof(float) * g.ow);
            }
        if (db)
            for (int f = 0; f < oc; f++) {
                float acc = 0.0f;
                for (size_t j = 0; j < cols; j++) acc += dy[(size_t)f * cols + j];
                db[f] += acc;
            }
        space_to_depth(x, ld, (float *)(in + i0 * in_n), n, c, h, wd, s, g, 1);
        if (din) memset(dx, 0, sizeof(float) * g.cs * ld);
        for (int t = 0; t < g.q * g.q; t++) {
            size_t off = (size_t)(t / g.q) * g.wq + t % g.q;
            /* dWt[t][oc][cs] += dy · X[:, off:]ᵀ;  dX[:, off:] += Wt[t]ᵀ · dy */
            nn_sgemm(0, 1, oc, g.cs, (int)cols, 1.0f, dy, (int)cols, x + off, (int)ld, 1.0f,
                     dwt + t * per_tap, g.cs);
            if (din)
                nn_sgemm(1, 0, g.cs, (int)cols, oc, 1.0f, wt + t * per_tap, g.cs, dy, (int)cols,
                         1.0f, dx + off, (int)ld);
        }
        if (din) {
            memset(din + i0 * in_n, 0, sizeof(float) * n * in_n);
            space_to_depth(dx, ld, din + i0 * in_n, n, c, h, wd, s, g, 0);
        }
    }
    add_tap_grads(dw, dwt, c, oc, k, s, g);
}
