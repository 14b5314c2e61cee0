/* Conv2d as a few GEMMs over the input itself, with no im2col matrix.
 *
 * Space-to-depth by the stride s turns a k×k, stride-s convolution into a q×q, stride-1 one
 * over c·s² channels (q = ceil(k/s); taps past k get zero weights). A chunk of n samples is
 * laid out as X[c·s²][hq·n·wq], hq = oh+q-1 and wq = ow+q-1, row y of every sample before
 * row y+1 of any (column (y·n + i)·wq + x), and the stride-1 convolution is then a sum of q²
 * GEMMs: tap (dy, dx) multiplies its weights Wt[oc][c·s²] with X read from column
 * dy·n·wq + dx on, into Y[oc][oh·n·wq]. Output column (y·n + i)·wq + x so sums X over
 * (y+dy, i, x+dx); the columns with x ≥ ow read across rows and are dropped (rows y ≥ oh are
 * not computed: with the samples inside the rows, only the columns past ow are lost).
 * nn_gemm_taps sums all taps in one register tile (src/nn/gemm_kernels.h), reading an X the
 * size of the input where im2col wrote k²/s² times as much (3.6× for 8×8/4). The chunk is as
 * many samples as fit a fixed scratch budget: it depends on the shapes alone, so results do
 * not depend on how the scratch was sized. */
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "gbfarm/nn.h"
#include "vector.h"

enum { CHUNK_FLOATS = 1 << 18 }; /* 1 MB: a chunk's X, Y (and dX) stay in a core's L2 */

typedef struct geom {
    int oh, ow, q, hq, wq, cs; /* cs = c·s²: X's rows */
    size_t cols, pad, taps;    /* X's columns a sample; its overreach past them; q²·oc·cs */
} geom;

static geom geom_of(int c, int h, int w, int oc, int k, int s)
{
    geom g = {.oh = (h - k) / s + 1, .ow = (w - k) / s + 1, .q = (k + s - 1) / s, .cs = c * s * s};
    g.hq = g.oh + g.q - 1, g.wq = g.ow + g.q - 1;
    g.cols = (size_t)g.hq * g.wq;
    g.pad = (size_t)(g.q - 1);
    g.taps = (size_t)g.q * g.q * oc * g.cs;
    return g;
}

enum { ALIGN = 16 }; /* floats: X's rows start on 64-byte lines */

/* X's row length for a chunk of n samples: its columns, the pad the taps read past them,
 * rounded up to whole lines (zeros). */
static size_t row_of(geom g, int n)
{
    return ((size_t)n * g.cols + g.pad + ALIGN - 1) / ALIGN * ALIGN;
}

/* How far before its first column dX reads dY: the last tap's offset, (q-1)·(n·wq + 1). */
static size_t pre_of(geom g, int n)
{
    return (size_t)(g.q - 1) * ((size_t)n * g.wq + 1);
}

/* A chunk of n samples needs X and dX [cs][ld], Y or dY [oc][pre + n·cols] (dY has zeros
 * before and after its oh·n·wq columns, where dX's taps read) and dY's transpose, plus room
 * to align X and the transpose. */
static size_t chunk_floats(geom g, int oc, int n)
{
    size_t ld = row_of(g, n), cols = (size_t)n * g.cols;
    return 2 * (size_t)g.cs * ld + (size_t)oc * (pre_of(g, n) + 2 * cols) + 2 * ALIGN;
}

/* X's place in the scratch after the taps' weights: on a line. */
static float *chunk_at(float *p)
{
    return (float *)(((uintptr_t)p + sizeof(float) * ALIGN - 1) &
                     ~(uintptr_t)(sizeof(float) * ALIGN - 1));
}

static int chunk_of(geom g, int oc, int B)
{
    int n = 1;
    while (n < B && chunk_floats(g, oc, n + 1) <= CHUNK_FLOATS) n++;
    return n;
}

