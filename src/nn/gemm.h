/* The sets of kernels behind nn_gemm_taps and nn_gemm_taps_dw (gbfarm/nn.h), one per
 * instruction set: gemm_avx512.c and gemm_avx2.c (x86-64 with GCC), gemm.c's SSE2 one. */
#ifndef GBFARM_NN_GEMM_H
#define GBFARM_NN_GEMM_H

#include <stddef.h>

#define GEMM_SET(isa)                                                                              \
    void nn_gemm_taps_##isa(int M, int N, int K, int taps, const float *a, size_t a_tap, int lda,  \
                            const float *b, int ldb, const ptrdiff_t *off, int accumulate,         \
                            float *c, int ldc);                                                    \
    void nn_gemm_taps_dw_##isa(int M, int N, int K, int taps, const float *a, int lda,             \
                               const float *b, int ldb, const ptrdiff_t *off, float *c,            \
                               size_t c_tap, int ldc);
GEMM_SET(avx512)
GEMM_SET(avx2)
GEMM_SET(sse2)
#undef GEMM_SET

#include <stdint.h>
void nn_gemm_taps_bf16_avx512(int M, int N, int K, int taps, const uint16_t *a, size_t a_tap,
                              int lda, const uint32_t *b, int ldb, const ptrdiff_t *off,
                              int accumulate, float *c, int ldc);
void nn_gemm_taps_dw_bf16_avx512(int M, int N, int K, int taps, const uint16_t *a, int lda,
                                 const uint32_t *b, int ldb, const ptrdiff_t *off, float *c,
                                 size_t c_tap, int ldc);
void nn_gemv_bf16_avx512(int M, int K2, const uint16_t *a, size_t lda, const uint16_t *x, float *y);

/* nn_gemm_taps_dw's block of K: b's rows for it stay in L1/L2 across the taps. */
enum { DW_KB = 256 };

#endif
