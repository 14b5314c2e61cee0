#include <math.h>

#include "gbfarm/nn.h"
#include "vector.h"

NN_VECTOR void nn_relu_forward(float *out, const float *in, size_t n)
{
    for (size_t i = 0; i < n; i++) out[i] = in[i] > 0.0f ? in[i] : 0.0f;
}

NN_VECTOR void nn_relu_backward(float *din, const float *dout, const float *out, size_t n)
{
    for (size_t i = 0; i < n; i++) din[i] = out[i] > 0.0f ? dout[i] : 0.0f;
}

void nn_tanh_forward(float *out, const float *in, size_t n)
{
    for (size_t i = 0; i < n; i++) out[i] = tanhf(in[i]);
}

NN_VECTOR void nn_tanh_backward(float *din, const float *dout, const float *out, size_t n)
{
    for (size_t i = 0; i < n; i++) din[i] = dout[i] * (1.0f - out[i] * out[i]);
}
