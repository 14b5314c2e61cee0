#include "gbfarm/safetensors.h"

#include <errno.h>
#include <jansson.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "atomic_file.h"

#if __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "safetensors.c writes host memory as little-endian tensors"
#endif

static const char *dtype_names[] = {"F32", "I64", "U64", "U8"};
static const size_t dtype_sizes[] = {4, 8, 8, 1};

/* The checksum keys of __metadata__: CRC_PREFIX + a tensor's name, and the header's. */
#define CRC_PREFIX "crc32:"
#define CRC_HEADER "crc32"
#define HEADER_KEY "\"" CRC_HEADER "\":\"" /* then 8 hex digits */

static size_t numel(int ndim, const int64_t *shape)
{
    size_t n = 1;
    for (int i = 0; i < ndim; i++) n *= (size_t)shape[i];
    return n;
}

static size_t tensor_bytes(const st_tensor *t)
{
    return numel(t->ndim, t->shape) * dtype_sizes[t->dtype];
}

/* zlib's CRC-32, over any length. */
static uint32_t crc(const void *data, size_t n)
{
    const uint8_t *p = data;
    uLong c = crc32(0L, Z_NULL, 0);
    for (; n > 0;) {
        uInt chunk = n > (1u << 30) ? 1u << 30 : (uInt)n;
        c = crc32(c, p, chunk);
        p += chunk, n -= chunk;
    }
    return (uint32_t)c;
}

gb_error *safetensors_write(const char *path, const st_tensor *tensors, int n,
                            const char *const *meta, int n_meta)
{
    json_t *root = json_object();
    size_t offset = 0;
    for (int i = 0; i < n; i++) {
        const st_tensor *t = &tensors[i];
        json_t *shape = json_array();
        for (int d = 0; d < t->ndim; d++) json_array_append_new(shape, json_integer(t->shape[d]));
        size_t bytes = numel(t->ndim, t->shape) * dtype_sizes[t->dtype];
        json_object_set_new(root, t->name,
                            json_pack("{s:s, s:o, s:[I,I]}", "dtype", dtype_names[t->dtype],
                                      "shape", shape, "data_offsets", (json_int_t)offset,
                                      (json_int_t)(offset + bytes)));
        offset += bytes;
    }
    /* The metadata: the caller's, then a CRC-32 of each tensor's bytes and one of the header
     * itself, computed with its own value as "00000000" and patched in after. */
    json_t *m = json_object();
    for (int i = 0; i < n_meta; i++)
        json_object_set_new(m, meta[2 * i], json_string(meta[2 * i + 1]));
    for (int i = 0; i < n; i++) {
        char key[256], hex[16];
        snprintf(key, sizeof key, CRC_PREFIX "%s", tensors[i].name);
        snprintf(hex, sizeof hex, "%08lx",
                 (unsigned long)crc(tensors[i].data, tensor_bytes(&tensors[i])));
        json_object_set_new(m, key, json_string(hex));
    }
    json_object_set_new(m, CRC_HEADER, json_string("00000000"));
    json_object_set_new(root, "__metadata__", m);
    char *text = json_dumps(root, JSON_COMPACT | JSON_PRESERVE_ORDER);
    json_decref(root);
    size_t hlen = text ? strlen(text) : 0, padded = (hlen + 7) / 8 * 8;
    char *header = text ? realloc(text, padded + 1) : NULL;
    char *slot = header ? strstr(header, HEADER_KEY "00000000\"") : NULL;
    if (!slot) {
        free(header ? header : text);
        return gb_errorf("%s: cannot encode the safetensors header", path);
    }
    memset(header + hlen, ' ', padded - hlen);
    header[padded] = '\0';
    char hex[16];
    snprintf(hex, sizeof hex, "%08lx", (unsigned long)crc(header, padded));
    memcpy(slot + strlen(HEADER_KEY), hex, 8);

    atomic_file f;
    gb_error *err = atomic_file_open(&f, path, "does the directory exist?");
    if (err) {
        free(header);
        return err;
    }
    uint8_t len8[8];
    for (int i = 0; i < 8; i++) len8[i] = (uint8_t)((uint64_t)padded >> (8 * i));
    atomic_file_write(&f, len8, 8);
    atomic_file_write(&f, header, padded);
    for (int i = 0; i < n; i++) atomic_file_write(&f, tensors[i].data, tensor_bytes(&tensors[i]));
    free(header);
    return atomic_file_commit(&f);
}

