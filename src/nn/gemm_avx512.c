/* gemm_kernels.h for AVX-512: 8 rows × 48 columns of c a tile in nn_gemm_taps (24 of the 32
 * registers); 24 sums a tile in nn_gemm_taps_dw (6 × 4 vectors, 8 × 3, 12 × 2, 24 × 1). */
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
#pragma GCC target("avx512f")
#include <immintrin.h>

#include "gemm.h"

#define V                __m512
#define VW               16
#define VLOAD(p)         _mm512_loadu_ps(p)
#define VSTORE(p, v)     _mm512_storeu_ps(p, v)
#define VLOADN(p, n)     _mm512_maskz_loadu_ps((__mmask16)((1u << (n)) - 1), p)
#define VSTOREN(p, v, n) _mm512_mask_storeu_ps(p, (__mmask16)((1u << (n)) - 1), v)
#define VSPLAT(x)        _mm512_set1_ps(x)
#define VFMA(a, b, c)    _mm512_fmadd_ps(a, b, c)
#define VZERO()          _mm512_setzero_ps()
#define VSUM(v)          _mm512_reduce_add_ps(v)
#define NN_MR            8
#define NN_NV            3
#define GEMM_TAPS        nn_gemm_taps_avx512
#define DW_R4            6
#define DW_R3            8
#define DW_R2            12
#define DW_R1            24
#define GEMM_TAPS_DW     nn_gemm_taps_dw_avx512
#include "gemm_kernels.h"
#endif
