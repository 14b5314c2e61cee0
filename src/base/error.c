#include "gbfarm/error.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

struct gb_error {
    char msg[1]; /* allocated to the message's length */
};

static struct {
    char msg[16];
} out_of_memory = {"out of memory"};

static gb_error *vformat(const char *fmt, va_list ap)
{
    char probe[1];
    va_list ap2;
    va_copy(ap2, ap);
    int n = vsnprintf(probe, sizeof probe, fmt, ap2);
    va_end(ap2);
    if (n < 0) n = 0;
    gb_error *e = malloc(sizeof(gb_error) + (size_t)n);
    if (!e) return (gb_error *)&out_of_memory;
    vsnprintf(e->msg, (size_t)n + 1, fmt, ap);
    return e;
}

gb_error *gb_errorf(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    gb_error *e = vformat(fmt, ap);
    va_end(ap);
    return e;
}

gb_error *gb_error_wrap(gb_error *err, const char *fmt, ...)
{
    if (!err) return NULL;
    char ctx[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(ctx, sizeof ctx, fmt, ap);
    va_end(ap);
    gb_error *e = gb_errorf("%s: %s", ctx, gb_error_msg(err));
    gb_error_free(err);
    return e;
}

const char *gb_error_msg(const gb_error *err)
{
    return err ? err->msg : "no error";
}

void gb_error_free(gb_error *err)
{
    if (err && err != (gb_error *)&out_of_memory) free(err);
}

void gb_warnf(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("gbfarm: warning: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
}
