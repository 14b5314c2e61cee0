/* gemm_kernels.h for AVX-512: 8 rows × 48 columns of c a tile in nn_gemm_taps (24 of the 32
 * registers), 4 × 6 entries in nn_gemm_taps_nt. */
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
#define NT_MR            4
#define NT_NR            6
#define GEMM_TAPS        nn_gemm_taps_avx512
#define GEMM_TAPS_NT     nn_gemm_taps_nt_avx512
#include "gemm_kernels.h"
#endif
