/* Neural-network building blocks with hand-written backward passes, llm.c style.
 *
 * Each layer is a forward/backward pair of plain functions over raw float arrays with the
 * dimensions spelled out. Activations are batch-major: [B][features], or [B][C][H][W] for
 * convolutions. Flatten needs no function: [B][C][H][W] is already [B][C*H*W] in memory.
 * Backward passes ACCUMULATE into parameter gradients (dw, db: +=) and OVERWRITE input
 * gradients (din: =); din may be NULL when the input needs no gradient (the first layer).
 * Weights use PyTorch's layouts: Linear [out][in], Conv2d [oc][c][k][k]. */
#ifndef GBFARM_NN_H
#define GBFARM_NN_H

#include <stddef.h>
#include <stdint.h>

#include "gbfarm/error.h"
#include "gbfarm/rng.h"

/* out[B][out_dim] = in[B][in_dim] · wᵀ + b. */
void nn_linear_forward(float *out, const float *in, const float *w, const float *b, int B,
                       int in_dim, int out_dim);
void nn_linear_backward(float *din, float *dw, float *db, const float *dout, const float *in,
                        const float *w, int B, int in_dim, int out_dim);

/* Valid (unpadded) convolution with a square k×k kernel and stride s:
 * in [B][c][h][w] -> out [B][oc][oh][ow], oh = (h-k)/s+1, ow = (w-k)/s+1, k ≤ 16.
 * scratch holds nn_conv2d_scratch_floats() floats for batches of up to B samples: the
 * weights by tap, the space-to-depth input and the output of as many samples as fit a 4 MB
 * budget, and a row of the image (src/nn/conv.c). */
size_t nn_conv2d_scratch_floats(int c, int h, int w, int oc, int k, int s, int B);
/* keep, when not NULL, holds nn_conv2d_keep_floats() floats for batches of up to B samples:
 * the forward leaves its space-to-depth input there, and the backward of the same batch reads
 * it instead of building it again from in (which it then does not read). */
size_t nn_conv2d_keep_floats(int c, int h, int w, int oc, int k, int s, int B);
/* The weights as the forward multiplies by them, one block a tap (nn_conv2d_tap_floats()
 * floats): made once where they stay fixed across many forwards (a rollout's), and passed as
 * the forward's taps; with taps NULL the forward makes them in scratch each call. */
size_t nn_conv2d_tap_floats(int c, int oc, int k, int s);
void nn_conv2d_taps(float *taps, const float *w, int c, int oc, int k, int s);
void nn_conv2d_forward(float *out, float *scratch, float *keep, const float *in, const float *w,
                       const float *taps, const float *b, int B, int c, int h, int wd, int oc,
                       int k, int s);
/* The same on bytes: sample i's image is in + i·stride, each value times scale. */
void nn_conv2d_forward_u8(float *out, float *scratch, float *keep, const uint8_t *in, size_t stride,
                          float scale, const float *w, const float *taps, const float *b, int B,
                          int c, int h, int wd, int oc, int k, int s);
void nn_conv2d_backward(float *din, float *dw, float *db, float *scratch, const float *dout,
                        const float *keep, const float *in, const float *w, int B, int c, int h,
                        int wd, int oc, int k, int s);

/* Elementwise; backward uses the forward's output, so in-place forward is fine. */
void nn_relu_forward(float *out, const float *in, size_t n);
void nn_relu_backward(float *din, const float *dout, const float *out, size_t n);
void nn_tanh_forward(float *out, const float *in, size_t n);
void nn_tanh_backward(float *din, const float *dout, const float *out, size_t n);

/* Orthogonal initialisation (as torch.nn.init.orthogonal_): w [rows][cols] gets orthonormal
 * rows (rows <= cols) or columns (rows > cols), scaled by gain. */
void nn_orthogonal_init(float *w, int rows, int cols, float gain, rng *r);

/* Adam with bias correction; t is the 1-based step count. Updates p, m, v in place. */
void nn_adam_step(float *p, const float *g, float *m, float *v, size_t n, float lr, float beta1,
                  float beta2, float eps, long t);
/* The factor (≤ 1) that brings a gradient of L2 norm `norm` to at most max_norm. */
float nn_clip_scale(float norm, float max_norm);
/* Σ g[i]², in double. */
double nn_sumsq(const float *g, size_t n);
/* Scales g so that its global L2 norm is at most max_norm; returns the norm before clipping. */
float nn_clip_grad_norm(float *g, size_t n, float max_norm);

/* The BLAS (OpenBLAS, loaded at first use): gbfarm chooses its kernels from cpuid, sets
 * OPENBLAS_CORETYPE, then loads it (GBFARM_BLAS_CORETYPE=NAME forces a kernel set).
 * nn_blas_init loads it now and says why it cannot; the other functions load it on first use
 * and end the process with that message if it cannot be loaded. */
gb_error *nn_blas_init(void);
/* The kernels in use, as a line for logs: "OpenBLAS SkylakeX (from the CPU: avx512f, ...)". */
const char *nn_blas_kernels(void);
int nn_blas_generic(void); /* 1 when the kernels in use are pre-AVX2 ones */
/* Row-major c[m][n] = alpha · op(a) · op(b) + beta · c, op = transpose where trans_* is set. */
void nn_sgemm(int trans_a, int trans_b, int m, int n, int k, float alpha, const float *a, int lda,
              const float *b, int ldb, float beta, float *c, int ldc);
