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

/* ---- Conv2d ---- */
enum { CB = 2, CC = 3, CH = 9, CW = 8, COC = 4, CK = 3, CS = 2 };
#define COH ((CH - CK) / CS + 1)
#define COW ((CW - CK) / CS + 1)
static float cx[CB * CC * CH * CW], cw[COC * CC * CK * CK], cb[COC];
static float cout_[CB * COC * COH * COW], cr[CB * COC * COH * COW], ccol[4096], ckeep[1024];

static double conv_probe(void *ctx)
{
    nn_conv2d_forward(cout_, ccol, NULL, cx, cw, NULL, cb, CB, CC, CH, CW, COC, CK, CS);
    return dot(cout_, cr, sizeof cr / 4);
}

static void test_conv(void)
{
    CHECK(nn_conv2d_scratch_floats(CC, CH, CW, COC, CK, CS, CB) <= sizeof ccol / 4);
    CHECK(nn_conv2d_keep_floats(CC, CH, CW, COC, CK, CS, CB) <= sizeof ckeep / 4);
    fill(cx, sizeof cx / 4, 1.0f), fill(cw, sizeof cw / 4, 1.0f), fill(cb, COC, 1.0f);
    fill(cr, sizeof cr / 4, 1.0f);
    static float dx[sizeof cx / 4], dw[sizeof cw / 4], db[COC];
    memset(dw, 0, sizeof dw), memset(db, 0, sizeof db);
    nn_conv2d_forward(cout_, ccol, ckeep, cx, cw, NULL, cb, CB, CC, CH, CW, COC, CK, CS);
    /* one output by hand: sample 1, filter 2, position (oy, ox) = (2, 1) */
    double ref = cb[2];
    for (int c = 0; c < CC; c++)
        for (int i = 0; i < CK; i++)
            for (int j = 0; j < CK; j++)
                ref += (double)cw[((2 * CC + c) * CK + i) * CK + j] *
                       cx[((1 * CC + c) * CH + 2 * CS + i) * CW + 1 * CS + j];
    CHECK(fabs(cout_[((1 * COC + 2) * COH + 2) * COW + 1] - ref) < 1e-5);
    nn_conv2d_backward(dx, dw, db, ccol, cr, ckeep, NULL, cw, CB, CC, CH, CW, COC, CK, CS);
    check_grad("conv2d dx", conv_probe, NULL, cx, dx, sizeof cx / 4);
    check_grad("conv2d dw", conv_probe, NULL, cw, dw, sizeof cw / 4);
    check_grad("conv2d db", conv_probe, NULL, cb, db, COC);
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
 * the same outputs as the floats the bytes scale to, bit for bit. */
static void test_conv_bytes(void)
{
    enum { B = 3, C = 2, H = 20, W = 19, OC = 5, K = 8, S = 4, EXTRA = 24 };
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
    test_activations();
    test_orthogonal(8, 20, 1.0f);
    test_orthogonal(20, 8, sqrtf(2.0f));
    test_orthogonal(6, 6, 0.01f);
    test_adam_and_clip();
    return check_summary();
}