/* With bf16 multiplies (nn_bf16()), a chunk also needs the weights in bf16 (one tap block a
 * pair of rows: [q²][oc][cs] or its transpose, each row rounded up to pairs), X in bf16
 * (pairs of rows for the forward, rows for the weight gradient, which reads one column
 * past them: the partner of a zero), dyᵀ in pairs of positions, and dy in pairs of
 * channels. Sized alike in both modes, so the chunk does not depend on the mode. */
typedef struct bf16_parts {
    uint16_t *w;
    uint32_t *x, *dyt, *dy;
} bf16_parts;

static size_t bf16_floats(geom g, int oc, int n)
{
    size_t ld = row_of(g, n), ny = (size_t)g.oh * n * g.wq, ldy = pre_of(g, n) + (size_t)n * g.cols;
    size_t w = (size_t)g.q * g.q * (oc + 1) * (g.cs + 1) / 2 + 1;
    return w + ((size_t)g.cs + 1) / 2 * ld + 1 + (ny + 1) / 2 * oc + ((size_t)oc + 1) / 2 * ldy +
           4 * ALIGN;
}

static bf16_parts bf16_at(float *p, geom g, int oc, int n)
{
    size_t ld = row_of(g, n), ny = (size_t)g.oh * n * g.wq;
    size_t w = (size_t)g.q * g.q * (oc + 1) * (g.cs + 1) / 2 + 1;
    bf16_parts b = {.w = (uint16_t *)chunk_at(p)};
    b.x = (uint32_t *)chunk_at((float *)b.w + w);
    b.dyt = (uint32_t *)chunk_at((float *)b.x + ((size_t)g.cs + 1) / 2 * ld + 1);
    b.dy = (uint32_t *)chunk_at((float *)b.dyt + (ny + 1) / 2 * oc);
    return b;
}

size_t nn_conv2d_scratch_floats(int c, int h, int w, int oc, int k, int s, int B)
{
    geom g = geom_of(c, h, w, oc, k, s);
    int cb = chunk_of(g, oc, B);
    return 3 * g.taps + chunk_floats(g, oc, cb) + bf16_floats(g, oc, cb);
}

/* The bf16 parts: past the taps and the chunk. */
static bf16_parts bf16_of(float *scratch, geom g, int oc, int cb)
{
    return bf16_at(scratch + 3 * g.taps + chunk_floats(g, oc, cb), g, oc, cb);
}

/* rows float rows of n, ld apart, as pairs of rows: to[j][i] = (x[2j][i], x[2j+1][i]), the
 * last one with 0 where rows is odd; ldt apart. */
static void pairs_bf16(uint32_t *to, size_t ldt, const float *x, size_t ld, int rows, size_t n)
{
    for (int j = 0; 2 * j < rows; j++)
        nn_bf16_pairs(to + j * ldt, x + 2 * j * ld, 2 * j + 1 < rows ? x + (2 * j + 1) * ld : NULL,
                      n);
}

/* The kept X: every chunk's, one after the other; all but the last are cb samples long. */
size_t nn_conv2d_keep_floats(int c, int h, int w, int oc, int k, int s, int B)
{
    geom g = geom_of(c, h, w, oc, k, s);
    int cb = chunk_of(g, oc, B), last = B % cb ? B % cb : cb;
    return (size_t)g.cs * ((size_t)(B / cb - (B % cb == 0)) * row_of(g, cb) + row_of(g, last)) +
           ALIGN;
}

static float *kept_x(float *keep, geom g, int cb, int i0)
{
    return chunk_at(keep) + (size_t)g.cs * (size_t)(i0 / cb) * row_of(g, cb);
}

/* Where weight (f, ci, ky, kx) sits among the taps: Wt[dy·q+dx][f][(ci·s+sy)·s+sx] with
 * ky = dy·s+sy, kx = dx·s+sx, i.e. at at[ky·k+kx] + f·cs + ci·s². */
static void tap_offsets(size_t *at, int oc, int k, int s, geom g)
{
    for (int ky = 0; ky < k; ky++)
        for (int kx = 0; kx < k; kx++)
            at[ky * k + kx] = (size_t)((ky / s) * g.q + kx / s) * oc * g.cs + (ky % s) * s + kx % s;
}

