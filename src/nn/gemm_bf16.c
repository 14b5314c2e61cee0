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

/* y[m] += a[m]·x over K2 pairs: four rows at a time against each 16 pairs of x, the partial
 * sums of a row in 16 lanes, added up at the end. */
void nn_gemv_bf16_avx512(int M, int K2, const uint16_t *a, size_t lda, const uint16_t *x, float *y)
{
    int m = 0, tail = K2 % 16, k16 = K2 - tail;
    __mmask16 mask = (__mmask16)((1u << tail) - 1);
    for (; m < M; m += 4) {
        int rows = M - m < 4 ? M - m : 4;
        __m512 s[4] = {_mm512_setzero_ps(), _mm512_setzero_ps(), _mm512_setzero_ps(),
                       _mm512_setzero_ps()};
        const uint16_t *r = a + (size_t)m * lda;
        for (int k = 0; k < k16; k += 16) {
            __m512bh xv = (__m512bh)_mm512_loadu_si512(x + 2 * k);
            for (int i = 0; i < rows; i++)
                s[i] =
                    _mm512_dpbf16_ps(s[i], (__m512bh)_mm512_loadu_si512(r + i * lda + 2 * k), xv);
        }
        if (tail) {
            __m512bh xv = (__m512bh)_mm512_maskz_loadu_epi32(mask, x + 2 * k16);
            for (int i = 0; i < rows; i++)
                s[i] = _mm512_dpbf16_ps(
                    s[i], (__m512bh)_mm512_maskz_loadu_epi32(mask, r + i * lda + 2 * k16), xv);
        }
        for (int i = 0; i < rows; i++) y[m + i] += _mm512_reduce_add_ps(s[i]);
    }
}
#endif
