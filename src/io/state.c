#include "gbfarm/state.h"

#include <errno.h>
#include <stdbool.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>

gb_error *state_read(const char *path, uint8_t **out, size_t *size)
{
    *out = NULL;
    *size = 0;
    gzFile gz = gzopen(path, "rb");
    if (!gz) return gb_errorf("%s: cannot open state: %s", path, strerror(errno));
    size_t cap = 1 << 18, len = 0;
    uint8_t *buf = malloc(cap);
    int n = 0;
    while (buf) {
        if (len == cap) {
            uint8_t *grown = cap < (1u << 28) ? realloc(buf, cap * 2) : NULL;
            if (!grown) break;
            buf = grown;
            cap *= 2;
        }
        n = gzread(gz, buf + len, (unsigned)(cap - len));
        if (n <= 0) break;
        len += (size_t)n;
    }
    int errnum = Z_OK;
    const char *why = n < 0 ? gzerror(gz, &errnum) : NULL;
    char reason[128];
    snprintf(reason, sizeof reason, "%s", why ? why : "");
    int closed = gzclose(gz);
    if (!buf || len == cap) {
        free(buf);
        return gb_errorf("%s: state too large or out of memory", path);
    }
    if (n < 0 || closed != Z_OK) {
        free(buf);
        return gb_errorf("%s: corrupt or truncated gzip state (%s)", path,
                         n < 0                   ? reason
                         : closed == Z_BUF_ERROR ? "unexpected end of file"
                                                 : "bad checksum or data");
    }
    if (len == 0) {
        free(buf);
        return gb_errorf("%s: state file is empty", path);
    }
    *out = buf;
    *size = len;
    return NULL;
}

gb_error *state_write(const char *path, const void *data, size_t size)
{
    char tmp[4096];
    if (snprintf(tmp, sizeof tmp, "%s.tmp.%ld", path, (long)getpid()) >= (int)sizeof tmp)
        return gb_errorf("%s: path too long", path);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) return gb_errorf("%s: cannot write state: %s", path, strerror(errno));
    gzFile gz = gzdopen(fd, "wb6"); /* owns fd from here */
    if (!gz) {
        close(fd);
        unlink(tmp);
        return gb_errorf("%s: cannot write state: out of memory", path);
    }
    errno = 0;
    bool ok = gzwrite(gz, data, (unsigned)size) == (int)size;
    ok = ok && gzflush(gz, Z_FINISH) == Z_OK && fsync(fd) == 0;
    int saved = errno;
    ok = gzclose(gz) == Z_OK && ok;
    if (ok && rename(tmp, path) == 0) return NULL;
    if (!saved) saved = errno ? errno : EIO;
    unlink(tmp);
    return gb_errorf("%s: cannot write state: %s", path, strerror(saved));
}
