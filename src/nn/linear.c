#include "gbfarm/nn.h"
#include "vector.h"

void nn_linear_forward(float *out, const float *in, const float *w, const float *b, int B,
                       int in_dim, int out_dim)
{
    for (int i = 0; i < B; i++)
        for (int o = 0; o < out_dim; o++) out[(size_t)i * out_dim + o] = b ? b[o] : 0.0f;
    /* Batch 1 is the per-step forward on env threads: a matrix-vector product. */
    if (B == 1)
        nn_sgemv(out_dim, in_dim, 1.0f, w, in_dim, in, 1.0f, out);
    else
        nn_sgemm(0, 1, B, out_dim, in_dim, 1.0f, in, in_dim, w, in_dim, 1.0f, out, out_dim);
}

void nn_linear_backward(float *din, float *dw, float *db, const float *dout, const float *in,
                        const float *w, int B, int in_dim, int out_dim)
{
    /* dw[out][in] += doutᵀ · in */
    nn_sgemm(1, 0, out_dim, in_dim, B, 1.0f, dout, out_dim, in, in_dim, 1.0f, dw, in_dim);
    if (db)
        for (int i = 0; i < B; i++)
            for (int o = 0; o < out_dim; o++) db[o] += dout[(size_t)i * out_dim + o];
    /* din[B][in] = dout · w */
    if (din) nn_sgemm(0, 0, B, in_dim, out_dim, 1.0f, dout, out_dim, w, in_dim, 0.0f, din, in_dim);
}

/* Row j of at scaled by x[j] and added into y, for the j in order where x[j] is not 0: a
 * batch-1 linear layer whose input is mostly ReLU's zeros reads only the other rows. Each
 * y[o] is summed in the order of j alone, so every instruction set gives the same bits. */
NN_VECTOR void nn_gemv_t_sparse(int n, int m, const float *restrict at, const float *restrict x,
                                float *restrict y)
{
    for (int j = 0; j < n; j++) {
        float v = x[j];
        if (v == 0.0f) continue;
        const float *r = at + (size_t)j * m;
        for (int o = 0; o < m; o++) y[o] += v * r[o];
    }
}
