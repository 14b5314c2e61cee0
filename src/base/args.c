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

/* The setting's value as text: its default in --help, its entry in config.json. */
void args_value(const arg_option *op, const void *settings, char *buf, size_t n)
{
    const void *p = (const char *)settings + op->at;
    switch (op->kind) {
    case ARG_INT:
        snprintf(buf, n, "%d", *(const int *)p);
        break;
    case ARG_I64:
        snprintf(buf, n, "%lld", (long long)*(const int64_t *)p);
        break;
    case ARG_U64:
        snprintf(buf, n, "%llu", (unsigned long long)*(const uint64_t *)p);
        break;
    case ARG_F32:
        snprintf(buf, n, "%g", (double)*(const float *)p);
        break;
    case ARG_F64:
        snprintf(buf, n, "%g", *(const double *)p);
        break;
    case ARG_TEXT:
        snprintf(buf, n, "%s", *(const char *const *)p ? *(const char *const *)p : "");
        break;
    case ARG_ON:
    case ARG_OFF:
        snprintf(buf, n, "%s", *(const int *)p ? "true" : "false");
        break;
    case ARG_CHOICE:
        snprintf(buf, n, "default");
        for (int k = 0; k < 3 && op->names[k]; k++)
            if (op->values[k] == *(const int *)p) snprintf(buf, n, "%s", op->names[k]);
        break;
    }
}

void args_usage(FILE *to, const arg_option *opts, size_t n, const void *defaults)
{
    for (size_t i = 0; i < n; i++) {
        const arg_option *op = &opts[i];
        char head[64], def[64];
        snprintf(head, sizeof head, "%s%s%s", op->flag, op->arg ? " " : "", op->arg ? op->arg : "");
        args_value(op, defaults, def, sizeof def);
        if (strlen(head) > 21)
            fprintf(to, "  %s\n%24s", head, "");
        else
            fprintf(to, "  %-21s ", head);
        for (const char *c = op->help; *c; c++) {
            if (c[0] == '%' && c[1] == 'D') {
                fputs(def, to), c++;
            } else {
                fputc(*c, to);
                if (*c == '\n') fprintf(to, "%24s", "");
            }
        }
        fputc('\n', to);
    }
}

const arg_option *args_find(const arg_option *opts, size_t n, const char *flag)
{
    for (size_t i = 0; i < n; i++)
        if (!strcmp(flag, opts[i].flag)) return &opts[i];
    return NULL;
}

gb_error *args_set(const arg_option *op, const char *v, void *settings)
{
    void *p = (char *)settings + op->at;
    double x;
    long l;
    switch (op->kind) {
    case ARG_INT:
        return arg_int(op->flag, v, (int)op->lo, (int)op->hi, p);
    case ARG_I64:
        GB_TRY(arg_long(op->flag, v, (long)op->lo, (long)op->hi, &l));
        *(int64_t *)p = l;
        return NULL;
    case ARG_U64:
        return arg_u64(op->flag, v, p);
    case ARG_F32:
        GB_TRY(arg_double(op->flag, v, op->lo, op->hi, &x));
        *(float *)p = (float)x;
        return NULL;
    case ARG_F64:
        return arg_double(op->flag, v, op->lo, op->hi, p);
    case ARG_TEXT:
        if (!v) return gb_errorf("%s: expected a value, found nothing", op->flag);
        *(const char **)p = v;
        return NULL;
    case ARG_ON:
        *(int *)p = 1;
        return NULL;
    case ARG_OFF:
        *(int *)p = 0;
        return NULL;
    case ARG_CHOICE:
        for (int k = 0; k < 3 && op->names[k]; k++)
            if (v && !strcmp(v, op->names[k])) {
                *(int *)p = op->values[k];
                return NULL;
            }
        return gb_errorf("%s: expected '%s' or '%s', found '%s'", op->flag, op->names[0],
                         op->names[1], v ? v : "nothing");
    }
    return NULL;
}
