/* Gradient checks for every layer against central finite differences, plus the properties of
 * orthogonal init, Adam and gradient clipping.
 *
 * Tolerance (float32 throughout): the probe loss is L = Σ out·R (R random), summed in double;
 * with step h = 1e-2 the finite-difference noise is ~1e-4, so each gradient entry must agree
 * within 2e-3 + 1e-2·|g|, and each tensor's relative L2 error must be below 1e-3. A wrong
 * backward pass is off by O(1). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "gbfarm/nn.h"

static rng R;

static void fill(float *x, size_t n, float scale)
{
    for (size_t i = 0; i < n; i++) x[i] = scale * (2.0f * rng_uniform(&R) - 1.0f);
}

/* The probe loss: a fixed random projection of a layer's output. */
typedef double (*probe_fn)(void *ctx);

static double dot(const float *a, const float *b, size_t n)
{
    double s = 0.0;
    for (size_t i = 0; i < n; i++) s += (double)a[i] * b[i];
    return s;
}

static void check_grad(const char *what, probe_fn f, void *ctx, float *x, const float *g, size_t n)
{
    const float h = 1e-2f;
    double err2 = 0.0, ref2 = 0.0, worst = 0.0;
    int bad = 0;
    for (size_t i = 0; i < n; i++) {
        float keep = x[i];
        x[i] = keep + h;
        double lp = f(ctx);
        x[i] = keep - h;
        double lm = f(ctx);
        x[i] = keep;
        double num = (lp - lm) / (2.0 * h), d = fabs(num - g[i]);
        err2 += d * d, ref2 += num * num;
        if (d > worst) worst = d;
        if (d > 2e-3 + 1e-2 * fabs(num)) bad++;
    }
    double rel = sqrt(err2) / (sqrt(ref2) + 1e-12);
    printf("  %-18s %5zu entries: max |analytic - numeric| %.2e, relative L2 error %.2e\n", what, n,
           worst, rel);
    CHECKF(bad == 0 && rel < 1e-3, "%s: %d entries off, relative error %.3e", what, bad, rel);
}

/* ---- Linear ---- */
enum { LB = 3, LIN = 5, LOUT = 4 };
static float lx[LB * LIN], lw[LOUT * LIN], lb[LOUT], lout[LB * LOUT], lr_[LB * LOUT];

static double linear_probe(void *ctx)
{
    nn_linear_forward(lout, lx, lw, lb, LB, LIN, LOUT);
    return dot(lout, lr_, LB * LOUT);
}

static void test_linear(int B)
{
    fill(lx, sizeof lx / 4, 1.0f), fill(lw, sizeof lw / 4, 1.0f), fill(lb, LOUT, 1.0f);
    fill(lr_, sizeof lr_ / 4, 1.0f);
    float dx[LB * LIN], dw[LOUT * LIN] = {0}, db[LOUT] = {0};
    nn_linear_forward(lout, lx, lw, lb, LB, LIN, LOUT);
    nn_linear_backward(dx, dw, db, lr_, lx, lw, LB, LIN, LOUT);
    check_grad("linear dx", linear_probe, NULL, lx, dx, LB * LIN);
    check_grad("linear dw", linear_probe, NULL, lw, dw, LOUT * LIN);
    check_grad("linear db", linear_probe, NULL, lb, db, LOUT);
    /* batch 1 takes the matrix-vector path: it must agree with the batched one */
    float one[LOUT];
    linear_probe(NULL); /* the probes left lout at a perturbed point */
    nn_linear_forward(one, lx + LIN, lw, lb, 1, LIN, LOUT);
    float maxd = 0.0f;
    for (int o = 0; o < LOUT; o++) maxd = fmaxf(maxd, fabsf(one[o] - lout[LOUT + o]));
    CHECKF(maxd < 1e-5f, "batch-1 linear differs by %g", maxd);
    (void)B;
}

/* The pinned rollout's linear layer: the weights transposed, the input's zeros skipped. It
 * must give the plain product (to float rounding), each output summed in the order of the
 * inputs whatever the zeros, and read no row of a zero input (here: a NaN there). */
