/* Shared by the fuzz harnesses: the loaders under test read files, so each input is written to
 * a scratch folder, on tmpfs when there is one, made once per process and removed at exit.
 * A failure here is the harness's, not the library's: it aborts with a message. */
#ifndef GBFARM_FUZZ_FILE_H
#define GBFARM_FUZZ_FILE_H

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static char fuzz_dir[256];

static inline int fuzz_remove_entry(const char *path, const struct stat *st, int flag,
                                    struct FTW *ftw)
{
    (void)st, (void)flag, (void)ftw;
    remove(path);
    return 0;
}

static inline void fuzz_remove_dir(void)
{
    if (fuzz_dir[0]) nftw(fuzz_dir, fuzz_remove_entry, 8, FTW_DEPTH | FTW_PHYS);
}

static inline void fuzz_die(const char *what, const char *path)
{
    fprintf(stderr, "fuzz harness: %s %s: %s\n", what, path, strerror(errno));
    abort();
}

/* The scratch folder, made on first use. */
static inline const char *fuzz_scratch(void)
{
    if (fuzz_dir[0]) return fuzz_dir;
    const char *base = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : getenv("TMPDIR");
    snprintf(fuzz_dir, sizeof fuzz_dir, "%s/gbfarm-fuzz-XXXXXX", base ? base : "/tmp");
    if (!mkdtemp(fuzz_dir)) fuzz_die("cannot make", fuzz_dir);
    atexit(fuzz_remove_dir);
    return fuzz_dir;
}

/* path inside the scratch folder; the result lives until the next call. */
static inline const char *fuzz_path(const char *name)
{
    static char path[512];
    snprintf(path, sizeof path, "%s/%s", fuzz_scratch(), name);
    return path;
}

static inline void fuzz_mkdir(const char *path)
{
    if (mkdir(path, 0755) != 0 && errno != EEXIST) fuzz_die("cannot make", path);
}

static inline void fuzz_write(const char *path, const void *data, size_t size)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) fuzz_die("cannot create", path);
    const uint8_t *p = data;
    while (size > 0) {
        ssize_t n = write(fd, p, size);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) fuzz_die("cannot write", path);
        p += n, size -= (size_t)n;
    }
    if (close(fd) != 0) fuzz_die("cannot close", path);
}

/* The input as a C string (cut at its first NUL byte); free() it. */
static inline char *fuzz_cstring(const uint8_t *data, size_t size)
{
    char *s = malloc(size + 1);
    if (!s) abort();
    memcpy(s, data, size);
    s[size] = '\0';
    return s;
}

/* A broken invariant: report it and crash so libFuzzer saves the input. */
#define FUZZ_ASSERT(cond)                                                                          \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "%s:%d: invariant failed: %s\n", __FILE__, __LINE__, #cond);           \
            abort();                                                                               \
        }                                                                                          \
    } while (0)

#endif
