/* Command-line values: each parse names the flag and what was expected when it fails. */
#ifndef GBFARM_ARGS_H
#define GBFARM_ARGS_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "gbfarm/error.h"

gb_error *arg_long(const char *flag, const char *text, long min, long max, long *out);
gb_error *arg_int(const char *flag, const char *text, int min, int max, int *out);
gb_error *arg_u64(const char *flag, const char *text, uint64_t *out);
gb_error *arg_double(const char *flag, const char *text, double min, double max, double *out);
/* A comma-separated list of ints ("1,2,4"), each in [min, max]; at most cap of them. */
gb_error *arg_int_list(const char *flag, const char *text, int min, int max, int *out, int cap,
                       int *count);

/* A table of options (one entry per flag) that drives a command's usage text, its parser and
 * whatever records the settings (e.g. a run's config.json): each entry says where in a
 * settings struct its value lives. */
typedef enum arg_kind {
    ARG_INT,    /* int in [lo, hi] */
    ARG_I64,    /* int64_t in [lo, hi] */
    ARG_U64,    /* uint64_t */
    ARG_F32,    /* float in [lo, hi] */
    ARG_F64,    /* double in [lo, hi] */
    ARG_TEXT,   /* const char * */
    ARG_ON,     /* a switch: int set to 1 */
    ARG_OFF,    /* a switch: int set to 0 */
    ARG_CHOICE, /* int: one of names[] to values[] */
} arg_kind;

typedef struct arg_option {
    const char *flag, *arg; /* "--lr", "X"; arg NULL for a switch */
    arg_kind kind;
    size_t at; /* where in the settings struct: offsetof(...) */
    double lo, hi;
    const char *key;  /* its config.json key; NULL: not a setting of the run */
    const char *help; /* lines after the first indented; "%D" is replaced by the default */
    const char *names[3];
    int values[3];
} arg_option;

/* The usage lines of opts, each default read from `defaults` (a settings struct). */
void args_usage(FILE *to, const arg_option *opts, size_t n, const void *defaults);
/* The entry for flag, or NULL. */
const arg_option *args_find(const arg_option *opts, size_t n, const char *flag);
/* Parses value (NULL for a switch, or when missing) into settings. */
gb_error *args_set(const arg_option *op, const char *value, void *settings);
/* The setting's value as text: "%g" for reals, "true"/"false" for switches, a choice's name
 * ("default" for none of them). */
void args_value(const arg_option *op, const void *settings, char *buf, size_t n);

#endif
