/* Private to src/io. Writing a file so that a kill or a crash at any moment leaves either the
 * old file or the new one, never half of one: the bytes go to a temporary file beside it
 * (PATH.tmp), which is fsync'd and renamed over PATH, and then the directory is fsync'd too (the
 * rename lives there). config.json and the checkpoints are written this way. */
#ifndef GBFARM_IO_ATOMIC_FILE_H
#define GBFARM_IO_ATOMIC_FILE_H

#include <stddef.h>

#include "gbfarm/error.h"

typedef struct atomic_file {
    const char *path; /* the caller's, until atomic_file_commit */
    char *tmp;
    int fd;
    gb_error *err; /* the first failed write; the writes after it do nothing */
} atomic_file;

/* Creates PATH.tmp; a failure names it, the system's reason and then hint, where to look
 * ("is the run directory writable?"). */
gb_error *atomic_file_open(atomic_file *f, const char *path, const char *hint);
/* Appends n bytes; a failure is kept for atomic_file_commit, so a file is written with a run
 * of calls and one check at the end. */
void atomic_file_write(atomic_file *f, const void *data, size_t n);
/* fsync, close, rename over the path, fsync the directory; on any failure the temporary file
 * is removed and the path left as it was. Returns the first error; f is done with either way. */
gb_error *atomic_file_commit(atomic_file *f);

#endif
