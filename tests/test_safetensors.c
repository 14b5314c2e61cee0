/* A safetensors file written by gbfarm loads back bit-identically, and its header is valid
 * JSON with the format's layout: 8-byte LE length, dtype/shape/data_offsets per tensor,
 * offsets contiguous from 0 to the end of the file, string→string __metadata__. */
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

int main(void)
{
    test_round_trip();
    test_layout();
    return check_summary();
}
