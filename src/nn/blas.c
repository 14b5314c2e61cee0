/* The BLAS, with kernels chosen from the CPU's features.
 *
 * OpenBLAS picks its kernels once, as it loads, from the CPU models it knows. Debian's 0.3.21
 * does not know CPUs newer than it and falls back to generic SSE3 ("Prescott") kernels there:
 * sgemm at a sixth of an AVX-512 core's speed. So gbfarm decides from cpuid, sets
 * OPENBLAS_CORETYPE, and only then loads OpenBLAS (dlopen): linked at build time, OpenBLAS
 * would have chosen before main. GBFARM_BLAS_CORETYPE=NAME overrides the choice (e.g. Prescott
 * to measure the generic kernels). */
#include <cblas.h>
#include <dlfcn.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "gbfarm/nn.h"

/* Debian's OpenBLAS (pthread or OpenMP build, through its alternatives), ABI 0. */
#define BLAS_LIBRARY "libopenblas.so.0"

static struct {
    __typeof__(cblas_sgemm) *sgemm;
    __typeof__(cblas_sgemv) *sgemv;
    __typeof__(openblas_set_num_threads) *set_num_threads;
    __typeof__(openblas_get_corename) *get_corename;
    const char *chosen, *reason; /* what gbfarm asked for, and why; chosen NULL: nothing */
    char error[512];
    char kernels[192];
} blas;
static pthread_once_t blas_once = PTHREAD_ONCE_INIT;

static void choose_kernels(void)
{
    const char *forced = getenv("GBFARM_BLAS_CORETYPE");
    if (forced && *forced) {
        blas.chosen = forced, blas.reason = "set by GBFARM_BLAS_CORETYPE";
        return;
    }
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
    /* __builtin_cpu_supports also checks that the OS saves the vector registers (XGETBV). */
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
        __builtin_cpu_supports("avx512dq") && __builtin_cpu_supports("avx512vl"))
        blas.chosen = "SkylakeX", blas.reason = "from the CPU: avx512f, bw, dq, vl";
    else if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma"))
        blas.chosen = __builtin_cpu_is("amd") ? "Zen" : "Haswell",
        blas.reason = "from the CPU: avx2, fma";
#endif
}

static void load(void)
{
    choose_kernels();
    if (blas.chosen) setenv("OPENBLAS_CORETYPE", blas.chosen, 1);
    void *h = dlopen(BLAS_LIBRARY, RTLD_NOW | RTLD_LOCAL);
    if (!h) {
        snprintf(blas.error, sizeof blas.error,
                 "cannot load the BLAS: %s (install Debian's libopenblas0)", dlerror());
        return;
    }
    blas.sgemm = (__typeof__(blas.sgemm))dlsym(h, "cblas_sgemm");
    blas.sgemv = (__typeof__(blas.sgemv))dlsym(h, "cblas_sgemv");
    blas.set_num_threads = (__typeof__(blas.set_num_threads))dlsym(h, "openblas_set_num_threads");
    blas.get_corename = (__typeof__(blas.get_corename))dlsym(h, "openblas_get_corename");
    if (!blas.sgemm || !blas.sgemv || !blas.set_num_threads || !blas.get_corename) {
        snprintf(blas.error, sizeof blas.error,
                 "%s lacks cblas_sgemm, cblas_sgemv or openblas_*: not an OpenBLAS", BLAS_LIBRARY);
        blas.sgemm = NULL;
        return;
    }
    const char *core = blas.get_corename();
    if (!blas.chosen)
        snprintf(blas.kernels, sizeof blas.kernels, "OpenBLAS %s (its own choice)", core);
    else if (strcasecmp(core, blas.chosen))
        snprintf(blas.kernels, sizeof blas.kernels,
                 "OpenBLAS %s, not %s as asked (%s): a name it does not know", core, blas.chosen,
                 blas.reason);
    else
        snprintf(blas.kernels, sizeof blas.kernels, "OpenBLAS %s (%s)", core, blas.reason);
}

gb_error *nn_blas_init(void)
{
    pthread_once(&blas_once, load);
    return blas.sgemm ? NULL : gb_errorf("%s", blas.error);
}

/* The layers call the BLAS with no error path: a BLAS that failed to load ends the process
 * with its message (the CLI calls nn_blas_init first and reports it as any other error).
 * pthread_once's fast path is one acquire load, nothing beside a GEMM. */
static void need_blas(void)
{
    pthread_once(&blas_once, load);
    if (!blas.sgemm) {
        fprintf(stderr, "gbfarm: %s\n", blas.error);
        exit(1);
    }
}

const char *nn_blas_kernels(void)
{
    need_blas();
    return blas.kernels;
}

int nn_blas_generic(void)
{
    need_blas();
    static const char *const generic[] = {"Prescott", "Core2",  "Nehalem", "Penryn", "Dunnington",
                                          "Katmai",   "Banias", "Atom",    NULL};
    const char *core = blas.get_corename();
    for (int i = 0; generic[i]; i++)
        if (!strcasecmp(core, generic[i])) return 1;
    return 0;
}

void nn_sgemm(int trans_a, int trans_b, int m, int n, int k, float alpha, const float *a, int lda,
              const float *b, int ldb, float beta, float *c, int ldc)
{
    need_blas();
    blas.sgemm(CblasRowMajor, trans_a ? CblasTrans : CblasNoTrans,
               trans_b ? CblasTrans : CblasNoTrans, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
}

void nn_sgemv(int m, int n, float alpha, const float *a, int lda, const float *x, float beta,
              float *y)
{
    need_blas();
    blas.sgemv(CblasRowMajor, CblasNoTrans, m, n, alpha, a, lda, x, 1, beta, y, 1);
}

void nn_set_threads(int n)
{
    need_blas();
    blas.set_num_threads(n < 1 ? 1 : n);
}

int nn_cpu_count(void)
{
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n < 1 ? 1 : (int)n;
}
