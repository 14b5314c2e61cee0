#include "atomic_file.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

gb_error *atomic_file_open(atomic_file *f, const char *path, const char *hint)
{
    *f = (atomic_file){.path = path, .fd = -1};
    size_t n = strlen(path) + strlen(".tmp") + 1;
    if (!(f->tmp = malloc(n))) return gb_errorf("%s: out of memory", path);
    snprintf(f->tmp, n, "%s.tmp", path);
    f->fd = open(f->tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (f->fd >= 0) return NULL;
    gb_error *err = gb_errorf("%s: cannot create: %s (%s)", f->tmp, strerror(errno), hint);
    free(f->tmp);
    f->tmp = NULL;
    return err;
}

void atomic_file_write(atomic_file *f, const void *data, size_t n)
{
    const char *c = data;
    while (!f->err && n > 0) {
        ssize_t w = write(f->fd, c, n);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0)
            f->err = gb_errorf("%s: write failed: %s (is the disk full?)", f->tmp, strerror(errno));
        else
            c += w, n -= (size_t)w;
    }
}

/* A rename lives in its directory: sync that too, or a crash may forget it. */
static void sync_dir(const char *path)
{
    char dir[4096];
    snprintf(dir, sizeof dir, "%s", path);
    char *slash = strrchr(dir, '/');
    if (slash == dir)
        slash[1] = '\0';
    else if (slash)
        *slash = '\0';
    else
        snprintf(dir, sizeof dir, ".");
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd >= 0) fsync(fd), close(fd);
}

gb_error *atomic_file_commit(atomic_file *f)
{
    gb_error *err = f->err;
    if (!err && fsync(f->fd) != 0) err = gb_errorf("%s: fsync failed: %s", f->tmp, strerror(errno));
    if (close(f->fd) != 0 && !err) err = gb_errorf("%s: close failed: %s", f->tmp, strerror(errno));
    if (!err && rename(f->tmp, f->path) != 0)
        err = gb_errorf("%s: cannot rename to %s: %s", f->tmp, f->path, strerror(errno));
    if (err)
        unlink(f->tmp);
    else
        sync_dir(f->path);
    free(f->tmp);
    *f = (atomic_file){.fd = -1};
    return err;
}
