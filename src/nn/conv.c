/* Conv2d as im2col + GEMM over chunks of samples: one GEMM per chunk rather than per sample,
 * so conv1's 16 filters meet thousands of columns at once. The chunk is as many samples as
 * fit a fixed scratch budget; it depends on the shapes alone, so results do not depend on
 * how the scratch was sized. */
#include <string.h>

#include "gbfarm/nn.h"

enum { CHUNK_FLOATS = 1 << 20 }; /* 4 MB: a chunk's im2col matrix and GEMM output */

typedef struct geom {
    int oh, ow, p, ckk;
} geom;

static geom geom_of(int c, int h, int w, int k, int s)
{
    geom g = {(h - k) / s + 1, (w - k) / s + 1, 0, c * k * k};
    g.p = g.oh * g.ow;
    return g;
}

static int chunk_of(geom g, int oc, int B)
{
    size_t per = (size_t)(g.ckk + oc) * g.p, n = CHUNK_FLOATS / per;
    return n < 1 ? 1 : n > (size_t)B ? B : (int)n;
}

size_t nn_conv2d_scratch_floats(int c, int h, int w, int oc, int k, int s, int B)
{
    geom g = geom_of(c, h, w, k, s);
    return (size_t)chunk_of(g, oc, B) * (g.ckk + oc) * g.p;
}

/* Sample i of a chunk fills columns [i*p, (i+1)*p) of col, whose rows are ld floats apart:
 * col[(ci*k + ki)*k + kj][i*p + oy*ow + ox] = in[ci][oy*s + ki][ox*s + kj]. */
static void im2col(float *col, size_t ld, const float *in, int c, int h, int w, int k, int s,
                   geom g)
{
    for (int ci = 0; ci < c; ci++)
        for (int ki = 0; ki < k; ki++)
            for (int kj = 0; kj < k; kj++) {
                float *row = col + ((size_t)(ci * k + ki) * k + kj) * ld;
                for (int oy = 0; oy < g.oh; oy++) {
                    const float *src = in + ((size_t)ci * h + oy * s + ki) * w + kj;
                    float *dst = row + (size_t)oy * g.ow;
                    for (int ox = 0; ox < g.ow; ox++) dst[ox] = src[ox * s];
                }
            }
}

/* The im2col matrix of n consecutive samples: [ckk][n*p], sample i in columns [i*p, (i+1)*p). */
static void chunk_im2col(float *col, const float *in, int n, int c, int h, int w, int k, int s,
                         geom g)
{
    size_t ld = (size_t)n * g.p, in_n = (size_t)c * h * w;
    for (int i = 0; i < n; i++) im2col(col + (size_t)i * g.p, ld, in + i * in_n, c, h, w, k, s, g);
}

/* The adjoint of im2col: din += scatter(col). */
static void col2im(float *din, const float *col, size_t ld, int c, int h, int w, int k, int s,
                   geom g)
{
    for (int ci = 0; ci < c; ci++)
        for (int ki = 0; ki < k; ki++)
            for (int kj = 0; kj < k; kj++) {
                const float *row = col + ((size_t)(ci * k + ki) * k + kj) * ld;
                for (int oy = 0; oy < g.oh; oy++) {
                    float *dst = din + ((size_t)ci * h + oy * s + ki) * w + kj;
                    const float *src = row + (size_t)oy * g.ow;
                    for (int ox = 0; ox < g.ow; ox++) dst[ox * s] += src[ox];
                }
            }
}

void nn_conv2d_forward(float *out, float *scratch, const float *in, const float *w, const float *b,
                       int B, int c, int h, int wd, int oc, int k, int s)
{
    geom g = geom_of(c, h, wd, k, s);
    int cb = chunk_of(g, oc, B);
    size_t in_n = (size_t)c * h * wd, out_n = (size_t)oc * g.p;
    for (int i0 = 0; i0 < B; i0 += cb) {
        int n = B - i0 < cb ? B - i0 : cb;
        size_t ld = (size_t)n * g.p;
        float *col = scratch, *y = scratch + (size_t)g.ckk * ld;
        chunk_im2col(col, in + i0 * in_n, n, c, h, wd, k, s, g);
        /* y[oc][n*p] = w[oc][ckk] · col[ckk][n*p], then out[i][f][·] = y[f][i*p + ·] + b[f] */
        nn_sgemm(0, 0, oc, (int)ld, g.ckk, 1.0f, w, g.ckk, col, (int)ld, 0.0f, y, (int)ld);
        for (int i = 0; i < n; i++)
            for (int f = 0; f < oc; f++) {
                float *o = out + (i0 + i) * out_n + (size_t)f * g.p, bf = b ? b[f] : 0.0f;
                const float *src = y + (size_t)f * ld + (size_t)i * g.p;
                for (int j = 0; j < g.p; j++) o[j] = src[j] + bf;
            }
    }
}

void nn_conv2d_backward(float *din, float *dw, float *db, float *scratch, const float *dout,
                        const float *in, const float *w, int B, int c, int h, int wd, int oc, int k,
                        int s)
{
    geom g = geom_of(c, h, wd, k, s);
    int cb = chunk_of(g, oc, B);
    size_t in_n = (size_t)c * h * wd, out_n = (size_t)oc * g.p;
    for (int i0 = 0; i0 < B; i0 += cb) {
        int n = B - i0 < cb ? B - i0 : cb;
        size_t ld = (size_t)n * g.p;
        float *col = scratch, *dy = scratch + (size_t)g.ckk * ld;
        /* dy[f][i*p + ·] = dout[i][f][·]: the chunk's output gradient as one matrix */
        for (int i = 0; i < n; i++)
            for (int f = 0; f < oc; f++)
                memcpy(dy + (size_t)f * ld + (size_t)i * g.p,
                       dout + (i0 + i) * out_n + (size_t)f * g.p, sizeof(float) * g.p);
        if (db)
            for (int f = 0; f < oc; f++) {
                float acc = 0.0f;
                for (size_t j = 0; j < ld; j++) acc += dy[(size_t)f * ld + j];
                db[f] += acc;
            }
        chunk_im2col(col, in + i0 * in_n, n, c, h, wd, k, s, g);
        /* dw[oc][ckk] += dy[oc][n*p] · colᵀ */
        nn_sgemm(0, 1, oc, g.ckk, (int)ld, 1.0f, dy, (int)ld, col, (int)ld, 1.0f, dw, g.ckk);
        if (!din) continue;
        /* dcol[ckk][n*p] = wᵀ · dy, reusing col now that dw is done */
        nn_sgemm(1, 0, g.ckk, (int)ld, oc, 1.0f, w, g.ckk, dy, (int)ld, 0.0f, col, (int)ld);
        float *di = din + i0 * in_n;
        memset(di, 0, sizeof(float) * n * in_n);
        for (int i = 0; i < n; i++)
            col2im(di + i * in_n, col + (size_t)i * g.p, ld, c, h, wd, k, s, g);
    }
}
