/* safetensors_read on arbitrary bytes, then safetensors_get on every tensor the header names,
 * asked for with the header's own dtype and shape (the way a loader that trusts the file
 * would) and with a wrong dtype and a wrong rank; and safetensors_meta on every metadata key. */
#include <jansson.h>

#include "fuzz_file.h"
#include "gbfarm/safetensors.h"

static const char *const dtype_names[] = {"F32", "I64", "U64", "U8"};
static const size_t dtype_sizes[] = {4, 8, 8, 1};

static void get_tensor(const safetensors *f, const char *name, const json_t *t)
{
    const char *dt = json_string_value(json_object_get(t, "dtype"));
    int dtype = -1;
    for (int i = 0; dt && i < 4; i++)
        if (!strcmp(dt, dtype_names[i])) dtype = i;
    const json_t *sh = json_object_get(t, "shape");
    int ndim = json_is_array(sh) ? (int)json_array_size(sh) : 0;
    if (ndim > 4) ndim = 4;
    int64_t shape[4] = {0};
    size_t numel = 1;
    for (int d = 0; d < ndim; d++) {
        shape[d] = json_integer_value(json_array_get(sh, (size_t)d));
        if (shape[d] < 0 || shape[d] > (1 << 20)) return; /* no caller asks for such a shape */
        numel *= (size_t)shape[d];
        if (numel > (1 << 20)) return;
    }
    for (int want = 0; want < 4; want++) {
        size_t bytes = numel * dtype_sizes[want];
        uint8_t *dst = malloc(bytes ? bytes : 1);
        if (!dst) abort();
        gb_error *err = safetensors_get(f, name, (st_dtype)want, ndim, shape, dst);
        FUZZ_ASSERT(want == dtype || err); /* a wrong dtype always fails */
        gb_error_free(err);
        free(dst);
    }
    if (dtype >= 0 && ndim > 0) {
        uint8_t dst[8];
        gb_error *err = safetensors_get(f, name, (st_dtype)dtype, ndim - 1, shape, dst);
        FUZZ_ASSERT(err != NULL);
        gb_error_free(err);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *path = fuzz_path("input.safetensors");
    fuzz_write(path, data, size);
    safetensors *f = NULL;
    gb_error *err = safetensors_read(&f, path);
    if (err) {
        FUZZ_ASSERT(f == NULL);
        gb_error_free(err);
        return 0;
    }
    FUZZ_ASSERT(f && size >= 8);
    FUZZ_ASSERT(safetensors_count(f) >= 0);

    /* The harness reads the header itself to learn the names to ask for. */
    uint64_t hlen = 0;
    for (int i = 0; i < 8; i++) hlen |= (uint64_t)data[i] << (8 * i);
    FUZZ_ASSERT(hlen <= size - 8);
    json_t *header =
        json_loadb((const char *)data + 8, strnlen((const char *)data + 8, hlen), 0, NULL);
    FUZZ_ASSERT(json_is_object(header));
    const char *name;
    json_t *t;
    json_object_foreach(header, name, t)
    {
        if (!strcmp(name, "__metadata__")) {
            const char *key;
            json_t *v;
            json_object_foreach(t, key, v)
            {
                const char *got = safetensors_meta(f, key);
                FUZZ_ASSERT(json_is_string(v) ? got && !strcmp(got, json_string_value(v)) : !got);
            }
        } else {
            get_tensor(f, name, t);
        }
    }
    uint8_t dst[8];
    gb_error *missing = safetensors_get(f, "no such tensor \x01", ST_U8, 0, NULL, dst);
    FUZZ_ASSERT(missing != NULL);
    gb_error_free(missing);
    json_decref(header);
    safetensors_free(f);
    return 0;
}