/* Wt from w, read in order; taps past the kernel (k not a multiple of s) stay 0. */
static void tap_weights(float *wt, const float *w, int c, int oc, int k, int s, geom g)
{
    size_t at[256]; /* k ≤ 16 */
    tap_offsets(at, oc, k, s, g);
    if (k % s) memset(wt, 0, sizeof(float) * g.taps);
    for (int f = 0; f < oc; f++)
        for (int ci = 0; ci < c; ci++) {
            float *to = wt + (size_t)f * g.cs + (size_t)ci * s * s;
            for (int kk = 0; kk < k * k; kk++) to[at[kk]] = *w++;
        }
}

/* Where tap t reads a chunk of n samples' X from: column dy·n·wq + dx, t = dy·q + dx (k ≤ 16,
 * so q² ≤ 256). */
static void tap_columns(ptrdiff_t *off, geom g, int n)
{
    for (int t = 0; t < g.q * g.q; t++) off[t] = (ptrdiff_t)(t / g.q) * n * g.wq + t % g.q;
}

/* The adjoint, from the taps' gradients transposed (dWtᵀ[t][(ci·s+sy)·s+sx][f]):
 * dw[f][ci][ky][kx] += the entry at weight (f, ci, ky, kx)'s place; taps past the kernel
 * drop out. */
static void add_tap_grads(float *dw, const float *dwtt, int c, int oc, int k, int s, geom g)
{
    for (int f = 0; f < oc; f++)
        for (int ci = 0; ci < c; ci++)
            for (int ky = 0; ky < k; ky++)
                for (int kx = 0; kx < k; kx++) {
                    size_t t = (size_t)(ky / s) * g.q + kx / s;
                    size_t j = (size_t)(ci * s + ky % s) * s + kx % s;
                    *dw++ += dwtt[(t * g.cs + j) * oc + f];
                }
}

typedef float v4 __attribute__((vector_size(16)));
static inline v4 load4(const float *p)
{
    v4 v;
    memcpy(&v, p, sizeof v);
    return v;
}
static inline void store4(float *p, v4 v)
{
    memcpy(p, &v, sizeof v);
}

/* A 4×4 transpose: t_j = (a_j, b_j, c_j, d_j). */
static inline __attribute__((always_inline)) void transpose4(v4 a, v4 b, v4 c, v4 d, v4 *t0, v4 *t1,
                                                             v4 *t2, v4 *t3)
{
    v4 ab0 = __builtin_shufflevector(a, b, 0, 4, 1, 5);
    v4 ab1 = __builtin_shufflevector(a, b, 2, 6, 3, 7);
    v4 cd0 = __builtin_shufflevector(c, d, 0, 4, 1, 5);
    v4 cd1 = __builtin_shufflevector(c, d, 2, 6, 3, 7);
    *t0 = __builtin_shufflevector(ab0, cd0, 0, 1, 4, 5);
    *t1 = __builtin_shufflevector(ab0, cd0, 2, 3, 6, 7);
    *t2 = __builtin_shufflevector(ab1, cd1, 0, 1, 4, 5);
    *t3 = __builtin_shufflevector(ab1, cd1, 2, 3, 6, 7);
}

/* to[x][f] = from[f][x] for f < fn and x < xn (rows ldt and ldf apart): 4×4 blocks through
 * vector shuffles, the edges one by one. */
void nn_transpose(float *to, size_t ldt, const float *from, size_t ldf, int fn, int xn)
{
    int f = 0;
    for (; f + 4 <= fn; f += 4) {
        const float *r = from + (size_t)f * ldf;
        int x = 0;
        for (; x + 4 <= xn; x += 4) {
            v4 t0, t1, t2, t3;
            transpose4(load4(r + x), load4(r + ldf + x), load4(r + 2 * ldf + x),
                       load4(r + 3 * ldf + x), &t0, &t1, &t2, &t3);
            float *o = to + (size_t)x * ldt + f;
            store4(o, t0), store4(o + ldt, t1), store4(o + 2 * ldt, t2), store4(o + 3 * ldt, t3);
        }
        for (; x < xn; x++)
            for (int j = 0; j < 4; j++) to[(size_t)x * ldt + f + j] = r[(size_t)j * ldf + x];
    }
    for (; f < fn; f++)
        for (int x = 0; x < xn; x++) to[(size_t)x * ldt + f] = from[(size_t)f * ldf + x];
}

