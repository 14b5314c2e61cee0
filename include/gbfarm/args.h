/* Command-line values: each parse names the flag and what was expected when it fails. */
#ifndef GBFARM_ARGS_H
#define GBFARM_ARGS_H

#include <stdint.h>

#include "gbfarm/error.h"

gb_error *arg_long(const char *flag, const char *text, long min, long max, long *out);
gb_error *arg_int(const char *flag, const char *text, int min, int max, int *out);
gb_error *arg_u64(const char *flag, const char *text, uint64_t *out);
gb_error *arg_double(const char *flag, const char *text, double min, double max, double *out);
/* A comma-separated list of ints ("1,2,4"), each in [min, max]; at most cap of them. */
gb_error *arg_int_list(const char *flag, const char *text, int min, int max, int *out, int cap,
                       int *count);

#endif
