/* The float side of gemm_kernels.h on 512-bit registers (AVX-512F), shared by the float
 * kernels (gemm_avx512.c) and the bf16 ones (gemm_bf16.c), whose sums are floats too. */
#ifndef GBFARM_NN_GEMM_ZMM_H
#define GBFARM_NN_GEMM_ZMM_H

#include <immintrin.h>

#define V                __m512
#define VW               16
#define VLOAD(p)         _mm512_loadu_ps(p)
#define VSTORE(p, v)     _mm512_storeu_ps(p, v)
#define VLOADN(p, n)     _mm512_maskz_loadu_ps((__mmask16)((1u << (n)) - 1), p)
#define VSTOREN(p, v, n) _mm512_mask_storeu_ps(p, (__mmask16)((1u << (n)) - 1), v)
#define VZERO()          _mm512_setzero_ps()
/* Tiles: 8 rows × 3 vectors in nn_gemm_taps (24 of the 32 registers), 24 sums in
 * nn_gemm_taps_dw. */
#define NN_MR 8
#define NN_NV 3
#define DW_R4 6
#define DW_R3 8
#define DW_R2 12
#define DW_R1 24

#endif