static void test_gemv_sparse(void)
{
    enum { N = 37, M = 21 };
    float w[M * N], wt[N * M], x[N], y[M], b[M], ref[M];
    fill(w, M * N, 1.0f), fill(x, N, 1.0f), fill(b, M, 1.0f);
    for (int j = 0; j < N; j += 3) x[j] = 0.0f; /* ReLU's zeros */
    nn_transpose(wt, M, w, N, M, N);
    CHECK(wt[5 * M + 7] == w[7 * N + 5] && wt[(N - 1) * M + M - 1] == w[(M - 1) * N + N - 1]);
    for (int j = 0; j < N; j += 3) wt[(size_t)j * M + 4] = NAN;
    memcpy(y, b, sizeof y);
    nn_gemv_t_sparse(N, M, wt, x, y);
    memcpy(ref, b, sizeof ref);
    nn_sgemv(M, N, 1.0f, w, N, x, 1.0f, ref);
    float maxd = 0.0f;
    for (int o = 0; o < M; o++) maxd = fmaxf(maxd, fabsf(y[o] - ref[o]));
    CHECKF(maxd < 1e-5f, "sparse transposed product differs from sgemv by %g", maxd);
    for (int o = 0; o < M; o++) { /* the order of j: a float sum from b[o] on */
        float s = b[o];
        for (int j = 0; j < N; j++)
            if (x[j] != 0.0f) s += x[j] * w[o * N + j];
        CHECKF(y[o] == s, "output %d: %.9g, summed in order %.9g", o, y[o], s);
    }
}

/* ---- Conv2d ---- */
typedef struct conv_case {
    int B, C, H, W, OC, K, S;
    float *x, *w, *b, *out, *r, *scratch, *keep;
} conv_case;

static size_t conv_out(const conv_case *c)
{
    return (size_t)c->B * c->OC * ((c->H - c->K) / c->S + 1) * ((c->W - c->K) / c->S + 1);
}

static double conv_probe(void *ctx)
{
    conv_case *c = ctx;
    nn_conv2d_forward(c->out, c->scratch, NULL, c->x, c->w, NULL, c->b, c->B, c->C, c->H, c->W,
                      c->OC, c->K, c->S);
    return dot(c->out, c->r, conv_out(c));
}

/* One output by hand, then dx, dw and db against finite differences. */
static void conv_grads(int B, int C, int H, int W, int OC, int K, int S)
{
    conv_case c = {.B = B, .C = C, .H = H, .W = W, .OC = OC, .K = K, .S = S};
    int oh = (H - K) / S + 1, ow = (W - K) / S + 1;
    size_t xn = (size_t)B * C * H * W, wn = (size_t)OC * C * K * K, on = conv_out(&c);
    c.x = malloc(sizeof(float) * xn), c.w = malloc(sizeof(float) * wn);
    c.b = malloc(sizeof(float) * OC), c.out = malloc(sizeof(float) * on);
    c.r = malloc(sizeof(float) * on);
    c.scratch = malloc(sizeof(float) * nn_conv2d_scratch_floats(C, H, W, OC, K, S, B));
    c.keep = malloc(sizeof(float) * nn_conv2d_keep_floats(C, H, W, OC, K, S, B));
    float *dx = malloc(sizeof(float) * xn), *dw = calloc(wn, sizeof(float));
    float *db = calloc((size_t)OC, sizeof(float));
    fill(c.x, xn, 1.0f), fill(c.w, wn, 1.0f), fill(c.b, (size_t)OC, 1.0f), fill(c.r, on, 1.0f);
    nn_conv2d_forward(c.out, c.scratch, c.keep, c.x, c.w, NULL, c.b, B, C, H, W, OC, K, S);
    /* sample B-1, filter OC-1, the last position */
    int i = B - 1, f = OC - 1, oy = oh - 1, ox = ow - 1;
    double ref = c.b[f];
    for (int ci = 0; ci < C; ci++)
        for (int ky = 0; ky < K; ky++)
            for (int kx = 0; kx < K; kx++)
                ref += (double)c.w[((f * C + ci) * K + ky) * K + kx] *
                       c.x[((i * C + ci) * H + oy * S + ky) * W + ox * S + kx];
    CHECK(fabs(c.out[((i * OC + f) * oh + oy) * ow + ox] - ref) < 1e-5);
    nn_conv2d_backward(dx, dw, db, c.scratch, c.r, c.keep, NULL, c.w, B, C, H, W, OC, K, S);
    char what[3][64];
    snprintf(what[0], sizeof what[0], "conv2d %dx%d/%d dx", K, K, S);
    snprintf(what[1], sizeof what[1], "conv2d %dx%d/%d dw", K, K, S);
    snprintf(what[2], sizeof what[2], "conv2d %dx%d/%d db", K, K, S);
    check_grad(what[0], conv_probe, &c, c.x, dx, xn);
    check_grad(what[1], conv_probe, &c, c.w, dw, wn);
    check_grad(what[2], conv_probe, &c, c.b, db, (size_t)OC);
    free(c.x), free(c.w), free(c.b), free(c.out), free(c.r), free(c.scratch), free(c.keep);
    free(dx), free(dw), free(db);
}

