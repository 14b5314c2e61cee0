/* A safetensors file written by gbfarm loads back bit-identically, and its header is valid
 * JSON with the format's layout: 8-byte LE length, dtype/shape/data_offsets per tensor,
 * offsets contiguous from 0 to the end of the file, string→string __metadata__. Every byte is
 * covered by a checksum: a flipped byte anywhere fails the read with an error naming the file
 * (and the tensor, when it is a tensor's); a file without checksums still reads. */
#include <jansson.h>
#include <math.h>
#include <stdint.h>
#include <string.h>

#include "check.h"
#include "gbfarm/safetensors.h"

static const char *path = "build-learner-test.safetensors";

static void test_round_trip(void)
{
    float w[2][3] = {{1.5f, -0.0f, NAN}, {INFINITY, 1e-38f, -3.25f}};
    int64_t counters[3] = {-1, 1LL << 40, 7};
    uint64_t rngs[2] = {0xDEADBEEFCAFEF00DULL, 1};
    uint8_t bytes[5] = {0, 1, 2, 254, 255};
    st_tensor t[] = {{"layer.weight", ST_F32, 2, {2, 3}, w},
                     {"train.counters", ST_I64, 1, {3}, counters},
                     {"train.rng", ST_U64, 1, {2}, rngs},
                     {"odd", ST_U8, 1, {5}, bytes}};
    const char *meta[] = {"format", "gbfarm-learner", "note", "quote \" and ünïcode"};
    REQUIRE_OK(safetensors_write(path, t, 4, meta, 2));

    safetensors *f;
    REQUIRE_OK(safetensors_read(&f, path));
    CHECK(safetensors_count(f) == 4);
    float w2[2][3];
    int64_t c2[3];
    uint64_t r2[2];
    uint8_t b2[5];
    CHECK_OK(safetensors_get(f, "layer.weight", ST_F32, 2, (int64_t[]){2, 3}, w2));
    CHECK_OK(safetensors_get(f, "train.counters", ST_I64, 1, (int64_t[]){3}, c2));
    CHECK_OK(safetensors_get(f, "train.rng", ST_U64, 1, (int64_t[]){2}, r2));
    CHECK_OK(safetensors_get(f, "odd", ST_U8, 1, (int64_t[]){5}, b2));
    CHECK(!memcmp(w, w2, sizeof w) && !memcmp(counters, c2, sizeof c2));
    CHECK(!memcmp(rngs, r2, sizeof r2) && !memcmp(bytes, b2, sizeof b2));
    CHECK(safetensors_meta(f, "note") && !strcmp(safetensors_meta(f, "note"), meta[3]));
    CHECK(safetensors_meta(f, "absent") == NULL);
    /* wrong expectations are errors that name the tensor */
    gb_error *e = safetensors_get(f, "layer.weight", ST_F32, 2, (int64_t[]){3, 2}, w2);
    CHECK(e && strstr(gb_error_msg(e), "layer.weight"));
    gb_error_free(e);
    e = safetensors_get(f, "train.rng", ST_I64, 1, (int64_t[]){2}, r2);
    CHECK(e && strstr(gb_error_msg(e), "dtype"));
    gb_error_free(e);
    e = safetensors_get(f, "missing", ST_U8, 1, (int64_t[]){1}, b2);
    CHECK(e != NULL);
    gb_error_free(e);
    safetensors_free(f);
}

/* Reads the file as any safetensors reader would, with nothing but the spec. */
static void test_layout(void)
{
    FILE *fp = fopen(path, "rb");
    REQUIRE(fp);
    static uint8_t buf[1 << 16];
    size_t size = fread(buf, 1, sizeof buf, fp);
    fclose(fp);
    uint64_t n = 0;
    for (int i = 0; i < 8; i++) n |= (uint64_t)buf[i] << (8 * i);
    CHECK(n % 8 == 0 && 8 + n <= size);
    json_error_t je;
    json_t *h = json_loadb((const char *)buf + 8, n, 0, &je);
    CHECKF(h && json_is_object(h), "header is not JSON: %s", je.text);
    if (!h) return;
    json_t *meta = json_object_get(h, "__metadata__");
    CHECK(json_is_object(meta));
    const char *k;
    json_t *v;
    json_object_foreach(meta, k, v) CHECK(json_is_string(v));
    /* offsets: contiguous, in order, covering exactly the data */
    static const char *names[] = {"layer.weight", "train.counters", "train.rng", "odd"};
    static const char *dtypes[] = {"F32", "I64", "U64", "U8"};
    static const int64_t bytes[] = {24, 24, 16, 5};
    int64_t at = 0;
    for (int i = 0; i < 4; i++) {
        json_t *t = json_object_get(h, names[i]);
        CHECK(t && !strcmp(json_string_value(json_object_get(t, "dtype")), dtypes[i]));
        json_t *off = json_object_get(t, "data_offsets");
        CHECK(json_array_size(off) == 2);
        CHECK(json_integer_value(json_array_get(off, 0)) == at);
        at += bytes[i];
        CHECK(json_integer_value(json_array_get(off, 1)) == at);
        CHECK(json_is_array(json_object_get(t, "shape")));
    }
    CHECK(8 + n + (uint64_t)at == size);
    json_t *shape = json_object_get(json_object_get(h, "layer.weight"), "shape");
    CHECK(json_integer_value(json_array_get(shape, 0)) == 2 &&
          json_integer_value(json_array_get(shape, 1)) == 3);
    float first;
    memcpy(&first, buf + 8 + n, 4);
    CHECK(first == 1.5f); /* raw little-endian data right after the header */
    json_decref(h);

    /* a truncated file is an error, not a crash */
    fp = fopen(path, "wb");
    fwrite(buf, 1, 8 + n / 2, fp);
    fclose(fp);
    safetensors *f;
    gb_error *e = safetensors_read(&f, path);
    CHECK(e != NULL);
    gb_error_free(e);
    e = safetensors_read(&f, "no/such/file.safetensors");
    CHECK(e && strstr(gb_error_msg(e), "no/such/file"));
    gb_error_free(e);
    remove(path);
}

