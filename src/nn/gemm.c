/* nn_gemm_taps and nn_gemm_taps_dw (gbfarm/nn.h): the set of kernels for this CPU, chosen by
 * cpuid at first use; and the baseline set, GCC's generic 4-float vectors (SSE2 on x86-64),
 * which multiply, then add. */
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "gbfarm/nn.h"
#include "gemm.h"
#include "vector.h"

typedef float v4 __attribute__((vector_size(16)));

static inline v4 load4(const float *p, int n)
{
    v4 v = {0, 0, 0, 0};
    memcpy(&v, p, sizeof(float) * (size_t)n);
    return v;
}

static inline void store4(float *p, v4 v, int n)
{
    memcpy(p, &v, sizeof(float) * (size_t)n);
}

#define V                v4
#define VW               4
#define VLOAD(p)         load4(p, 4)
#define VSTORE(p, v)     store4(p, v, 4)
#define VLOADN(p, n)     load4(p, n)
#define VSTOREN(p, v, n) store4(p, v, n)
#define VSPLAT(x)        ((v4){0, 0, 0, 0} + (x))
#define VFMA(a, b, c)    ((a) * (b) + (c))
#define VZERO()          ((v4){0, 0, 0, 0})
#define NN_MR            4
#define NN_NV            2
#define GEMM_TAPS        nn_gemm_taps_sse2
#define DW_R4            2
#define DW_R3            4
#define DW_R2            6
#define DW_R1            12
#define GEMM_TAPS_DW     nn_gemm_taps_dw_sse2
#include "gemm_kernels.h"

typedef struct gemm_set {
    const char *isa;
    void (*nn)(int, int, int, int, const float *, size_t, int, const float *, int,
               const ptrdiff_t *, int, float *, int);
    void (*dw)(int, int, int, int, const float *, int, const float *, int, const ptrdiff_t *,
               float *, size_t, int);
} gemm_set;

static const gemm_set sets[] = {
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
    {"avx512", nn_gemm_taps_avx512, nn_gemm_taps_dw_avx512},
    {"avx2", nn_gemm_taps_avx2, nn_gemm_taps_dw_avx2},
#endif
    {"sse2", nn_gemm_taps_sse2, nn_gemm_taps_dw_sse2},
};

static int supported(const gemm_set *g)
{
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
    __builtin_cpu_init();
    if (!strcmp(g->isa, "avx512")) return __builtin_cpu_supports("avx512f");
    if (!strcmp(g->isa, "avx2"))
        return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
#endif
    return 1;
}

static _Atomic(const gemm_set *) chosen;
static pthread_once_t chosen_once = PTHREAD_ONCE_INIT;

static void choose(void)
{
    for (size_t i = 0; i < sizeof sets / sizeof *sets && !chosen; i++)
        if (supported(&sets[i])) chosen = &sets[i];
}

static const gemm_set *set(void)
{
    pthread_once(&chosen_once, choose);
    return chosen;
}

int nn_gemm_select(const char *isa)
{
    pthread_once(&chosen_once, choose);
    for (size_t i = 0; i < sizeof sets / sizeof *sets; i++)
        if (!strcmp(sets[i].isa, isa) && supported(&sets[i])) {
            chosen = &sets[i];
            return 1;
        }
    return 0;
}

const char *nn_gemm_isa(void)
{
    return set()->isa;
}

void nn_gemm_taps(int M, int N, int K, int taps, const float *a, size_t a_tap, int lda,
                  const float *b, int ldb, const ptrdiff_t *off, int accumulate, float *c, int ldc)
{
    set()->nn(M, N, K, taps, a, a_tap, lda, b, ldb, off, accumulate, c, ldc);
}

void nn_gemm_taps_dw(int M, int N, int K, int taps, const float *a, int lda, const float *b,
                     int ldb, const ptrdiff_t *off, float *c, size_t c_tap, int ldc)
{
    set()->dw(M, N, K, taps, a, lda, b, ldb, off, c, c_tap, ldc);
}

/* ---- bf16 ---- */

int nn_bf16_supported(void)
{
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bf16");
#else
    return 0;
#endif
}

static atomic_int bf16_on;

int nn_set_bf16(int on)
{
    if (on && !nn_bf16_supported()) return -1;
    bf16_on = on != 0;
    return 0;
}

int nn_bf16(void)
{
    return bf16_on;
}

void nn_gemm_taps_bf16(int M, int N, int K, int taps, const uint16_t *a, size_t a_tap, int lda,
                       const uint32_t *b, int ldb, const ptrdiff_t *off, int accumulate, float *c,
                       int ldc)
{
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
    if (nn_bf16_supported()) {
        nn_gemm_taps_bf16_avx512(M, N, K, taps, a, a_tap, lda, b, ldb, off, accumulate, c, ldc);
        return;
    }
#endif
    abort(); /* callers check nn_bf16_supported() first */
}

void nn_gemm_taps_dw_bf16(int M, int N, int K, int taps, const uint16_t *a, int lda,
                          const uint32_t *b, int ldb, const ptrdiff_t *off, float *c, size_t c_tap,
                          int ldc)
{
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
    if (nn_bf16_supported()) {
        nn_gemm_taps_dw_bf16_avx512(M, N, K, taps, a, lda, b, ldb, off, c, c_tap, ldc);
        return;
    }
#endif
    abort();
}

void nn_gemv_bf16(int M, int K2, const uint16_t *a, size_t lda, const uint16_t *x, float *y)
{
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
    if (nn_bf16_supported()) {
        nn_gemv_bf16_avx512(M, K2, a, lda, x, y);
        return;
    }
#endif
    abort();
}

/* Round to nearest even on the float's top 16 bits; a NaN stays a (quiet) NaN. */
static inline uint32_t bf16_of(float x)
{
    uint32_t u;
    memcpy(&u, &x, sizeof u);
    if ((u & 0x7fffffffu) > 0x7f800000u) return (u >> 16) | 0x40u;
    return (u + 0x7fffu + ((u >> 16) & 1u)) >> 16;
}

NN_VECTOR void nn_bf16_row(uint16_t *to, const float *x, size_t n)
{
    for (size_t i = 0; i < n; i++) to[i] = (uint16_t)bf16_of(x[i]);
}

void nn_bf16_rows(uint16_t *to, const float *x, size_t rows, size_t cols)
{
    size_t cols2 = (cols + 1) & ~(size_t)1;
    for (size_t r = 0; r < rows; r++, to += cols2, x += cols) {
        nn_bf16_row(to, x, cols);
        if (cols2 > cols) to[cols] = 0;
    }
}

NN_VECTOR void nn_bf16_pairs(uint32_t *to, const float *lo, const float *hi, size_t n)
{
    if (!hi)
        for (size_t i = 0; i < n; i++) to[i] = bf16_of(lo[i]);
    else
        for (size_t i = 0; i < n; i++) to[i] = bf16_of(lo[i]) | bf16_of(hi[i]) << 16;
}

float nn_bf16_float(uint16_t h)
{
    uint32_t u = (uint32_t)h << 16;
    float x;
    memcpy(&x, &u, sizeof x);
    return x;
}