static void test_conv(void)
{
    conv_grads(2, 3, 9, 8, 4, 3, 2); /* k not a multiple of s: taps past the kernel */
    /* k a multiple of s and (h - k) % s != 0: the last input row and column reach no output,
     * so their gradient is 0 (the small CNN's second layer, 4×4/2 over 17×19, has such a row) */
    conv_grads(3, 2, 9, 11, 5, 4, 2);
}

/* A batch of screens spans several scratch chunks: it must equal the samples one at a time
 * (forward outputs and input gradients exactly per sample, weight gradients summed). The batch
 * keeps the forward's input for the backward, which is not given the input; the samples one at
 * a time build it again. */
static void test_conv_chunks(void)
{
    enum { B = 40, C = 4, H = 72, W = 80, OC = 16, K = 8, S = 4 };
    size_t in_n = (size_t)C * H * W, out_n = (size_t)OC * ((H - K) / S + 1) * ((W - K) / S + 1);
    size_t wn = (size_t)OC * C * K * K, sb = nn_conv2d_scratch_floats(C, H, W, OC, K, S, B);
    size_t sb1 = nn_conv2d_scratch_floats(C, H, W, OC, K, S, 1);
    CHECK(sb < (size_t)B / 2 * sb1); /* really in chunks */
    CHECK(sb1 < sb);
    float *x = malloc(sizeof(float) * B * in_n), *w = malloc(sizeof(float) * wn), b[OC];
    float *y = malloc(sizeof(float) * B * out_n), *y1 = malloc(sizeof(float) * out_n);
    float *g = malloc(sizeof(float) * B * out_n), *dx = malloc(sizeof(float) * B * in_n);
    float *dx1 = malloc(sizeof(float) * in_n), *dw = calloc(wn, sizeof(float));
    float *dw1 = calloc(wn, sizeof(float)), db[OC] = {0}, db1[OC] = {0};
    float *scratch = malloc(sizeof(float) * sb);
    float *keep = malloc(sizeof(float) * nn_conv2d_keep_floats(C, H, W, OC, K, S, B));
    fill(x, B * in_n, 1.0f), fill(w, wn, 0.1f), fill(b, OC, 1.0f), fill(g, B * out_n, 1.0f);
    nn_conv2d_forward(y, scratch, keep, x, w, NULL, b, B, C, H, W, OC, K, S);
    memset(scratch, 0xff, sizeof(float) * sb); /* NaNs: the backward must not read them */
    nn_conv2d_backward(dx, dw, db, scratch, g, keep, NULL, w, B, C, H, W, OC, K, S);
    float dy = 0.0f, ddx = 0.0f, ddw = 0.0f, wmax = 0.0f;
    for (int i = 0; i < B; i++) {
        nn_conv2d_forward(y1, scratch, NULL, x + i * in_n, w, NULL, b, 1, C, H, W, OC, K, S);
        nn_conv2d_backward(dx1, dw1, db1, scratch, g + i * out_n, NULL, x + i * in_n, w, 1, C, H, W,
                           OC, K, S);
        for (size_t j = 0; j < out_n; j++) dy = fmaxf(dy, fabsf(y1[j] - y[i * out_n + j]));
        for (size_t j = 0; j < in_n; j++) ddx = fmaxf(ddx, fabsf(dx1[j] - dx[i * in_n + j]));
    }
    for (size_t j = 0; j < wn; j++)
        ddw = fmaxf(ddw, fabsf(dw1[j] - dw[j])), wmax = fmaxf(wmax, fabsf(dw[j]));
    CHECKF(dy < 1e-4f && ddx < 1e-4f, "chunked conv differs per sample: y %g, dx %g", dy, ddx);
    CHECKF(ddw < 1e-4f * wmax && wmax > 0.0f, "chunked conv dw differs by %g of %g", ddw, wmax);
    for (int f = 0; f < OC; f++)
        CHECKF(fabsf(db[f] - db1[f]) < 1e-3f, "db[%d] %g vs %g", f, db[f], db1[f]);
    free(x), free(w), free(y), free(y1), free(g), free(dx), free(dx1), free(dw), free(dw1);
    free(scratch), free(keep);
}

/* Screens as bytes, a stride apart with other data between them (the observed variables):
 * the same outputs as the floats the bytes scale to, bit for bit. Shapes whose rows split
 * into whole vectors of 16 bytes, and ones with columns and rows past them (a kernel that
 * is not a multiple of the stride reads past the image: zeros). */