static uint8_t *slurp(const char *file, size_t *size)
{
    FILE *fp = fopen(file, "rb");
    REQUIRE(fp);
    static uint8_t buf[1 << 16];
    *size = fread(buf, 1, sizeof buf, fp);
    fclose(fp);
    return buf;
}

static void spit(const char *file, const uint8_t *data, size_t size)
{
    FILE *fp = fopen(file, "wb");
    REQUIRE(fp && fwrite(data, 1, size, fp) == size);
    fclose(fp);
}

/* Flip each byte in turn (to 0xFF, or 0x00 where it was 0xFF): no read succeeds. */
static void test_integrity(void)
{
    float w[64];
    for (int i = 0; i < 64; i++) w[i] = (float)i * 0.5f;
    uint8_t blob[300];
    for (int i = 0; i < 300; i++) blob[i] = (uint8_t)(i * 7);
    st_tensor t[] = {{"layer.weight", ST_F32, 2, {8, 8}, w},
                     {"env.0.snapshot", ST_U8, 1, {300}, blob}};
    const char *meta[] = {"format", "gbfarm-learner"};
    REQUIRE_OK(safetensors_write(path, t, 2, meta, 1));
    size_t size = 0;
    static uint8_t good[1 << 16], bad[1 << 16];
    const uint8_t *file = slurp(path, &size);
    memcpy(good, file, size);
    safetensors *f;
    REQUIRE_OK(safetensors_read(&f, path));
    CHECK(safetensors_checked(f));
    CHECK(safetensors_has(f, "env.0.snapshot") && !safetensors_has(f, "__metadata__"));
    safetensors_free(f);

    uint64_t n = 0;
    for (int i = 0; i < 8; i++) n |= (uint64_t)good[i] << (8 * i);
    int caught = 0, named = 0;
    for (size_t at = 0; at < size; at++) {
        memcpy(bad, good, size);
        bad[at] = bad[at] == 0xFF ? 0x00 : 0xFF;
        spit(path, bad, size);
        gb_error *e = safetensors_read(&f, path);
        caught += e != NULL;
        if (e && at >= 8 + n) /* in the data: the error names the tensor */
            named += strstr(gb_error_msg(e),
                            at < 8 + n + 256 ? "layer.weight" : "env.0.snapshot") != NULL;
        else if (!e)
            fprintf(stderr, "byte %zu flipped: read without error\n", at);
        gb_error_free(e);
        if (!e) safetensors_free(f);
    }
    CHECKF(caught == (int)size, "%d of %zu flipped bytes caught", caught, size);
    CHECKF(named == (int)(size - 8 - n), "%d of %zu data bytes named their tensor", named,
           (size_t)(size - 8 - n));

    /* A file without checksums (an older gbfarm's, or another program's) reads, unchecked. */
    const char *plain = "{\"w\":{\"dtype\":\"U8\",\"shape\":[3],\"data_offsets\":[0,3]}}   ";
    uint8_t old[128] = {0};
    size_t hl = strlen(plain);
    REQUIRE(hl % 8 == 0);
    old[0] = (uint8_t)hl;
    memcpy(old + 8, plain, hl);
    memcpy(old + 8 + hl, "abc", 3);
    spit(path, old, 8 + hl + 3);
    CHECK_OK(safetensors_read(&f, path));
    if (f) {
        CHECK(!safetensors_checked(f));
        uint8_t abc[3];
        CHECK_OK(safetensors_get(f, "w", ST_U8, 1, (int64_t[]){3}, abc));
        CHECK(!memcmp(abc, "abc", 3));
        safetensors_free(f);
    }
    remove(path);
}

int main(void)
{
    test_round_trip();
    test_layout();
    test_integrity();
    return check_summary();
}
