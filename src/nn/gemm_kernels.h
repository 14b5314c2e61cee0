/* The kernels' body, included once per instruction set (gemm_avx512.c, gemm_avx2.c, gemm.c)
 * with:
 *   V         the vector type (VW floats), VLOAD(p), VSTORE(p, v), VSPLAT(x), VFMA(a, b, c)
 *             (= a·b + c), VZERO(), VSUM(v) (its lanes added in a fixed order), and
 *             VLOADN(p, n) / VSTOREN(p, v, n) for the first n < VW lanes (the others 0);
 *   NN_MR, NN_NV   gemm_taps's register tile: NN_MR rows of c by NN_NV vectors of columns;
 *   NT_MR, NT_NR   gemm_taps_nt's: NT_MR × NT_NR entries of c, each a vector over K;
 *   GEMM_TAPS, GEMM_TAPS_NT   the names of this set's nn_gemm_taps and nn_gemm_taps_nt. */

/* Rows 0..mr of c, columns 0..nv·VW, summed over every tap and all of K in registers; lanes:
 * 0, or the columns of a last single vector that is not whole. (The unroll pragmas keep the
 * tile in registers at -O2 too.) */
static inline __attribute__((always_inline)) void
nn_tile(int mr, int nv, int lanes, int K, int taps, const float *a, size_t a_tap, int lda,
        const float *b, int ldb, const ptrdiff_t *off, int accumulate, float *c, int ldc)
{
    V acc[NN_MR][NN_NV];
#pragma GCC unroll 16
    for (int r = 0; r < mr; r++)
#pragma GCC unroll 16
        for (int j = 0; j < nv; j++) acc[r][j] = VZERO();
    for (int t = 0; t < taps; t++) {
        const float *at = a + t * a_tap, *bt = b + off[t];
        for (int k = 0; k < K; k++) {
            V bv[NN_NV];
#pragma GCC unroll 16
            for (int j = 0; j < nv; j++)
                bv[j] = lanes ? VLOADN(bt + (size_t)k * ldb, lanes)
                              : VLOAD(bt + (size_t)k * ldb + j * VW);
#pragma GCC unroll 16
            for (int r = 0; r < mr; r++) {
                V av = VSPLAT(at[(size_t)r * lda + k]);
#pragma GCC unroll 16
                for (int j = 0; j < nv; j++) acc[r][j] = VFMA(av, bv[j], acc[r][j]);
            }
        }
    }
#pragma GCC unroll 16
    for (int r = 0; r < mr; r++)
#pragma GCC unroll 16
        for (int j = 0; j < nv; j++) {
            float *to = c + (size_t)r * ldc + j * VW;
            V sum = acc[r][j];
            if (accumulate) sum += lanes ? VLOADN(to, lanes) : VLOAD(to);
            if (lanes)
                VSTOREN(to, sum, lanes);
            else
                VSTORE(to, sum);
        }
}

void GEMM_TAPS(int M, int N, int K, int taps, const float *a, size_t a_tap, int lda, const float *b,
               int ldb, const ptrdiff_t *off, int accumulate, float *c, int ldc)
{
#define NN_ROWS(nv, lanes)                                                                         \
    do {                                                                                           \
        int m = 0;                                                                                 \
        for (; m + NN_MR <= M; m += NN_MR)                                                         \
            nn_tile(NN_MR, nv, lanes, K, taps, a + (size_t)m * lda, a_tap, lda, b + n, ldb, off,   \
                    accumulate, c + (size_t)m * ldc + n, ldc);                                     \
        for (; m < M; m++)                                                                         \
            nn_tile(1, nv, lanes, K, taps, a + (size_t)m * lda, a_tap, lda, b + n, ldb, off,       \
                    accumulate, c + (size_t)m * ldc + n, ldc);                                     \
    } while (0)
    int n = 0;
    for (; n + NN_NV * VW <= N; n += NN_NV * VW) NN_ROWS(NN_NV, 0);
    for (; n + VW <= N; n += VW) NN_ROWS(1, 0);
    if (n < N) NN_ROWS(1, N - n);
#undef NN_ROWS
}

/* c[0..mr][0..nr] += the dot products of a's rows and b's over one block of K (whole
 * vectors, then a part of one). */
static inline __attribute__((always_inline)) void
nt_tile(int mr, int nr, int kb, const float *a, int lda, const float *b, int ldb, float *c, int ldc)
{
    V acc[NT_MR][NT_NR];
#pragma GCC unroll 16
    for (int r = 0; r < mr; r++)
#pragma GCC unroll 16
        for (int j = 0; j < nr; j++) acc[r][j] = VZERO();
    int k = 0;
    for (; k + VW <= kb; k += VW) {
        V av[NT_MR];
#pragma GCC unroll 16
        for (int r = 0; r < mr; r++) av[r] = VLOAD(a + (size_t)r * lda + k);
#pragma GCC unroll 16
        for (int j = 0; j < nr; j++) {
            V bv = VLOAD(b + (size_t)j * ldb + k);
#pragma GCC unroll 16
            for (int r = 0; r < mr; r++) acc[r][j] = VFMA(av[r], bv, acc[r][j]);
        }
    }
    if (k < kb) { /* K's last entries, fewer than a vector: the other lanes add 0 */
        V av[NT_MR];
#pragma GCC unroll 16
        for (int r = 0; r < mr; r++) av[r] = VLOADN(a + (size_t)r * lda + k, kb - k);
#pragma GCC unroll 16
        for (int j = 0; j < nr; j++) {
            V bv = VLOADN(b + (size_t)j * ldb + k, kb - k);
#pragma GCC unroll 16
            for (int r = 0; r < mr; r++) acc[r][j] = VFMA(av[r], bv, acc[r][j]);
        }
    }
#pragma GCC unroll 16
    for (int r = 0; r < mr; r++)
#pragma GCC unroll 16
        for (int j = 0; j < nr; j++) c[(size_t)r * ldc + j] += VSUM(acc[r][j]);
}

/* One tap over one block of K: every tile of c. */
static inline __attribute__((always_inline)) void
nt_block(int M, int N, int kb, const float *a, int lda, const float *b, int ldb, float *c, int ldc)
{
    int m = 0;
    for (; m + NT_MR <= M; m += NT_MR) {
        int n = 0;
        for (; n + NT_NR <= N; n += NT_NR)
            nt_tile(NT_MR, NT_NR, kb, a + (size_t)m * lda, lda, b + (size_t)n * ldb, ldb,
                    c + (size_t)m * ldc + n, ldc);
        for (; n < N; n++)
            nt_tile(NT_MR, 1, kb, a + (size_t)m * lda, lda, b + (size_t)n * ldb, ldb,
                    c + (size_t)m * ldc + n, ldc);
    }
    for (; m < M; m++)
        for (int n = 0; n < N; n++)
            nt_tile(1, 1, kb, a + (size_t)m * lda, lda, b + (size_t)n * ldb, ldb,
                    c + (size_t)m * ldc + n, ldc);
}

void GEMM_TAPS_NT(int M, int N, int K, int taps, const float *a, int lda, const ptrdiff_t *off,
                  const float *b, int ldb, float *c, size_t c_tap, int ldc)
{
    /* K in blocks, every tap within a block: a block of a and b is read from memory once. */
    for (int k0 = 0; k0 < K; k0 += NT_KB) {
        int kb = K - k0 < NT_KB ? K - k0 : NT_KB;
        for (int t = 0; t < taps; t++)
            nt_block(M, N, kb, a + k0 - off[t], lda, b + k0, ldb, c + t * c_tap, ldc);
    }
}
