/* The kernels' body, included once per instruction set (gemm_avx512.c, gemm_avx2.c, gemm.c,
 * gemm_bf16.c) with:
 *   V         the vector type (VW floats), VLOAD(p), VSTORE(p, v), VSPLAT(x), VFMA(a, b, c)
 *             (= a·b + c), VZERO(), and VLOADN(p, n) / VSTOREN(p, v, n) for the first
 *             n < VW lanes (the others 0);
 *   NN_MR, NN_NV   gemm_taps's register tile: NN_MR rows of c by NN_NV vectors of columns;
 *   DW_R4, DW_R3, DW_R2, DW_R1   gemm_taps_dw's tiles: that many rows of c by 4, 3, 2 or 1
 *             vectors of columns;
 *   GEMM_TAPS, GEMM_TAPS_DW   the names of this set's nn_gemm_taps and nn_gemm_taps_dw;
 * and, for a set whose elements are not single floats (bf16 pairs, gemm_bf16.c):
 *   GEMM_A, GEMM_B   a's and b's element types (float unless set), VA, VB the vectors they
 *             load into, ASPLAT(p) (a's element at p in every lane), BLOAD(p), BLOADN(p, n),
 *             AK   how many GEMM_A make one element of a's rows (b's rows hold one each). */
#ifndef GEMM_A
#define GEMM_A       float
#define GEMM_B       float
#define VA           V
#define VB           V
#define ASPLAT(p)    VSPLAT(*(p))
#define BLOAD(p)     VLOAD(p)
#define BLOADN(p, n) VLOADN(p, n)
#define AK           1
#endif

/* Rows 0..mr of c, columns 0..nv·VW, summed over every tap and all of K in registers; lanes:
 * 0, or the columns of a last single vector that is not whole. Tiles go up to gemm_taps's
 * NN_MR × NN_NV and gemm_taps_dw's DW_R1 × 1 and DW_R4 × 4. (The unroll pragmas keep the
 * tile in registers at -O2 too.) */
#define TILE_ROWS (NN_MR > DW_R1 ? NN_MR : DW_R1)
#define TILE_VECS (NN_NV > 4 ? NN_NV : 4)
static inline __attribute__((always_inline)) void
nn_tile(int mr, int nv, int lanes, int K, int taps, const GEMM_A *a, size_t a_tap, int lda,
        const GEMM_B *b, int ldb, const ptrdiff_t *off, int accumulate, float *c, int ldc)
{
    V acc[TILE_ROWS][TILE_VECS];
#pragma GCC unroll 32
    for (int r = 0; r < mr; r++)
#pragma GCC unroll 16
        for (int j = 0; j < nv; j++) acc[r][j] = VZERO();
    for (int t = 0; t < taps; t++) {
        const GEMM_A *at = a + t * a_tap;
        const GEMM_B *bt = b + off[t];
        for (int k = 0; k < K; k++) {
            VB bv[TILE_VECS];
#pragma GCC unroll 16
            for (int j = 0; j < nv; j++)
                bv[j] = lanes ? BLOADN(bt + (size_t)k * ldb, lanes)
                              : BLOAD(bt + (size_t)k * ldb + j * VW);
#pragma GCC unroll 32
            for (int r = 0; r < mr; r++) {
                VA av = ASPLAT(at + (size_t)r * lda + AK * k);
#pragma GCC unroll 16
                for (int j = 0; j < nv; j++) acc[r][j] = VFMA(av, bv[j], acc[r][j]);
            }
        }
    }
#pragma GCC unroll 32
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

void GEMM_TAPS(int M, int N, int K, int taps, const GEMM_A *a, size_t a_tap, int lda,
               const GEMM_B *b, int ldb, const ptrdiff_t *off, int accumulate, float *c, int ldc)
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

void GEMM_TAPS_DW(int M, int N, int K, int taps, const GEMM_A *a, int lda, const GEMM_B *b, int ldb,
                  const ptrdiff_t *off, float *c, size_t c_tap, int ldc)
{
    static const ptrdiff_t no_shift[1] = {0}; /* a's shift is in at: one tap a tile */
    /* Columns nv vectors at a time, rows R at a time (R·nv sums in registers), then the rows
     * left 8, 4 and one at a time. */
#define DW_TILES(r, nv, lanes)                                                                     \
    for (; m + (r) <= M; m += (r))                                                                 \
    nn_tile(r, nv, lanes, kb, 1, at + (size_t)m * lda, 0, lda, bt + n, ldb, no_shift, 1,           \
            ct + (size_t)m * ldc + n, ldc)
#define DW_ROWS(nv, R, lanes)                                                                      \
    do {                                                                                           \
        int m = 0;                                                                                 \
        DW_TILES(R, nv, lanes);                                                                    \
        if (8 < (R)) DW_TILES(8, nv, lanes);                                                       \
        if (4 < (R)) DW_TILES(4, nv, lanes);                                                       \
        DW_TILES(1, nv, lanes);                                                                    \
    } while (0)
    /* K in blocks: a block of b (and of a, shifted by each tap) stays in cache across the
     * taps. */
    for (int k0 = 0; k0 < K; k0 += DW_KB) {
        int kb = K - k0 < DW_KB ? K - k0 : DW_KB;
        for (int t = 0; t < taps; t++) {
            const GEMM_A *at = a + AK * k0 + off[t];
            const GEMM_B *bt = b + (size_t)k0 * ldb;
            float *ct = c + t * c_tap;
            int n = 0;
            for (; n + 4 * VW <= N; n += 4 * VW) DW_ROWS(4, DW_R4, 0);
            if (n + 3 * VW <= N) {
                DW_ROWS(3, DW_R3, 0);
                n += 3 * VW;
            }
            if (n + 2 * VW <= N) {
                DW_ROWS(2, DW_R2, 0);
                n += 2 * VW;
            }
            if (n + VW <= N) {
                DW_ROWS(1, DW_R1, 0);
                n += VW;
            }
            if (n < N) DW_ROWS(1, DW_R1, N - n);
        }
    }
#undef DW_ROWS
#undef DW_TILES
}