struct safetensors {
    char path[1024];
    bool checked; /* it carried checksums, and they matched */
    json_t *header;
    uint8_t *data; /* the bytes after the header */
    size_t data_len;
};

/* Tensor and header checksums, when the file has them (every file gbfarm writes): a file with some
 * but not all, or one that does not match, is damaged. */
static gb_error *verify(safetensors *f, char *text, size_t hlen)
{
    json_t *meta = json_object_get(f->header, "__metadata__");
    const char *want = json_string_value(json_object_get(meta, CRC_HEADER));
    const char *key;
    json_t *t;
    int sums = 0;
    json_object_foreach(meta, key, t) sums += !strncmp(key, CRC_PREFIX, strlen(CRC_PREFIX));
    if (!want && sums == 0) return NULL; /* an older file, or another program's */
    char *slot = strstr(text, HEADER_KEY);
    if (!want || strlen(want) != 8 || !slot || strlen(slot) < strlen(HEADER_KEY) + 8)
        return gb_errorf("%s: the header's checksum is missing (the file is damaged)", f->path);
    /* The header's own CRC was taken with its value zeroed. */
    memcpy(slot + strlen(HEADER_KEY), "00000000", 8);
    char got[16];
    snprintf(got, sizeof got, "%08lx", (unsigned long)crc(text, hlen));
    if (strcmp(got, want))
        return gb_errorf("%s: the header does not match its checksum (crc32 %s, recorded %s): "
                         "the file is damaged",
                         f->path, got, want);
    json_object_foreach(f->header, key, t)
    {
        if (!strcmp(key, "__metadata__")) continue;
        char name[256];
        snprintf(name, sizeof name, CRC_PREFIX "%s", key);
        const char *rec = json_string_value(json_object_get(meta, name));
        json_t *off = json_object_get(t, "data_offsets");
        json_int_t b = json_integer_value(json_array_get(off, 0));
        json_int_t e = json_integer_value(json_array_get(off, 1));
        if (!rec)
            return gb_errorf("%s: tensor '%s' has no checksum (the file is damaged)", f->path, key);
        if (b < 0 || e < b || (size_t)e > f->data_len)
            return gb_errorf("%s: tensor '%s': data_offsets [%lld, %lld] lie outside the file's "
                             "%zu data bytes",
                             f->path, key, (long long)b, (long long)e, f->data_len);
        snprintf(got, sizeof got, "%08lx", (unsigned long)crc(f->data + b, (size_t)(e - b)));
        if (strcmp(got, rec))
            return gb_errorf("%s: tensor '%s' does not match its checksum (crc32 %s, recorded "
                             "%s): the file is damaged",
                             f->path, key, got, rec);
        sums--;
    }
    if (sums != 0)
        return gb_errorf("%s: checksums of tensors it does not hold (the file is "
                         "damaged)",
                         f->path);
    f->checked = true;
    return NULL;
}

gb_error *safetensors_read(safetensors **out, const char *path)
{
    *out = NULL;
    FILE *fp = fopen(path, "rb");
    if (!fp) return gb_errorf("%s: cannot open: %s", path, strerror(errno));
    uint8_t len8[8];
    gb_error *err = NULL;
    uint64_t hlen = 0;
    if (fread(len8, 1, 8, fp) != 8) err = gb_errorf("%s: too short for a safetensors file", path);
    for (int i = 0; i < 8; i++) hlen |= (uint64_t)len8[i] << (8 * i);
    if (!err && (fseek(fp, 0, SEEK_END) != 0))
        err = gb_errorf("%s: cannot seek: %s", path, strerror(errno));
    long size = err ? 0 : ftell(fp);
    if (!err && (size < 8 || hlen > (uint64_t)size - 8))
        err = gb_errorf("%s: header length %llu exceeds the file's %ld bytes (not a safetensors "
                        "file?)",
                        path, (unsigned long long)hlen, size);
    safetensors *f = err ? NULL : calloc(1, sizeof *f);
    char *text = err ? NULL : malloc(hlen + 1);
    if (!err && (!f || !text)) err = gb_errorf("%s: out of memory", path);
    if (!err) {
        snprintf(f->path, sizeof f->path, "%s", path);
        f->data_len = (size_t)size - 8 - hlen;
        f->data = malloc(f->data_len ? f->data_len : 1);
        if (!f->data) err = gb_errorf("%s: out of memory for %zu bytes", path, f->data_len);
    }
    if (!err && (fseek(fp, 8, SEEK_SET) != 0 || fread(text, 1, hlen, fp) != hlen ||
                 fread(f->data, 1, f->data_len, fp) != f->data_len))
        err = gb_errorf("%s: read failed", path);
    fclose(fp);
    /* A header is text: a NUL in it (which a C-string reader would stop at) is damage. */
    if (!err && memchr(text, '\0', hlen))
        err = gb_errorf("%s: the header holds a NUL byte (a damaged file?)", path);
    if (!err) {
        json_error_t je;
        text[hlen] = '\0';
        f->header = json_loadb(text, hlen, 0, &je);
        if (!f->header || !json_is_object(f->header))
            err = gb_errorf("%s: header is not a JSON object: %s (a damaged file?)", path, je.text);
    }
    if (!err) err = verify(f, text, hlen);
    free(text);
    if (err) {
        safetensors_free(f);
        return err;
    }
    *out = f;
    return NULL;
}