/* One image row and X's s rows that hold it (one for each x mod s, ld apart, from the row's
 * first column): pixel x goes to row x%s, column x/s, for the wq columns of X (to_x: 0 past
 * the image), or back (the adjoint). */
static inline __attribute__((always_inline)) void s2d_row(float *rows, size_t ld, float *line,
                                                          int s, int w, int wq, int to_x)
{
    int full = w / s < wq ? w / s : wq; /* columns whose s pixels are all in the image */
    int xq = 0;
    if (s == 4) /* 4 columns at a time: a 4×4 transpose */
        for (; xq + 4 <= full; xq += 4) {
            v4 a, b, c, d;
            if (to_x) {
                a = load4(line + 4 * xq), b = load4(line + 4 * xq + 4);
                c = load4(line + 4 * xq + 8), d = load4(line + 4 * xq + 12);
            } else {
                a = load4(rows + xq), b = load4(rows + ld + xq);
                c = load4(rows + 2 * ld + xq), d = load4(rows + 3 * ld + xq);
            }
            v4 t0, t1, t2, t3;
            transpose4(a, b, c, d, &t0, &t1, &t2, &t3);
            if (to_x) {
                store4(rows + xq, t0), store4(rows + ld + xq, t1);
                store4(rows + 2 * ld + xq, t2), store4(rows + 3 * ld + xq, t3);
            } else {
                store4(line + 4 * xq, t0), store4(line + 4 * xq + 4, t1);
                store4(line + 4 * xq + 8, t2), store4(line + 4 * xq + 12, t3);
            }
        }
    if (s == 2) /* 4 columns at a time: 8 pixels split into the even and the odd */
        for (; xq + 4 <= full; xq += 4) {
            if (to_x) {
                v4 a = load4(line + 2 * xq), b = load4(line + 2 * xq + 4);
                store4(rows + xq, __builtin_shufflevector(a, b, 0, 2, 4, 6));
                store4(rows + ld + xq, __builtin_shufflevector(a, b, 1, 3, 5, 7));
            } else {
                v4 e = load4(rows + xq), o = load4(rows + ld + xq);
                store4(line + 2 * xq, __builtin_shufflevector(e, o, 0, 4, 1, 5));
                store4(line + 2 * xq + 4, __builtin_shufflevector(e, o, 2, 6, 3, 7));
            }
        }
    for (; xq < full; xq++)
        for (int sx = 0; sx < s; sx++) {
            if (to_x)
                rows[sx * ld + xq] = line[xq * s + sx];
            else
                line[xq * s + sx] = rows[sx * ld + xq];
        }
    for (xq = full; xq < wq; xq++)
        for (int sx = 0; sx < s; sx++) {
            int x = xq * s + sx;
            if (to_x)
                rows[sx * ld + xq] = x < w ? line[x] : 0.0f;
            else if (x < w)
                line[x] = rows[sx * ld + xq];
        }
}

/* s2d_row for a row of bytes times scale (a screen), to X only: 16 pixels at a time for s = 4,
 * widened to floats, scaled and dealt to the 4 rows in one permute. The bytes widen through
 * 16-bit lanes: GCC 12 turns a direct u8 → int or float conversion of 16 lanes into byte
 * extracts through general registers, 5× the instructions. */
