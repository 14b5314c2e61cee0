/* Initialisation, Adam and gradient clipping: each one loop over one flat array. */
#include <math.h>
#include <stdlib.h>

#include "gbfarm/nn.h"
#include "vector.h"

void nn_orthogonal_init(float *w, int rows, int cols, float gain, rng *r)
{
    /* Gram-Schmidt (modified, in double) over the shorter side of a Gaussian matrix: the
     * same distribution as QR with sign correction, which torch's orthogonal_ uses. */
    int n = rows <= cols ? rows : cols, len = rows <= cols ? cols : rows;
    double *q = malloc(sizeof(double) * (size_t)n * len);
    if (!q) abort();
    for (size_t i = 0; i < (size_t)n * len; i++) q[i] = rng_normal(r);
    for (int i = 0; i < n; i++) {
        double *qi = q + (size_t)i * len;
        for (int j = 0; j < i; j++) {
            const double *qj = q + (size_t)j * len;
            double dot = 0.0;
            for (int t = 0; t < len; t++) dot += qi[t] * qj[t];
            for (int t = 0; t < len; t++) qi[t] -= dot * qj[t];
        }
        double norm = 0.0;
        for (int t = 0; t < len; t++) norm += qi[t] * qi[t];
        norm = sqrt(norm);
        for (int t = 0; t < len; t++) qi[t] /= norm > 0.0 ? norm : 1.0;
    }
    for (int i = 0; i < rows; i++)
        for (int j = 0; j < cols; j++) {
            double v = rows <= cols ? q[(size_t)i * len + j] : q[(size_t)j * len + i];
            w[(size_t)i * cols + j] = (float)(gain * v);
        }
    free(q);
}

NN_VECTOR void nn_adam_step(float *p, const float *g, float *m, float *v, size_t n, float lr,
                            float beta1, float beta2, float eps, long t)
{
    /* PyTorch's formulation: eps is added after bias-correcting sqrt(v). */
    float c1 = 1.0f - powf(beta1, (float)t), c2 = 1.0f - powf(beta2, (float)t);
    float step = lr / c1, c2s = sqrtf(c2);
    for (size_t i = 0; i < n; i++) {
        m[i] = beta1 * m[i] + (1.0f - beta1) * g[i];
        v[i] = beta2 * v[i] + (1.0f - beta2) * g[i] * g[i];
        p[i] -= step * m[i] / (sqrtf(v[i]) / c2s + eps);
    }
}

float nn_clip_scale(float norm, float max_norm)
{
    float coef = max_norm / (norm + 1e-6f); /* as torch.nn.utils.clip_grad_norm_ */
    return coef < 1.0f ? coef : 1.0f;
}

/* 16 sums in double, entry i in sum i % 16, added up in order at the end: the same bits on
 * every instruction set, and vectors of doubles where there are any. */
NN_VECTOR double nn_sumsq(const float *g, size_t n)
{
    double lane[16] = {0};
    size_t i = 0;
    for (; i + 16 <= n; i += 16)
        for (int j = 0; j < 16; j++) lane[j] += (double)g[i + j] * g[i + j];
    for (int j = 0; i < n; i++, j++) lane[j] += (double)g[i] * g[i];
    double sum = 0.0;
    for (int j = 0; j < 16; j++) sum += lane[j];
    return sum;
}

float nn_clip_grad_norm(float *g, size_t n, float max_norm)
{
    float norm = (float)sqrt(nn_sumsq(g, n));
    float coef = nn_clip_scale(norm, max_norm);
    if (coef < 1.0f)
        for (size_t i = 0; i < n; i++) g[i] *= coef;
    return norm;
}
