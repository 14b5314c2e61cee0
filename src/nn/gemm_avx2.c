/* gemm_kernels.h for AVX2 + FMA: 4 rows × 24 columns of c a tile in nn_gemm_taps (12 of the
 * 16 registers); 8-12 sums a tile in nn_gemm_taps_dw (2 × 4 vectors, 4 × 3, 6 × 2, 12 × 1). */
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
#pragma GCC target("avx2,fma")
#include <immintrin.h>

#include "gemm.h"

static inline __m256i first_lanes(int n)
{
    return _mm256_cmpgt_epi32(_mm256_set1_epi32(n), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
}

#define V                __m256
#define VW               8
#define VLOAD(p)         _mm256_loadu_ps(p)
#define VSTORE(p, v)     _mm256_storeu_ps(p, v)
#define VLOADN(p, n)     _mm256_maskload_ps(p, first_lanes(n))
#define VSTOREN(p, v, n) _mm256_maskstore_ps(p, first_lanes(n), v)
#define VSPLAT(x)        _mm256_set1_ps(x)
#define VFMA(a, b, c)    _mm256_fmadd_ps(a, b, c)
#define VZERO()          _mm256_setzero_ps()
#define NN_MR            4
#define NN_NV            3
#define GEMM_TAPS        nn_gemm_taps_avx2
#define DW_R4            2
#define DW_R3            4
#define DW_R2            6
#define DW_R1            12
#define GEMM_TAPS_DW     nn_gemm_taps_dw_avx2
#include "gemm_kernels.h"
#endif
