#include "gbfarm/args.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

gb_error *arg_long(const char *flag, const char *text, long min, long max, long *out)
{
    if (!text) return gb_errorf("%s: expected a number, found nothing", flag);
    char *end;
    errno = 0;
    long v = strtol(text, &end, 0);
    if (end == text || *end != '\0' || errno == ERANGE)
        return gb_errorf("%s: expected an integer, found '%s'", flag, text);
    if (v < min || v > max)
        return gb_errorf("%s: expected an integer in [%ld, %ld], found %ld", flag, min, max, v);
    *out = v;
    return NULL;
}

gb_error *arg_int(const char *flag, const char *text, int min, int max, int *out)
{
    long v = 0;
    GB_TRY(arg_long(flag, text, min, max, &v));
    *out = (int)v;
    return NULL;
}

gb_error *arg_u64(const char *flag, const char *text, uint64_t *out)
{
    if (!text) return gb_errorf("%s: expected a number, found nothing", flag);
    char *end;
    errno = 0;
    unsigned long long v = strtoull(text, &end, 0);
    if (end == text || *end != '\0' || errno == ERANGE || text[0] == '-')
        return gb_errorf("%s: expected a non-negative integer, found '%s'", flag, text);
    *out = v;
    return NULL;
}

gb_error *arg_double(const char *flag, const char *text, double min, double max, double *out)
{
    if (!text) return gb_errorf("%s: expected a number, found nothing", flag);
    char *end;
    errno = 0;
    double v = strtod(text, &end);
    if (end == text || *end != '\0' || errno == ERANGE || v != v)
        return gb_errorf("%s: expected a number, found '%s'", flag, text);
    if (v < min || v > max)
        return gb_errorf("%s: expected a number in [%g, %g], found %g", flag, min, max, v);
    *out = v;
    return NULL;
}

gb_error *arg_int_list(const char *flag, const char *text, int min, int max, int *out, int cap,
                       int *count)
{
    if (!text || !*text) return gb_errorf("%s: expected a list like 1,2,4, found nothing", flag);
    *count = 0;
    const char *p = text;
    for (;;) {
        const char *comma = strchr(p, ',');
        size_t len = comma ? (size_t)(comma - p) : strlen(p);
        char item[32];
        if (len == 0 || len >= sizeof item)
            return gb_errorf("%s: expected a list like 1,2,4, found '%s'", flag, text);
        memcpy(item, p, len);
        item[len] = '\0';
        if (*count == cap) return gb_errorf("%s: at most %d values, found more", flag, cap);
        GB_TRY(arg_int(flag, item, min, max, &out[(*count)++]));
        if (!comma) return NULL;
        p = comma + 1;
    }
}