typedef uint8_t u8x16 __attribute__((vector_size(16)));
typedef uint16_t u16x16 __attribute__((vector_size(32)));
typedef int32_t i32x16 __attribute__((vector_size(64)));
typedef float f32x16 __attribute__((vector_size(64)));
static inline __attribute__((always_inline)) void
s2d_row_u8(float *rows, size_t ld, const uint8_t *line, float scale, int s, int w, int wq)
{
    int full = w / s < wq ? w / s : wq, xq = 0;
    if (s == 4)
        for (; xq + 4 <= full; xq += 4) {
            u8x16 b;
            memcpy(&b, line + 4 * xq, sizeof b);
            i32x16 i = __builtin_convertvector(__builtin_convertvector(b, u16x16), i32x16);
            f32x16 f = __builtin_convertvector(i, f32x16) * scale;
            f32x16 d =
                __builtin_shufflevector(f, f, 0, 4, 8, 12, 1, 5, 9, 13, 2, 6, 10, 14, 3, 7, 11, 15);
            for (int sx = 0; sx < 4; sx++) memcpy(rows + sx * ld + xq, (float *)&d + 4 * sx, 16);
        }
    for (; xq < wq; xq++)
        for (int sx = 0; sx < s; sx++) {
            int x = xq * s + sx;
            rows[sx * ld + xq] = x < w ? (float)line[x] * scale : 0.0f;
        }
}

/* The image a forward reads: floats, or bytes times a scale (a screen), a sample stride apart. */
typedef struct image {
    const float *f;
    const uint8_t *u8;
    size_t stride;
    float scale;
} image;

/* Image row y of channel ci of sample i (floats). */
static inline const float *image_row(image im, int i, int ci, int c, int h, int w, int y)
{
    return im.f + (size_t)i * c * h * w + ((size_t)ci * h + y) * w;
}

/* Space-to-depth puts pixel (i, ci, y, x) of a chunk at X[(ci·s + y%s)·s + x%s][((y/s)·n +
 * i)·wq + x/s]. One image row (i, ci, y) and X's s rows that hold it; to_x: X = the pixels of
 * im, 0 where none lands (rows past the image); otherwise its adjoint, im.f = X's entries. s
 * is a constant in the common cases so that the compiler turns the row's split into vector
 * shuffles. */
static inline __attribute__((always_inline)) void s2d_image_row(float *x, size_t ld, image im,
                                                                int n, int c, int h, int w, int s,
                                                                geom g, int to_x, int i, int ci,
                                                                int y)
{
    float *rows = x + (size_t)(ci * s + y % s) * s * ld + ((size_t)(y / s) * n + i) * g.wq;
    if (y >= h) { /* past the image (only into X: the adjoint stops at h): rows of zeros */
        for (int sx = 0; sx < s; sx++) memset(rows + sx * ld, 0, sizeof(float) * g.wq);
        return;
    }
    if (im.u8) {
        const uint8_t *bytes = im.u8 + (size_t)i * im.stride + ((size_t)ci * h + y) * w;
        if (s == 4)
            s2d_row_u8(rows, ld, bytes, im.scale, 4, w, g.wq);
        else
            s2d_row_u8(rows, ld, bytes, im.scale, s, w, g.wq);
        return;
    }
    float *line = (float *)image_row(im, i, ci, c, h, w, y);
    switch (s) {
    case 1:
        s2d_row(rows, ld, line, 1, w, g.wq, to_x);
        break;
    case 2:
        s2d_row(rows, ld, line, 2, w, g.wq, to_x);
        break;
    case 4:
        s2d_row(rows, ld, line, 4, w, g.wq, to_x);
        break;
    default:
        s2d_row(rows, ld, line, s, w, g.wq, to_x);
    }
}

/* The whole chunk, in the order that writes sequentially: into X, the samples innermost, so
 * that each of X's rows fills from its start to its end (the samples' pieces of a row lie
 * side by side, wq floats each); back into the images, sample by sample, row by row. Written
 * the other way, each piece is a fraction of a line, and the line's other pieces come a
 * whole sample later, when it has left L1: space-to-depth took about twice as long. */