static void conv_bytes(int H, int W, int K)
{
    enum { B = 3, C = 2, OC = 5, S = 4, EXTRA = 24 };
    size_t in_n = (size_t)C * H * W, stride = in_n + EXTRA;
    size_t out_n = (size_t)OC * ((H - K) / S + 1) * ((W - K) / S + 1), wn = (size_t)OC * C * K * K;
    uint8_t *bytes = malloc(B * stride);
    float *x = malloc(sizeof(float) * B * in_n), *w = malloc(sizeof(float) * wn), b[OC];
    float *y = malloc(sizeof(float) * B * out_n), *yb = malloc(sizeof(float) * B * out_n);
    float *scratch = malloc(sizeof(float) * nn_conv2d_scratch_floats(C, H, W, OC, K, S, B));
    for (size_t i = 0; i < B * stride; i++) bytes[i] = (uint8_t)(i * 37 + 11);
    for (int i = 0; i < B; i++)
        for (size_t j = 0; j < in_n; j++)
            x[i * in_n + j] = (float)bytes[i * stride + j] * (1.0f / 255.0f);
    fill(w, wn, 0.1f), fill(b, OC, 1.0f);
    nn_conv2d_forward(y, scratch, NULL, x, w, NULL, b, B, C, H, W, OC, K, S);
    nn_conv2d_forward_u8(yb, scratch, NULL, bytes, stride, 1.0f / 255.0f, w, NULL, b, B, C, H, W,
                         OC, K, S);
    CHECKF(memcmp(y, yb, sizeof(float) * B * out_n) == 0, "conv on bytes differs from floats");
    float *taps = malloc(sizeof(float) * nn_conv2d_tap_floats(C, OC, K, S));
    nn_conv2d_taps(taps, w, C, OC, K, S);
    nn_conv2d_forward_u8(yb, scratch, NULL, bytes, stride, 1.0f / 255.0f, NULL, taps, b, B, C, H, W,
                         OC, K, S);
    CHECKF(memcmp(y, yb, sizeof(float) * B * out_n) == 0,
           "conv with its taps made beforehand differs from the plain one");
    free(taps);
    free(bytes), free(x), free(w), free(y), free(yb), free(scratch);
}

static void test_conv_bytes(void)
{
    conv_bytes(20, 19, 8);
    conv_bytes(18, 27, 6);
    conv_bytes(72, 80, 8); /* a Game Boy screen halved */
}

/* ---- the convolutions' GEMMs, against sums in double ---- */
static void test_gemm_shapes(const char *isa)
{
    static const int Ms[] = {1, 5, 13, 24}, Ns[] = {1, 7, 16, 35, 100}, Ks[] = {1, 3, 17, 40};
    enum { PAD = 64 }; /* taps read past the rows' ends */
    static const ptrdiff_t off[4] = {0, 1, 9, 10};
    float worst = 0.0f;
    for (int taps = 1; taps <= 4; taps += 3)
        for (size_t mi = 0; mi < 4; mi++)
            for (size_t ni = 0; ni < 5; ni++)
                for (size_t ki = 0; ki < 4; ki++) {
                    int M = Ms[mi], N = Ns[ni], K = Ks[ki], ldb = N + PAD, ldc = N + 3;
                    float *a = malloc(sizeof(float) * taps * M * K);
                    float *b = malloc(sizeof(float) * K * ldb),
                          *c = malloc(sizeof(float) * M * ldc);
                    fill(a, (size_t)taps * M * K, 1.0f), fill(b, (size_t)K * ldb, 1.0f);
                    fill(c, (size_t)M * ldc, 1.0f);
                    for (int acc = 0; acc <= 1; acc++) {
                        float *c0 = malloc(sizeof(float) * M * ldc);
                        memcpy(c0, c, sizeof(float) * M * ldc);
                        nn_gemm_taps(M, N, K, taps, a, (size_t)M * K, K, b, ldb, off, acc, c, ldc);
                        for (int m = 0; m < M; m++)
                            for (int n = 0; n < N; n++) {
                                double want = acc ? c0[m * ldc + n] : 0.0;
                                for (int t = 0; t < taps; t++)
                                    for (int k = 0; k < K; k++)
                                        want += (double)a[(t * M + m) * K + k] *
                                                b[k * ldb + n + off[t]];
                                worst = fmaxf(worst, (float)fabs(c[m * ldc + n] - want));
                            }
                        CHECKF(c[M * ldc - 1] == c0[M * ldc - 1] || ldc == N,
                               "%s gemm_taps wrote past column N", isa);
                        free(c0);
                    }
                    free(a), free(b), free(c);
                }
    CHECKF(worst < 1e-4f, "%s gemm_taps: max error %g", isa, worst);

    /* dw over a K that crosses its blocks, a's rows read from each tap's offset on, N across
     * every width of column block and a part of a vector */
    worst = 0.0f;
    static const int Kl[] = {5, 16, 300, 1100};
    static const int Nd[] = {1, 7, 16, 32, 48, 64, 80, 100};
    for (size_t ki = 0; ki < 4; ki++)
        for (size_t mi = 0; mi < 4; mi++)
            for (size_t ni = 0; ni < 8; ni++) {
                int M = Ms[mi], N = Nd[ni], K = Kl[ki], lda = K + PAD, ldb = N + 5, taps = 4;
                float *a = malloc(sizeof(float) * M * lda), *b = malloc(sizeof(float) * K * ldb);
                float *c = malloc(sizeof(float) * taps * M * N),
                      *c0 = malloc(sizeof(float) * taps * M * N);
                fill(a, (size_t)M * lda, 1.0f), fill(b, (size_t)K * ldb, 1.0f),
                    fill(c, (size_t)taps * M * N, 1.0f);
                memcpy(c0, c, sizeof(float) * taps * M * N);
                nn_gemm_taps_dw(M, N, K, taps, a, lda, b, ldb, off, c, (size_t)M * N, N);
                for (int t = 0; t < taps; t++)
                    for (int m = 0; m < M; m++)
                        for (int n = 0; n < N; n++) {
                            double want = c0[(t * M + m) * N + n];
                            for (int k = 0; k < K; k++)
                                want += (double)a[m * lda + k + off[t]] * b[k * ldb + n];
                            worst = fmaxf(worst, (float)(fabs(c[(t * M + m) * N + n] - want) /
                                                         (1.0 + sqrt(K))));
                        }
                free(a), free(b), free(c), free(c0);
            }
    CHECKF(worst < 1e-5f, "%s gemm_taps_dw: max error %g", isa, worst);
}

