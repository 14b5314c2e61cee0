/* The safetensors format, so PyTorch users can load gbfarm checkpoints with the safetensors
 * library: an 8-byte little-endian header length N, N bytes of JSON
 *   {"name": {"dtype": "F32", "shape": [..], "data_offsets": [begin, end]}, ...,
 *    "__metadata__": {"key": "value", ...}}
 * padded with spaces to a multiple of 8, then the raw little-endian tensor bytes; offsets are
 * relative to the end of the header. Writes go to a temporary file, fsync, rename (and fsync of
 * the directory).
 *
 * Integrity: gbfarm's files carry a CRC-32 of every tensor's bytes ("crc32:<name>" in
 * __metadata__) and one of the header itself ("crc32", taken with its own value as
 * "00000000"). safetensors_read verifies them all; a file without any (older, or another
 * program's) still reads, and safetensors_checked() says so. */
#ifndef GBFARM_SAFETENSORS_H
#define GBFARM_SAFETENSORS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "gbfarm/error.h"

typedef enum st_dtype { ST_F32, ST_I64, ST_U64, ST_U8 } st_dtype;

typedef struct st_tensor {
    const char *name;
    st_dtype dtype;
    int ndim; /* 0..4 */
    int64_t shape[4];
    const void *data;
} st_tensor;

/* meta: n_meta key/value pairs as meta[2k], meta[2k+1]; NULL when n_meta is 0. */
gb_error *safetensors_write(const char *path, const st_tensor *tensors, int n,
                            const char *const *meta, int n_meta);

typedef struct safetensors safetensors;
gb_error *safetensors_read(safetensors **out, const char *path);
void safetensors_free(safetensors *f);
/* Copies tensor `name` into dst after checking its dtype and shape against the expected. */
gb_error *safetensors_get(const safetensors *f, const char *name, st_dtype dtype, int ndim,
                          const int64_t *shape, void *dst);
/* A 1-D U8 tensor of any length (an opaque blob), copied into a malloc'd buffer. */
gb_error *safetensors_blob(const safetensors *f, const char *name, uint8_t **out, size_t *size);
/* A __metadata__ value, or NULL. */
const char *safetensors_meta(const safetensors *f, const char *key);
int safetensors_count(const safetensors *f);
/* The file carried checksums and they all matched (false: a file without them). */
bool safetensors_checked(const safetensors *f);
/* Whether the file holds a tensor of that name. */
bool safetensors_has(const safetensors *f, const char *name);
/* Dimension i of tensor `name`, or -1 when the file has no such tensor or dimension. */
int64_t safetensors_dim(const safetensors *f, const char *name, int i);

#endif
