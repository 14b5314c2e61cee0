/* The sets of kernels behind nn_gemm_taps and nn_gemm_taps_nt (gbfarm/nn.h), one per
 * instruction set: gemm_avx512.c and gemm_avx2.c (x86-64 with GCC), gemm.c's SSE2 one. */
#ifndef GBFARM_NN_GEMM_H
#define GBFARM_NN_GEMM_H

#include <stddef.h>

#define GEMM_SET(isa)                                                                              \
    void nn_gemm_taps_##isa(int M, int N, int K, int taps, const float *a, size_t a_tap, int lda,  \
                            const float *b, int ldb, const ptrdiff_t *off, int accumulate,         \
                            float *c, int ldc);                                                    \
    void nn_gemm_taps_nt_##isa(int M, int N, int K, int taps, const float *a, int lda,             \
                               const ptrdiff_t *off, const float *b, int ldb, float *c,            \
                               size_t c_tap, int ldc);
GEMM_SET(avx512)
GEMM_SET(avx2)
GEMM_SET(sse2)
#undef GEMM_SET

/* gemm_kernels.h's block of K in nn_gemm_taps_nt: a tile's rows stay in L1 across it. */
enum { NT_KB = 1024 };

#endif