/* y[m] = alpha · a[m][n] · x + beta · y. */
void nn_sgemv(int m, int n, float alpha, const float *a, int lda, const float *x, float beta,
              float *y);
/* to[x][f] = from[f][x] for f < fn and x < xn, rows ldt and ldf floats apart (conv.c). */
void nn_transpose(float *to, size_t ldt, const float *from, size_t ldf, int fn, int xn);
/* y[o] += Σ_j x[j]·at[j][o] over the n rows of at[n][m] whose x[j] is not 0, in the order of j
 * (linear.c): the transposed batch-1 linear layer of a pinned work. */
void nn_gemv_t_sparse(int n, int m, const float *restrict at, const float *restrict x,
                      float *restrict y);

/* The convolutions' GEMMs (src/nn/gemm.c), without packing. One dimension is small (16-64
 * output channels, or 48-576 rows of space-to-depth input), the other long (a chunk's
 * n·hq·wq columns); both operands are read in place, row by row. A register tile of c holds
 * its sums over all taps and all of K (nn_gemm_taps_dw: one tap and a fixed block of K), so
 * c is written once (once a block). Each entry of c is a fixed sequence of fused
 * multiply-adds, so results do not depend on threads or chunking. The kernels are
 * chosen by cpuid: AVX-512, AVX2 + FMA, or SSE2. */
/* c[m][n] = Σ_t Σ_k a[t][m][k] · b[k][n + off[t]] (+ c[m][n] when accumulate), for m < M,
 * n < N; a's taps are a_tap floats apart, its rows lda. With one tap and off 0, a GEMM. */
void nn_gemm_taps(int M, int N, int K, int taps, const float *a, size_t a_tap, int lda,
                  const float *b, int ldb, const ptrdiff_t *off, int accumulate, float *c, int ldc);

/* c[t][m][n] += Σ_k a[m][k + off[t]] · b[k][n], k < K: for each tap, a GEMM along the long
 * dimension K with a's rows read from the tap's offset on; c's taps are c_tap floats apart.
 * a's entries are broadcast against whole rows of b, so no sum crosses vector lanes. */
void nn_gemm_taps_dw(int M, int N, int K, int taps, const float *a, int lda, const float *b,
                     int ldb, const ptrdiff_t *off, float *c, size_t c_tap, int ldc);

/* The same two on bf16 numbers (a CPU with AVX512_BF16; nn_bf16_supported()): products of
 * bf16 numbers summed in floats, twice the float kernels' speed. K counts pairs: b's rows
 * hold pairs (b[k][n] = the bf16 numbers 2k and 2k+1 of column n, the first in the low half),
 * a's rows bf16 numbers, two a pair (a[m][2k], a[m][2k+1]); a_tap, lda and nn_gemm_taps_dw's
 * off count a's bf16 numbers, nn_gemm_taps's off b's pairs. */
void nn_gemm_taps_bf16(int M, int N, int K, int taps, const uint16_t *a, size_t a_tap, int lda,
                       const uint32_t *b, int ldb, const ptrdiff_t *off, int accumulate, float *c,
                       int ldc);
void nn_gemm_taps_dw_bf16(int M, int N, int K, int taps, const uint16_t *a, int lda,
                          const uint32_t *b, int ldb, const ptrdiff_t *off, float *c, size_t c_tap,
                          int ldc);
/* y[m] += a[m]·x, m < M, over K2 pairs of bf16 numbers: a's rows lda numbers apart, x 2·K2
 * numbers (a batch-1 linear layer: the rollout's forward pass). */
void nn_gemv_bf16(int M, int K2, const uint16_t *a, size_t lda, const uint16_t *x, float *y);
/* Floats to bf16, rounded to nearest even: a row, or two rows as pairs (hi NULL: zeros). */
void nn_bf16_row(uint16_t *to, const float *x, size_t n);
void nn_bf16_pairs(uint32_t *to, const float *lo, const float *hi, size_t n);
/* rows float rows of cols as bf16 rows of cols rounded up to pairs (a 0 past odd ones). */
void nn_bf16_rows(uint16_t *to, const float *x, size_t rows, size_t cols);
float nn_bf16_float(uint16_t h);

/* Whether the convolutions multiply in bf16 (sums stay float): off unless nn_set_bf16(1) on
 * a CPU that has AVX512_BF16 (it returns -1 elsewhere). For the whole process, like the
 * kernels' choice; the update and the rollouts of one run use the same. */
int nn_bf16_supported(void);
int nn_set_bf16(int on);
int nn_bf16(void);

/* The kernels nn_gemm_* use: "avx512", "avx2" or "sse2", chosen from the CPU's features. */
const char *nn_gemm_isa(void);
/* Uses the named kernels from now on (tests compare them); 0 if this CPU lacks them. */
int nn_gemm_select(const char *isa);

/* BLAS threads for the calling process: env threads run single-threaded kernels, the update
 * may use every core while the env threads are parked. */
void nn_set_threads(int n);
int nn_cpu_count(void);

#endif