void safetensors_free(safetensors *f)
{
    if (!f) return;
    json_decref(f->header);
    free(f->data);
    free(f);
}

gb_error *safetensors_get(const safetensors *f, const char *name, st_dtype dtype, int ndim,
                          const int64_t *shape, void *dst)
{
    json_t *t = json_object_get(f->header, name);
    if (!t) return gb_errorf("%s: no tensor '%s'", f->path, name);
    const char *dt = json_string_value(json_object_get(t, "dtype"));
    if (!dt || strcmp(dt, dtype_names[dtype]))
        return gb_errorf("%s: tensor '%s': expected dtype %s, found %s", f->path, name,
                         dtype_names[dtype], dt ? dt : "none");
    json_t *sh = json_object_get(t, "shape"), *off = json_object_get(t, "data_offsets");
    if (!json_is_array(sh) || (int)json_array_size(sh) != ndim)
        return gb_errorf("%s: tensor '%s': expected %d dimensions", f->path, name, ndim);
    for (int i = 0; i < ndim; i++)
        if (json_integer_value(json_array_get(sh, (size_t)i)) != shape[i])
            return gb_errorf("%s: tensor '%s': dimension %d is %lld, expected %lld", f->path, name,
                             i, (long long)json_integer_value(json_array_get(sh, (size_t)i)),
                             (long long)shape[i]);
    json_int_t b = json_integer_value(json_array_get(off, 0));
    json_int_t e = json_integer_value(json_array_get(off, 1));
    size_t bytes = numel(ndim, shape) * dtype_sizes[dtype];
    if (!json_is_array(off) || b < 0 || e < b || (size_t)e > f->data_len ||
        (size_t)(e - b) != bytes)
        return gb_errorf("%s: tensor '%s': data_offsets [%lld, %lld] do not hold %zu bytes",
                         f->path, name, (long long)b, (long long)e, bytes);
    memcpy(dst, f->data + b, bytes);
    return NULL;
}

const char *safetensors_meta(const safetensors *f, const char *key)
{
    return json_string_value(json_object_get(json_object_get(f->header, "__metadata__"), key));
}

bool safetensors_checked(const safetensors *f)
{
    return f->checked;
}

int safetensors_count(const safetensors *f)
{
    int n = (int)json_object_size(f->header);
    return json_object_get(f->header, "__metadata__") ? n - 1 : n;
}

gb_error *safetensors_blob(const safetensors *f, const char *name, uint8_t **out, size_t *size)
{
    *out = NULL;
    json_t *shape = json_object_get(json_object_get(f->header, name), "shape");
    json_int_t n = json_integer_value(json_array_get(shape, 0));
    if (!json_is_array(shape) || json_array_size(shape) != 1 || n < 0 || (size_t)n > f->data_len)
        return gb_errorf("%s: no 1-D tensor '%s' within the file", f->path, name);
    int64_t dims[1] = {n};
    uint8_t *buf = malloc(n ? (size_t)n : 1);
    if (!buf) return gb_errorf("%s: out of memory for tensor '%s'", f->path, name);
    gb_error *err = safetensors_get(f, name, ST_U8, 1, dims, buf);
    if (err) {
        free(buf);
        return err;
    }
    *out = buf;
    *size = (size_t)n;
    return NULL;
}

bool safetensors_has(const safetensors *f, const char *name)
{
    return strcmp(name, "__metadata__") && json_object_get(f->header, name);
}

int64_t safetensors_dim(const safetensors *f, const char *name, int i)
{
    if (!safetensors_has(f, name)) return -1;
    const json_t *d =
        json_array_get(json_object_get(json_object_get(f->header, name), "shape"), (size_t)i);
    return json_is_integer(d) ? (int64_t)json_integer_value(d) : -1;
}
