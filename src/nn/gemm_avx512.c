/* gemm_kernels.h for AVX-512: 8 rows × 48 columns of c a tile in nn_gemm_taps (24 of the 32
 * registers); 24 sums a tile in nn_gemm_taps_dw (6 × 4 vectors, 8 × 3, 12 × 2, 24 × 1). */
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
#pragma GCC target("avx512f")
#include "gemm.h"
#include "gemm_zmm.h"

#define VSPLAT(x)     _mm512_set1_ps(x)
#define VFMA(a, b, c) _mm512_fmadd_ps(a, b, c)
#define GEMM_TAPS     nn_gemm_taps_avx512
#define GEMM_TAPS_DW  nn_gemm_taps_dw_avx512
#include "gemm_kernels.h"
#endif