NN_VECTOR static void space_to_depth(float *x, size_t ld, image im, int n, int c, int h, int w,
                                     int s, geom g, int to_x)
{
    if (to_x) {
        for (int ci = 0; ci < c; ci++)
            for (int y = 0; y < g.hq * s; y++)
                for (int i = 0; i < n; i++) s2d_image_row(x, ld, im, n, c, h, w, s, g, 1, i, ci, y);
        for (int r = 0; r < g.cs; r++) /* the pad and the rounding to whole lines */
            memset(x + r * ld + (size_t)n * g.cols, 0, sizeof(float) * (ld - (size_t)n * g.cols));
    } else { /* the image rows X holds: past hq·s, none (the caller zeroed them) */
        int rows = h < g.hq * s ? h : g.hq * s;
        for (int i = 0; i < n; i++)
            for (int ci = 0; ci < c; ci++)
                for (int y = 0; y < rows; y++)
                    s2d_image_row(x, ld, im, n, c, h, w, s, g, 0, i, ci, y);
    }
}

size_t nn_conv2d_tap_floats(int c, int oc, int k, int s)
{
    int q = (k + s - 1) / s;
    return (size_t)q * q * oc * (c * s * s + 1); /* bf16 taps: half of it, rows in pairs */
}

void nn_conv2d_taps(float *taps, const float *w, int c, int oc, int k, int s)
{
    geom g = geom_of(c, k, k, oc, k, s);
    tap_weights(taps, w, c, oc, k, s, g);
    if (!nn_bf16()) return;
    /* In place, through a copy of 256 floats at a time: each piece's bf16 numbers lie at or
     * before the floats they come from, and before every float not yet copied. */
    float piece[256];
    uint16_t *to = (uint16_t *)taps;
    size_t cs2 = (size_t)(g.cs + 1) & ~(size_t)1;
    for (size_t r = 0; r < (size_t)g.q * g.q * oc; r++) {
        for (size_t i = 0; i < (size_t)g.cs; i += 256) {
            size_t n = (size_t)g.cs - i < 256 ? (size_t)g.cs - i : 256;
            memcpy(piece, taps + r * g.cs + i, sizeof(float) * n);
            nn_bf16_row(to + r * cs2 + i, piece, n);
        }
        if (cs2 > (size_t)g.cs) to[r * cs2 + g.cs] = 0;
    }
}

static void conv_forward(float *out, float *scratch, float *keep, image in, const float *w,
                         const float *taps, const float *b, int B, int c, int h, int wd, int oc,
                         int k, int s)
{
    geom g = geom_of(c, h, wd, oc, k, s);
    int cb = chunk_of(g, oc, B);
    size_t in_n = (size_t)c * h * wd, out_n = (size_t)oc * g.oh * g.ow;
    float *wt = scratch, *x = chunk_at(wt + 3 * g.taps);
    ptrdiff_t off[256];
    bool b16 = nn_bf16();
    bf16_parts hb = bf16_of(scratch, g, oc, cb);
    size_t cs2 = (size_t)(g.cs + 1) & ~(size_t)1;
    if (taps) {
        wt = (float *)taps;
        if (b16) hb.w = (uint16_t *)taps; /* pinned as bf16 (nn_conv2d_taps) */
    } else {
        tap_weights(wt, w, c, oc, k, s, g);
        if (b16) nn_bf16_rows(hb.w, wt, (size_t)g.q * g.q * oc, (size_t)g.cs);
    }
    for (int i0 = 0; i0 < B; i0 += cb) {
        int n = B - i0 < cb ? B - i0 : cb;
        size_t ld = row_of(g, n), ny = (size_t)g.oh * n * g.wq;
        float *y = x + (size_t)g.cs * ld, *xi = keep ? kept_x(keep, g, cb, i0) : x;
        tap_columns(off, g, n);
        image at = in;
        if (at.u8)
            at.u8 += (size_t)i0 * at.stride;
        else
            at.f += (size_t)i0 * in_n;
        space_to_depth(xi, ld, at, n, c, h, wd, s, g, 1);
        if (b16) {
            pairs_bf16(hb.x, ld, xi, ld, g.cs, ld);
            nn_gemm_taps_bf16(oc, (int)ny, (int)cs2 / 2, g.q * g.q, hb.w, (size_t)oc * cs2,
                              (int)cs2, hb.x, (int)ld, off, 0, y, (int)ny);
        } else {
            nn_gemm_taps(oc, (int)ny, g.cs, g.q * g.q, wt, g.taps / (g.q * g.q), g.cs, xi, (int)ld,
                         off, 0, y, (int)ny);
        }
        /* out[i][f][oy][ox] = y[f][(oy·n + i)·wq + ox] + b[f] */
        for (int i = 0; i < n; i++)
            for (int f = 0; f < oc; f++) {
                float *o = out + (i0 + i) * out_n + (size_t)f * g.oh * g.ow, bf = b ? b[f] : 0.0f;
                const float *src = y + (size_t)f * ny + (size_t)i * g.wq;
                for (int oy = 0; oy < g.oh; oy++, o += g.ow, src += (size_t)n * g.wq)
                    for (int ox = 0; ox < g.ow; ox++) o[ox] = src[ox] + bf;
            }
    }
}