/* ---- bf16: the rounding, and both kernels against sums in double of the rounded inputs ---- */
static void bf16_fill(uint16_t *h, float *x, size_t n)
{
    fill(x, n, 1.0f);
    nn_bf16_row(h, x, n);
    for (size_t i = 0; i < n; i++) x[i] = nn_bf16_float(h[i]); /* the values multiplied */
}

static void test_bf16(void)
{
    /* Nearest, ties to even: 1 + 2^-8 lies halfway between 1 and 1 + 2^-7. */
    float in[5] = {1.0f + 1.0f / 256, 1.0f + 3.0f / 512, -2.5f, 1e-20f, NAN};
    uint16_t h[5];
    nn_bf16_row(h, in, 5);
    CHECKF(nn_bf16_float(h[0]) == 1.0f, "bf16(1 + 2^-8) = %g", nn_bf16_float(h[0]));
    CHECKF(nn_bf16_float(h[1]) == 1.0f + 1.0f / 128, "bf16(1 + 3·2^-9) = %.9g",
           nn_bf16_float(h[1]));
    CHECK(nn_bf16_float(h[2]) == -2.5f);
    CHECK(fabsf(nn_bf16_float(h[3]) - 1e-20f) < 1e-22f);
    CHECK(isnan(nn_bf16_float(h[4])));
    uint32_t pr[2];
    nn_bf16_pairs(pr, in + 2, in, 2);
    CHECK(pr[0] == ((uint32_t)h[0] << 16 | h[2]) && pr[1] == ((uint32_t)h[1] << 16 | h[3]));

    static const int Ms[] = {1, 5, 13, 24}, Ns[] = {1, 7, 16, 35, 100}, K2s[] = {1, 3, 17, 40};
    enum { PAD = 64 };
    static const ptrdiff_t off[4] = {0, 1, 9, 10};
    float worst = 0.0f;
    for (int taps = 1; taps <= 4; taps += 3)
        for (size_t mi = 0; mi < 4; mi++)
            for (size_t ni = 0; ni < 5; ni++)
                for (size_t ki = 0; ki < 4; ki++) {
                    int M = Ms[mi], N = Ns[ni], K2 = K2s[ki], K = 2 * K2, ldb = N + PAD;
                    size_t na = (size_t)taps * M * K, nb = (size_t)K * ldb;
                    uint16_t *ah = malloc(2 * na), *bh = malloc(2 * nb);
                    float *a = malloc(4 * na), *b = malloc(4 * nb), *c = malloc(4 * (size_t)M * N);
                    uint32_t *bp = malloc(4 * (size_t)K2 * ldb);
                    bf16_fill(ah, a, na), bf16_fill(bh, b, nb);
                    for (int k = 0; k < K2; k++) /* rows 2k and 2k+1 as pairs */
                        nn_bf16_pairs(bp + (size_t)k * ldb, b + (size_t)2 * k * ldb,
                                      b + (size_t)(2 * k + 1) * ldb, (size_t)ldb);
                    nn_gemm_taps_bf16(M, N, K2, taps, ah, (size_t)M * K, K, bp, ldb, off, 0, c, N);
                    for (int m = 0; m < M; m++)
                        for (int n = 0; n < N; n++) {
                            double want = 0.0;
                            for (int t = 0; t < taps; t++)
                                for (int k = 0; k < K; k++)
                                    want +=
                                        (double)a[(t * M + m) * K + k] * b[k * ldb + n + off[t]];
                            worst = fmaxf(worst, (float)fabs(c[m * N + n] - want));
                        }
                    free(ah), free(bh), free(a), free(b), free(c), free(bp);
                }
    CHECKF(worst < 1e-4f, "gemm_taps_bf16: max error %g", worst);

    /* dw: a's pairs read from any column on (odd offsets), K across its blocks */
    worst = 0.0f;
    static const int K2l[] = {3, 16, 300, 700};
    static const int Nd[] = {1, 7, 16, 32, 48, 64, 80, 100};
    for (size_t ki = 0; ki < 4; ki++)
        for (size_t mi = 0; mi < 4; mi++)
            for (size_t ni = 0; ni < 8; ni++) {
                int M = Ms[mi], N = Nd[ni], K2 = K2l[ki], lda = 2 * K2 + PAD, ldb = N + 5, taps = 4;
                size_t na = (size_t)M * lda, nb = (size_t)2 * K2 * ldb, nc = (size_t)taps * M * N;
                uint16_t *ah = malloc(2 * na), *bh = malloc(2 * nb);
                float *a = malloc(4 * na), *b = malloc(4 * nb), *c = malloc(4 * nc),
                      *c0 = malloc(4 * nc);
                uint32_t *bp = malloc(4 * (size_t)K2 * ldb);
                bf16_fill(ah, a, na), bf16_fill(bh, b, nb), fill(c, nc, 1.0f);
                memcpy(c0, c, 4 * nc);
                for (int k = 0; k < K2; k++)
                    nn_bf16_pairs(bp + (size_t)k * ldb, b + (size_t)2 * k * ldb,
                                  b + (size_t)(2 * k + 1) * ldb, (size_t)ldb);
                nn_gemm_taps_dw_bf16(M, N, K2, taps, ah, lda, bp, ldb, off, c, (size_t)M * N, N);
                for (int t = 0; t < taps; t++)
                    for (int m = 0; m < M; m++)
                        for (int n = 0; n < N; n++) {
                            double want = c0[(t * M + m) * N + n];
                            for (int k = 0; k < 2 * K2; k++)
                                want += (double)a[m * lda + k + off[t]] * b[k * ldb + n];
                            worst = fmaxf(worst, (float)(fabs(c[(t * M + m) * N + n] - want) /
                                                         (1.0 + sqrt(2.0 * K2))));
                        }
                free(ah), free(bh), free(a), free(b), free(c), free(c0), free(bp);
            }
    CHECKF(worst < 1e-5f, "gemm_taps_dw_bf16: max error %g", worst);

    /* gemv: rows in fours and the rest, pairs in sixteens and the rest, added to y */
    worst = 0.0f;
    static const int Mv[] = {1, 3, 4, 9, 512}, K2v[] = {1, 15, 16, 17, 960};
    for (size_t mi = 0; mi < 5; mi++)
        for (size_t ki = 0; ki < 5; ki++) {
            int M = Mv[mi], K2 = K2v[ki], lda = 2 * K2 + 6;
            size_t na = (size_t)M * lda;
            uint16_t *ah = malloc(2 * na), *xh = malloc(4 * (size_t)K2);
            float *a = malloc(4 * na), *x = malloc(8 * (size_t)K2), *y = malloc(4 * (size_t)M);
            bf16_fill(ah, a, na), bf16_fill(xh, x, 2 * (size_t)K2), fill(y, (size_t)M, 1.0f);
            double *want = malloc(sizeof(double) * (size_t)M);
            for (int m = 0; m < M; m++) {
                want[m] = y[m];
                for (int k = 0; k < 2 * K2; k++) want[m] += (double)a[(size_t)m * lda + k] * x[k];
            }
            nn_gemv_bf16(M, K2, ah, (size_t)lda, xh, y);
            for (int m = 0; m < M; m++)
                worst = fmaxf(worst, (float)(fabs(y[m] - want[m]) / (1.0 + sqrt(2.0 * K2))));
            free(ah), free(xh), free(a), free(x), free(y), free(want);
        }
    CHECKF(worst < 1e-5f, "gemv_bf16: max error %g", worst);
}

