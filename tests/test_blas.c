/* The BLAS kernels gbfarm runs: chosen from the CPU's features, whatever OpenBLAS's own
 * detection says. CMake runs this test with OPENBLAS_CORETYPE=Prescott, the generic kernels
 * Debian's OpenBLAS falls back to on CPUs it does not know: on a CPU with AVX2 or AVX-512 the
 * kernels in use must still be the CPU's. The same choice must show in gbfarm's own output,
 * and GBFARM_BLAS_CORETYPE must force a kernel set. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "gbfarm/nn.h"

/* The "blas" line of `gbfarm info` run with the environment prefix env. */
static void info_blas_line(const char *env, char *line, size_t n)
{
    char cmd[1024];
    snprintf(cmd, sizeof cmd, "%s %s info 2>&1", env, GBFARM_BIN);
    FILE *p = popen(cmd, "r");
    REQUIRE(p);
    line[0] = '\0';
    char buf[512];
    while (fgets(buf, sizeof buf, p))
        if (!strncmp(buf, "blas", 4)) snprintf(line, n, "%s", buf);
    pclose(p);
}

int main(void)
{
    const char *asked = getenv("OPENBLAS_CORETYPE");
    printf("OPENBLAS_CORETYPE at start: %s\n", asked ? asked : "(unset)");
    CHECK_OK(nn_blas_init());
    const char *kernels = nn_blas_kernels();
    printf("kernels: %s\n", kernels);
    CHECK(!strncmp(kernels, "OpenBLAS ", 9));

    int avx2 = 0, avx512 = 0;
#if defined(__x86_64__)
    __builtin_cpu_init();
    avx2 = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
    avx512 = __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
             __builtin_cpu_supports("avx512dq") && __builtin_cpu_supports("avx512vl");
#endif
    if (avx2) {
        CHECKF(!nn_blas_generic(), "generic kernels on an AVX2 CPU: %s", kernels);
        CHECKF(strstr(kernels, "from the CPU"), "%s", kernels);
    }
    if (avx512) CHECKF(strstr(kernels, "SkylakeX"), "AVX-512 CPU, kernels: %s", kernels);

    /* gbfarm itself says which kernels it runs, and honours an explicit choice. */
    char line[512];
    info_blas_line("OPENBLAS_CORETYPE=Prescott", line, sizeof line);
    printf("gbfarm info: %s", line);
    CHECKF(strstr(line, "OpenBLAS "), "no blas line in gbfarm info: '%s'", line);
    if (avx2) CHECKF(!strstr(line, "Prescott"), "%s", line);
    info_blas_line("GBFARM_BLAS_CORETYPE=Prescott", line, sizeof line);
    printf("forced: %s", line);
    CHECKF(strstr(line, "OpenBLAS Prescott (set by GBFARM_BLAS_CORETYPE)"), "%s", line);

    /* The wrapper's transposes: c = aᵀ·bᵀ on a 2×3 · 3×2 product. */
    const float a[6] = {1, 2, 3, 4, 5, 6}; /* stored 3×2: aᵀ = [[1,3,5],[2,4,6]] */
    const float b[6] = {1, 0, 2, 1, 0, 1}; /* stored 2×3: bᵀ = [[1,1],[0,0],[2,1]] */
    float c[4] = {0};
    nn_sgemm(1, 1, 2, 2, 3, 1.0f, a, 2, b, 3, 0.0f, c, 2);
    CHECKF(c[0] == 11 && c[1] == 6 && c[2] == 14 && c[3] == 8, "%g %g %g %g", c[0], c[1], c[2],
           c[3]);
    float y[2] = {1, 1};
    const float x[3] = {1, 1, 1};
    nn_sgemv(2, 3, 2.0f, b, 3, x, 1.0f, y); /* y = 2·b·x + y, b as 2×3 */
    CHECKF(y[0] == 7 && y[1] == 5, "%g %g", y[0], y[1]);
    return check_summary();
}
