/* Save-state files: a core's retro_serialize bytes, gzip-compressed — the format
 * stable-retro uses for its .state files, so those load unchanged. */
#ifndef GBFARM_STATE_H
#define GBFARM_STATE_H

#include <stddef.h>
#include <stdint.h>

#include "gbfarm/error.h"

/* Reads and decompresses a state file (plain, uncompressed files are read as they are). */
gb_error *state_read(const char *path, uint8_t **out, size_t *size);
/* Writes atomically: a temporary file beside path, fsync'd, then renamed over it. */
gb_error *state_write(const char *path, const void *data, size_t size);

#endif
