/* Reading JSON values with errors that name the file, the key, what was expected and what was
 * found: the one place game files turn bad input into messages. */
#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "vars.h"

char *game_strdup(const char *s)
{
    size_t n = strlen(s) + 1;
    char *d = malloc(n);
    if (d) memcpy(d, s, n);
    return d;
}

char *game_join(const char *dir, const char *name)
{
    size_t a = strlen(dir), b = strlen(name);
    char *p = malloc(a + b + 2);
    if (!p) return NULL;
    memcpy(p, dir, a);
    size_t at = a;
    if (a && dir[a - 1] != '/') p[at++] = '/';
    memcpy(p + at, name, b + 1);
    return p;
}

bool game_file_exists(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

gb_error *game_json_load(json_t **out, const char *file)
{
    FILE *f = fopen(file, "rb");
    if (!f) return gb_errorf("%s: cannot open: %s", file, strerror(errno));
    json_error_t jerr;
    json_t *root = json_loadf(f, JSON_REJECT_DUPLICATES, &jerr);
    fclose(f);
    if (!root)
        return gb_errorf("%s:%d:%d: JSON syntax error: %s", file, jerr.line, jerr.column,
                         jerr.text);
    if (!json_is_object(root)) {
        gb_error *e = game_key_error(file, "(top level)", "a JSON object", root);
        json_decref(root);
        return e;
    }
    *out = root;
    return NULL;
}

static const char *type_name(const json_t *v)
{
    switch (json_typeof(v)) {
    case JSON_OBJECT:
        return "object";
    case JSON_ARRAY:
        return "array";
    case JSON_STRING:
        return "string";
    case JSON_INTEGER:
        return "integer";
    case JSON_REAL:
        return "number";
    case JSON_TRUE:
    case JSON_FALSE:
        return "boolean";
    case JSON_NULL:
        return "null";
    }
    return "value";
}

gb_error *game_key_error(const char *file, const char *key, const char *expected,
                         const json_t *found)
{
    char shown[64] = "";
    char *text = found ? json_dumps(found, JSON_ENCODE_ANY | JSON_COMPACT) : NULL;
    if (text) {
        size_t n = strlen(text);
        if (n >= sizeof shown) memcpy(text + sizeof shown - 4, "...", 4);
        snprintf(shown, sizeof shown, " %s", text);
        free(text);
    }
    return gb_errorf("%s: %s: expected %s, found %s%s", file, key, expected,
                     found ? type_name(found) : "nothing", shown);
}

gb_error *game_missing_key(const char *file, const char *key, const char *expected)
{
    return gb_errorf("%s: missing required key '%s' (expected %s)", file, key, expected);
}

gb_error *game_read_int(const char *file, const char *key, const json_t *v, int64_t min,
                        int64_t max, int64_t *out)
{
    char expected[96];
    snprintf(expected, sizeof expected, "an integer in %" PRId64 "..%" PRId64, min, max);
    int64_t x;
    if (json_is_integer(v)) {
        x = json_integer_value(v);
    } else if (json_is_real(v) && fabs(json_real_value(v)) < 9e18 &&
               json_real_value(v) == trunc(json_real_value(v))) {
        x = (int64_t)json_real_value(v); /* 4.0 is 4: stable-retro tools write such numbers */
    } else {
        return game_key_error(file, key, expected, v);
    }
    if (x < min || x > max) return game_key_error(file, key, expected, v);
    *out = x;
    return NULL;
}

void *game_alloc_list(const char *file, const char *key, const json_t *list, const char *expected,
                      size_t size, gb_error **err)
{
    *err = NULL;
    if (!json_is_array(list) || json_array_size(list) == 0) {
        *err = game_key_error(file, key, expected, list);
        return NULL;
    }
    void *items = calloc(json_array_size(list), size);
    if (!items) *err = gb_errorf("%s: out of memory", file);
    return items;
}

void *game_alloc_entries(const char *file, const char *key, const json_t *obj, size_t size,
                         gb_error **err)
{
    *err = NULL;
    if (!json_is_object(obj)) {
        *err = game_key_error(file, key, "an object", obj);
        return NULL;
    }
    size_t n = json_object_size(obj);
    void *entries = calloc(n ? n : 1, size); /* calloc(0) may be NULL, which is not an error */
    if (!entries) *err = gb_errorf("%s: out of memory", file);
    return entries;
}

gb_error *game_list_string(const char *file, const char *key, const json_t *list, size_t i,
                           const char *expected, char *item_key, size_t key_size, const char **out)
{
    snprintf(item_key, key_size, "%s[%zu]", key, i);
    const json_t *v = json_array_get(list, i);
    if (!json_is_string(v)) return game_key_error(file, item_key, expected, v);
    *out = json_string_value(v);
    return NULL;
}

gb_error *game_read_number(const char *file, const char *key, const json_t *v, double *out)
{
    if (!json_is_number(v)) return game_key_error(file, key, "a number", v);
    *out = json_number_value(v);
    return NULL;
}

/* A bus address or mask: a number, or a string in hex ("0xD362") or decimal. */
static gb_error *read_u64(const char *file, const char *key, const json_t *v, uint64_t max,
                          const char *expected, uint64_t *out)
{
    uint64_t x;
    if (json_is_integer(v)) {
        if (json_integer_value(v) < 0) return game_key_error(file, key, expected, v);
        x = (uint64_t)json_integer_value(v);
    } else if (json_is_string(v)) {
        const char *s = json_string_value(v);
        char *end;
        errno = 0;
        x = strtoull(s, &end, 0);
        if (!isdigit((unsigned char)s[0]) || *end || errno)
            return game_key_error(file, key, expected, v);
    } else {
        return game_key_error(file, key, expected, v);
    }
    if (x > max) return game_key_error(file, key, expected, v);
    *out = x;
    return NULL;
}

gb_error *game_read_u32(const char *file, const char *key, const json_t *v, uint32_t *out)
{
    uint64_t x = 0;
    GB_TRY(read_u64(file, key, v, UINT32_MAX,
                    "an address: a number or a hex string such as \"0xD362\", below 2^32", &x));
    *out = (uint32_t)x;
    return NULL;
}

gb_error *game_read_mask(const char *file, const char *key, const json_t *v, uint64_t *out)
{
    return read_u64(file, key, v, UINT64_MAX, "a mask: a number or a hex string such as \"0x0F\"",
                    out);
}

gb_error *game_read_sha1(const char *file, const char *key, const char *text, char out[41])
{
    size_t n = strlen(text);
    bool ok = n == 40;
    for (size_t i = 0; ok && i < n; i++) ok = isxdigit((unsigned char)text[i]);
    if (!ok) {
        json_t *s = json_string(text);
        gb_error *e = game_key_error(file, key, "a SHA-1: 40 hex digits", s);
        json_decref(s);
        return e;
    }
    for (size_t i = 0; i < 40; i++) out[i] = (char)tolower((unsigned char)text[i]);
    out[40] = '\0';
    return NULL;
}