void nn_conv2d_forward(float *out, float *scratch, float *keep, const float *in, const float *w,
                       const float *taps, const float *b, int B, int c, int h, int wd, int oc,
                       int k, int s)
{
    conv_forward(out, scratch, keep, (image){.f = in}, w, taps, b, B, c, h, wd, oc, k, s);
}

void nn_conv2d_forward_u8(float *out, float *scratch, float *keep, const uint8_t *in, size_t stride,
                          float scale, const float *w, const float *taps, const float *b, int B,
                          int c, int h, int wd, int oc, int k, int s)
{
    image im = {.u8 = in, .stride = stride, .scale = scale};
    conv_forward(out, scratch, keep, im, w, taps, b, B, c, h, wd, oc, k, s);
}

void nn_conv2d_backward(float *din, float *dw, float *db, float *scratch, const float *dout,
                        const float *keep, const float *in, const float *w, int B, int c, int h,
                        int wd, int oc, int k, int s)
{
    geom g = geom_of(c, h, wd, oc, k, s);
    int cb = chunk_of(g, oc, B), taps = g.q * g.q;
    size_t in_n = (size_t)c * h * wd, out_n = (size_t)oc * g.oh * g.ow, per_tap = g.taps / taps;
    float *wt = scratch, *wtt = wt + g.taps, *dwt = wtt + g.taps, *x = chunk_at(dwt + g.taps);
    ptrdiff_t off[256], back[256];
    tap_weights(wt, w, c, oc, k, s, g);
    for (int t = 0; t < taps; t++) /* Wt[t]ᵀ */
        for (int f = 0; f < oc; f++)
            for (int j = 0; j < g.cs; j++)
                wtt[t * per_tap + (size_t)j * oc + f] = wt[t * per_tap + (size_t)f * g.cs + j];
    memset(dwt, 0, sizeof(float) * g.taps);
    bool b16 = nn_bf16();
    bf16_parts hb = bf16_of(scratch, g, oc, cb);
    size_t oc2 = (size_t)(oc + 1) & ~(size_t)1;
    if (b16 && din) nn_bf16_rows(hb.w, wtt, (size_t)taps * g.cs, (size_t)oc); /* Wt[t]ᵀ in bf16 */
    for (int i0 = 0; i0 < B; i0 += cb) {
        int n = B - i0 < cb ? B - i0 : cb;
        size_t cols = (size_t)n * g.cols, ld = row_of(g, n), ny = (size_t)g.oh * n * g.wq;
        size_t pre = pre_of(g, n), ldy = pre + cols;
        float *dx = x + (size_t)g.cs * ld, *dy0 = dx + (size_t)g.cs * ld, *dy = dy0 + pre;
        float *dyt = chunk_at(dy0 + (size_t)oc * ldy);
        tap_columns(off, g, n);
        for (int t = 0; t < taps; t++) back[t] = -off[t]; /* the columns dX reads dY from */
        /* dyt[(oy·n + i)·wq + ox][f] = dout[i][f][oy][ox], a row of positions at a time; 0 in
         * the dropped columns. */
        for (int i = 0; i < n; i++) {
            const float *src = dout + (i0 + i) * out_n;
            for (int oy = 0; oy < g.oh; oy++) {
                float *dt = dyt + ((size_t)oy * n + i) * g.wq * oc;
                nn_transpose(dt, (size_t)oc, src + (size_t)oy * g.ow, (size_t)g.oh * g.ow, oc,
                             g.ow);
                memset(dt + (size_t)g.ow * oc, 0, sizeof(float) * (g.wq - g.ow) * oc);
            }
        }
        /* dy[f][(oy·n + i)·wq + ox], the same in rows, for dX: 0 in the dropped columns and
         * on both sides, where dX's taps read past Y's columns */
        if (din) {
            memset(dy0, 0, sizeof(float) * oc * ldy);
            for (int i = 0; i < n; i++)
                for (int f = 0; f < oc; f++) {
                    const float *src = dout + (i0 + i) * out_n + (size_t)f * g.oh * g.ow;
                    float *d = dy + (size_t)f * ldy + (size_t)i * g.wq;
                    for (int oy = 0; oy < g.oh; oy++, src += g.ow, d += (size_t)n * g.wq)
                        for (int ox = 0; ox < g.ow; ox++) d[ox] = src[ox];
                }
        }
        if (db) /* each channel's sum in the order of its positions: a lane each */
            for (int f0 = 0; f0 < oc; f0 += 64) {
                int fn = oc - f0 < 64 ? oc - f0 : 64;
                float acc[64] = {0};
                for (size_t p = 0; p < ny; p++)
                    for (int f = 0; f < fn; f++) acc[f] += dyt[p * oc + f0 + f];
                for (int f = 0; f < fn; f++) db[f0 + f] += acc[f];
            }
        const float *xi = x;
        if (keep)
            xi = kept_x((float *)keep, g, cb, i0);
        else
            space_to_depth(x, ld, (image){.f = in + i0 * in_n}, n, c, h, wd, s, g, 1);
        /* dWt[t]ᵀ += X[:, p + off[t]] · dyᵀ[p, :] over Y's columns p (dy is 0 in the dropped
         * ones); dX[:, p] = Σ_t Wt[t]ᵀ · dy[:, p - off[t]] over X's */
        if (b16) { /* X in bf16 rows (one 0 past the last: a zero's partner), dyᵀ in pairs */
            uint16_t *xb = (uint16_t *)hb.x;
            nn_bf16_row(xb, xi, (size_t)g.cs * ld);
            xb[(size_t)g.cs * ld] = 0;
            pairs_bf16(hb.dyt, (size_t)oc, dyt, (size_t)oc, (int)ny, (size_t)oc);
            nn_gemm_taps_dw_bf16(g.cs, oc, (int)(ny + 1) / 2, taps, xb, (int)ld, hb.dyt, oc, off,
                                 dwt, per_tap, oc);
        } else {
            nn_gemm_taps_dw(g.cs, oc, (int)ny, taps, xi, (int)ld, dyt, oc, off, dwt, per_tap, oc);
        }
        if (din) {
            if (b16) {
                pairs_bf16(hb.dy, ldy, dy0, ldy, oc, ldy);
                nn_gemm_taps_bf16(g.cs, (int)cols, (int)oc2 / 2, taps, hb.w, (size_t)g.cs * oc2,
                                  (int)oc2, hb.dy + pre, (int)ldy, back, 0, dx, (int)ld);
            } else {
                nn_gemm_taps(g.cs, (int)cols, oc, taps, wtt, per_tap, oc, dy, (int)ldy, back, 0, dx,
                             (int)ld);
            }
            memset(din + i0 * in_n, 0, sizeof(float) * n * in_n);
            space_to_depth(dx, ld, (image){.f = din + i0 * in_n}, n, c, h, wd, s, g, 0);
        }
    }
    add_tap_grads(dw, dwt, c, oc, k, s, g);
}