/* The convolutions with bf16 multiplies against the float ones: within bf16's rounding
 * (2^-9 of each input) on shapes with odd channel counts (pairs padded with 0) and batches
 * across chunks; the bias gradient (summed from float dy) equal; taps pinned in bf16 the same
 * bit for bit as taps made per call. */
static float rel_diff(const float *a, const float *b, size_t n)
{
    float d = 0.0f, m = 0.0f;
    for (size_t i = 0; i < n; i++) d = fmaxf(d, fabsf(a[i] - b[i])), m = fmaxf(m, fabsf(b[i]));
    return m > 0.0f ? d / m : (d > 0.0f ? INFINITY : 0.0f);
}

static void test_conv_bf16(void)
{
    static const int shapes[][7] = {/* B, c, h, w, oc, k, s */
                                    {3, 3, 20, 19, 5, 8, 4},
                                    {40, 4, 72, 80, 16, 8, 4},
                                    {5, 3, 9, 10, 7, 3, 1},
                                    {7, 32, 17, 19, 64, 4, 2}};
    for (size_t si = 0; si < sizeof shapes / sizeof *shapes; si++) {
        int B = shapes[si][0], C = shapes[si][1], H = shapes[si][2], W = shapes[si][3];
        int OC = shapes[si][4], K = shapes[si][5], S = shapes[si][6];
        size_t in_n = (size_t)B * C * H * W, wn = (size_t)OC * C * K * K;
        size_t out_n = (size_t)B * OC * ((H - K) / S + 1) * ((W - K) / S + 1);
        float *x = malloc(4 * in_n), *w = malloc(4 * wn), *b = malloc(4 * OC),
              *g = malloc(4 * out_n);
        float *y[2], *dx[2], *dw[2], *db[2];
        float *scratch = malloc(4 * nn_conv2d_scratch_floats(C, H, W, OC, K, S, B));
        float *taps = malloc(4 * nn_conv2d_tap_floats(C, OC, K, S));
        fill(x, in_n, 1.0f), fill(w, wn, 0.2f), fill(b, OC, 1.0f), fill(g, out_n, 1.0f);
        for (int m = 0; m < 2; m++) { /* 0: float, 1: bf16 */
            CHECK(nn_set_bf16(m) == 0);
            y[m] = malloc(4 * out_n), dx[m] = malloc(4 * in_n);
            dw[m] = calloc(wn, 4), db[m] = calloc((size_t)OC, 4);
            nn_conv2d_forward(y[m], scratch, NULL, x, w, NULL, b, B, C, H, W, OC, K, S);
            nn_conv2d_backward(dx[m], dw[m], db[m], scratch, g, NULL, x, w, B, C, H, W, OC, K, S);
        }
        CHECKF(rel_diff(y[1], y[0], out_n) < 2e-2f && rel_diff(dx[1], dx[0], in_n) < 2e-2f &&
                   rel_diff(dw[1], dw[0], wn) < 2e-2f,
               "bf16 conv %d×%d×%d k%d s%d: y %g, dx %g, dw %g off the float one", C, H, W, K, S,
               rel_diff(y[1], y[0], out_n), rel_diff(dx[1], dx[0], in_n),
               rel_diff(dw[1], dw[0], wn));
        CHECK(memcmp(db[0], db[1], 4 * (size_t)OC) == 0);
        nn_conv2d_taps(taps, w, C, OC, K, S); /* bf16 mode is still on */
        nn_conv2d_forward(y[0], scratch, NULL, x, NULL, taps, b, B, C, H, W, OC, K, S);
        CHECKF(memcmp(y[0], y[1], 4 * out_n) == 0, "bf16 conv with pinned taps differs");
        CHECK(nn_set_bf16(0) == 0);
        for (int m = 0; m < 2; m++) free(y[m]), free(dx[m]), free(dw[m]), free(db[m]);
        free(x), free(w), free(b), free(g), free(scratch), free(taps);
    }
}

