/* A minimal test harness: CHECK records a failure and goes on; CHECK_OK fails on a gb_error.
 * Each test binary ends with check_summary(), which prints "N passed, N failed" and returns
 * the exit status (77 = skipped, for tests whose inputs are absent). */
#ifndef GBFARM_TESTS_CHECK_H
#define GBFARM_TESTS_CHECK_H

#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "gbfarm/error.h"

static int check_passed, check_failed;

#define CHECK(cond)                                                                                \
    do {                                                                                           \
        if (cond) {                                                                                \
            check_passed++;                                                                        \
        } else {                                                                                   \
            check_failed++;                                                                        \
            fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #cond);               \
        }                                                                                          \
    } while (0)

#define CHECKF(cond, ...)                                                                          \
    do {                                                                                           \
        if (cond) {                                                                                \
            check_passed++;                                                                        \
        } else {                                                                                   \
            check_failed++;                                                                        \
            fprintf(stderr, "%s:%d: CHECK failed: %s: ", __FILE__, __LINE__, #cond);               \
            fprintf(stderr, __VA_ARGS__);                                                          \
            fputc('\n', stderr);                                                                   \
        }                                                                                          \
    } while (0)

/* Fails the check (and prints the message) when expr returns an error. */
#define CHECK_OK(expr)                                                                             \
    do {                                                                                           \
        gb_error *check_err_ = (expr);                                                             \
        CHECKF(check_err_ == NULL, "%s", gb_error_msg(check_err_));                                \
        gb_error_free(check_err_);                                                                 \
    } while (0)

/* Aborts the test binary: for preconditions later checks cannot do without. */
#define REQUIRE(cond)                                                                              \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "%s:%d: REQUIRE failed: %s\n", __FILE__, __LINE__, #cond);             \
            exit(1);                                                                               \
        }                                                                                          \
    } while (0)

#define REQUIRE_OK(expr)                                                                           \
    do {                                                                                           \
        gb_error *check_err_ = (expr);                                                             \
        if (check_err_) {                                                                          \
            fprintf(stderr, "%s:%d: REQUIRE_OK failed: %s\n", __FILE__, __LINE__,                  \
                    gb_error_msg(check_err_));                                                     \
            exit(1);                                                                               \
        }                                                                                          \
    } while (0)

static inline int check_summary(void)
{
    printf("%d passed, %d failed\n", check_passed, check_failed);
    return check_failed ? 1 : 0;
}

static inline int check_skip(const char *why)
{
    printf("skipped: %s\n", why);
    return 77;
}

#endif
