/* gemm_kernels.h on bf16 pairs with AVX512_BF16: each 32-bit element of a and b holds two
 * bf16 numbers that follow each other along the sum (K), and one vdpbf16ps adds both
 * products to a float sum; twice the float kernels' multiplies an instruction. a's rows are
 * bf16 numbers (uint16_t), read two at a time from any place (the weight gradient shifts them
 * by a tap's column); b's rows are pairs (uint32_t). Tiles as gemm_avx512.c's. */
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
#pragma GCC target("avx512f,avx512bf16")
#include <immintrin.h>
#include <stdint.h>
#include <string.h>

#include "gemm.h"
#include "gemm_zmm.h"

static inline __m512bh splat_pair(const uint16_t *p)
{
    uint32_t u;
    memcpy(&u, p, sizeof u);
    return (__m512bh)_mm512_set1_epi32((int)u);
}

#define VFMA(a, b, c) _mm512_dpbf16_ps(c, a, b)
#define GEMM_A        uint16_t
#define GEMM_B        uint32_t
#define VA            __m512bh
#define VB            __m512bh
#define ASPLAT(p)     splat_pair(p)
#define BLOAD(p)      ((__m512bh)_mm512_loadu_si512(p))
#define BLOADN(p, n)  ((__m512bh)_mm512_maskz_loadu_epi32((__mmask16)((1u << (n)) - 1), p))
#define AK            2
#define GEMM_TAPS     nn_gemm_taps_bf16_avx512
#define GEMM_TAPS_DW  nn_gemm_taps_dw_bf16_avx512
#include "gemm_kernels.h"
#endif