/* ---- activations ---- */
enum { AN = 40 };
static float ax[AN], aout[AN], ar[AN];
static int act_kind;

static double act_probe(void *ctx)
{
    if (act_kind == 0)
        nn_relu_forward(aout, ax, AN);
    else
        nn_tanh_forward(aout, ax, AN);
    return dot(aout, ar, AN);
}

static void test_activations(void)
{
    fill(ar, AN, 1.0f);
    for (act_kind = 0; act_kind < 2; act_kind++) {
        fill(ax, AN, 2.0f);
        for (int i = 0; i < AN; i++) /* keep ReLU inputs away from the kink */
            if (fabsf(ax[i]) < 0.1f) ax[i] = ax[i] < 0 ? -0.1f : 0.1f;
        float dx[AN];
        act_probe(NULL);
        if (act_kind == 0)
            nn_relu_backward(dx, ar, aout, AN);
        else
            nn_tanh_backward(dx, ar, aout, AN);
        check_grad(act_kind == 0 ? "relu dx" : "tanh dx", act_probe, NULL, ax, dx, AN);
    }
}

static void test_orthogonal(int rows, int cols, float gain)
{
    float *w = malloc(sizeof(float) * rows * cols);
    nn_orthogonal_init(w, rows, cols, gain, &R);
    int n = rows <= cols ? rows : cols;
    double worst = 0.0;
    for (int a = 0; a < n; a++)
        for (int b = 0; b < n; b++) {
            double s = 0.0;
            for (int k = 0; k < (rows <= cols ? cols : rows); k++)
                s += rows <= cols ? (double)w[a * cols + k] * w[b * cols + k]
                                  : (double)w[k * cols + a] * w[k * cols + b];
            worst = fmax(worst, fabs(s - (a == b ? gain * gain : 0.0)));
        }
    CHECKF(worst < 1e-4 * gain * gain + 1e-6, "orthogonal %dx%d: max deviation %g", rows, cols,
           worst);
    free(w);
}

