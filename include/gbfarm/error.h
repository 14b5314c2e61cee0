/* One error type for all of gbfarm: a heap-allocated one-line message.
 * A function that can fail returns gb_error *: NULL on success. The message names the
 * file, key or flag, what was expected and what was found; the CLI prints it and exits 1
 * (2 when the command line itself is wrong). */
#ifndef GBFARM_ERROR_H
#define GBFARM_ERROR_H

typedef struct gb_error gb_error;

/* printf-style; never returns NULL (falls back to a static "out of memory" error). */
gb_error *gb_errorf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Prefixes context to err ("ctx: old message") and returns it; NULL passes through. */
gb_error *gb_error_wrap(gb_error *err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
const char *gb_error_msg(const gb_error *err);
void gb_error_free(gb_error *err);
/* Something the user should know that is not an error: "gbfarm: warning: ..." on stderr. */
void gb_warnf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Propagate a failing call: GB_TRY(core_open(...)); */
#define GB_TRY(expr)                                                                               \
    do {                                                                                           \
        gb_error *gb_try_err_ = (expr);                                                            \
        if (gb_try_err_) return gb_try_err_;                                                       \
    } while (0)

#endif
