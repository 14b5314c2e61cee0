/* Conv2d as im2col + GEMM, one sample at a time so the scratch stays one sample's size. */
#include <cblas.h>
#include <string.h>

#include "gbfarm/nn.h"

size_t nn_conv2d_col_floats(int c, int h, int w, int k, int s)
{
    size_t oh = (size_t)((h - k) / s + 1), ow = (size_t)((w - k) / s + 1);
    return (size_t)c * k * k * oh * ow;
}

/* col[(ci*k + ki)*k + kj][oy*ow + ox] = in[ci][oy*s + ki][ox*s + kj] */
static void im2col(float *col, const float *in, int c, int h, int w, int k, int s)
{
    int oh = (h - k) / s + 1, ow = (w - k) / s + 1;
    for (int ci = 0; ci < c; ci++)
        for (int ki = 0; ki < k; ki++)
            for (int kj = 0; kj < k; kj++) {
                float *row = col + ((size_t)(ci * k + ki) * k + kj) * oh * ow;
                for (int oy = 0; oy < oh; oy++) {
                    const float *src = in + ((size_t)ci * h + oy * s + ki) * w + kj;
                    for (int ox = 0; ox < ow; ox++) row[oy * ow + ox] = src[ox * s];
                }
            }
}

/* The adjoint of im2col: din += scatter(col). */
static void col2im(float *din, const float *col, int c, int h, int w, int k, int s)
{
    int oh = (h - k) / s + 1, ow = (w - k) / s + 1;
    for (int ci = 0; ci < c; ci++)
        for (int ki = 0; ki < k; ki++)
            for (int kj = 0; kj < k; kj++) {
                const float *row = col + ((size_t)(ci * k + ki) * k + kj) * oh * ow;
                for (int oy = 0; oy < oh; oy++) {
                    float *dst = din + ((size_t)ci * h + oy * s + ki) * w + kj;
                    for (int ox = 0; ox < ow; ox++) dst[ox * s] += row[oy * ow + ox];
                }
            }
}

void nn_conv2d_forward(float *out, float *col, const float *in, const float *w, const float *b,
                       int B, int c, int h, int wd, int oc, int k, int s)
{
    int p = ((h - k) / s + 1) * ((wd - k) / s + 1), ckk = c * k * k;
    for (int i = 0; i < B; i++) {
        float *o = out + (size_t)i * oc * p;
        im2col(col, in + (size_t)i * c * h * wd, c, h, wd, k, s);
        for (int f = 0; f < oc; f++)
            for (int j = 0; j < p; j++) o[(size_t)f * p + j] = b ? b[f] : 0.0f;
        /* out[oc][p] = w[oc][ckk] · col[ckk][p] */
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, oc, p, ckk, 1.0f, w, ckk, col, p,
                    1.0f, o, p);
    }
}

void nn_conv2d_backward(float *din, float *dw, float *db, float *col, const float *dout,
                        const float *in, const float *w, int B, int c, int h, int wd, int oc, int k,
                        int s)
{
    int p = ((h - k) / s + 1) * ((wd - k) / s + 1), ckk = c * k * k;
    for (int i = 0; i < B; i++) {
        const float *d = dout + (size_t)i * oc * p;
        im2col(col, in + (size_t)i * c * h * wd, c, h, wd, k, s);
        /* dw[oc][ckk] += dout[oc][p] · colᵀ */
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, oc, ckk, p, 1.0f, d, p, col, p, 1.0f,
                    dw, ckk);
        if (db)
            for (int f = 0; f < oc; f++) {
                float acc = 0.0f;
                for (int j = 0; j < p; j++) acc += d[(size_t)f * p + j];
                db[f] += acc;
            }
        if (!din) continue;
        /* dcol[ckk][p] = wᵀ · dout, reusing col now that dw is done */
        cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, ckk, p, oc, 1.0f, w, ckk, d, p, 0.0f,
                    col, p);
        float *di = din + (size_t)i * c * h * wd;
        memset(di, 0, sizeof(float) * (size_t)c * h * wd);
        col2im(di, col, c, h, wd, k, s);
    }
}