static void test_adam_and_clip(void)
{
    /* First Adam step: m̂ = g, v̂ = g², so each parameter moves by lr·g/(|g| + eps). */
    float p[3] = {1.0f, 2.0f, 3.0f}, g[3] = {0.5f, -2.0f, 1e-3f}, m[3] = {0}, v[3] = {0};
    nn_adam_step(p, g, m, v, 3, 0.1f, 0.9f, 0.999f, 1e-5f, 1);
    CHECK(fabsf(p[0] - (1.0f - 0.1f * 0.5f / (0.5f + 1e-5f))) < 1e-6f);
    CHECK(fabsf(p[1] - (2.0f + 0.1f * 2.0f / (2.0f + 1e-5f))) < 1e-6f);
    CHECK(fabsf(p[2] - (3.0f - 0.1f * 1e-3f / (1e-3f + 1e-5f))) < 1e-6f);
    /* Second step, by hand. */
    float m1 = 0.9f * m[0] + 0.1f * 0.2f, v1 = 0.999f * v[0] + 0.001f * 0.04f;
    float want = p[0] - 0.1f / (1 - 0.81f) * m1 / (sqrtf(v1) / sqrtf(1 - 0.998001f) + 1e-5f);
    g[0] = 0.2f;
    nn_adam_step(p, g, m, v, 1, 0.1f, 0.9f, 0.999f, 1e-5f, 2);
    CHECKF(fabsf(p[0] - want) < 3e-6f, "adam step 2: %g vs %g", p[0], want);

    float c[2] = {3.0f, 4.0f};
    CHECK(fabsf(nn_clip_grad_norm(c, 2, 1.0f) - 5.0f) < 1e-6f);
    CHECK(fabsf(c[0] - 0.6f) < 1e-5f && fabsf(c[1] - 0.8f) < 1e-5f);
    float d[2] = {0.3f, 0.4f};
    nn_clip_grad_norm(d, 2, 1.0f);
    CHECK(d[0] == 0.3f && d[1] == 0.4f); /* under the limit: untouched */
}

int main(void)
{
    rng_seed(&R, 1234, 0);
    nn_set_threads(1);
    test_linear(LB);
    test_gemv_sparse();
    /* every set of kernels this CPU runs, the one gbfarm picks last */
    const char *picked = nn_gemm_isa(), *isas[] = {"sse2", "avx2", "avx512"};
    for (int i = 0; i < 3; i++) {
        if (!strcmp(isas[i], picked) || !nn_gemm_select(isas[i])) continue;
        printf("kernels %s:\n", isas[i]);
        test_gemm_shapes(isas[i]), test_conv(), test_conv_chunks(), test_conv_bytes();
    }
    CHECK(nn_gemm_select(picked));
    printf("kernels %s (this CPU's):\n", picked);
    test_gemm_shapes(picked), test_conv(), test_conv_chunks(), test_conv_bytes();
    if (nn_bf16_supported()) {
        printf("bf16 kernels:\n");
        test_bf16(), test_conv_bf16();
    } else {
        CHECK(nn_set_bf16(1) == -1 && !nn_bf16());
        printf("bf16 kernels: skipped (this CPU has no AVX512_BF16)\n");
    }
    test_activations();
    test_orthogonal(8, 20, 1.0f);
    test_orthogonal(20, 8, sqrtf(2.0f));
    test_orthogonal(6, 6, 0.01f);
    test_adam_and_clip();
    return check_summary();
}
