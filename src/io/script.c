/* Input scripts, the file format: parsing and loading (playback: src/env/script.c). */
#include "gbfarm/script.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gbfarm/game.h"

int script_button(const char *name, int len)
{
    return len < 0 ? -1 : game_button_bit(name, (size_t)len, true);
}

static gb_error *parse_combo(const char *p, int len, uint16_t *out, const char *name, int line)
{
    *out = 0;
    if ((len == 1 && *p == '-') || (len == 4 && !strncasecmp(p, "NONE", 4))) return NULL;
    while (len > 0) {
        int n = 0;
        while (n < len && p[n] != '+') n++;
        int bit = script_button(p, n);
        if (bit < 0)
            return gb_errorf("%s:%d: unknown button '%.*s' (expected A B SELECT START UP DOWN "
                             "LEFT RIGHT L R X Y, joined by '+', or '-' for none)",
                             name, line, n, p);
        *out |= (uint16_t)(1u << bit);
        p += n + 1;
        len -= n + 1;
    }
    return NULL;
}

gb_error *script_parse(script *out, const char *text, const char *name)
{
    memset(out, 0, sizeof *out);
    int cap = 0, line = 0;
    for (const char *p = text; *p;) {
        const char *eol = strchr(p, '\n');
        size_t n = eol ? (size_t)(eol - p) : strlen(p);
        line++;
        char buf[256];
        if (n >= sizeof buf) {
            script_free(out);
            return gb_errorf("%s:%d: line too long", name, line);
        }
        memcpy(buf, p, n);
        buf[n] = '\0';
        p += n + (eol ? 1 : 0);
        char *hash = strchr(buf, '#');
        if (hash) *hash = '\0';
        char combo[128], extra[8];
        long frames;
        int fields = sscanf(buf, " %127s %ld %7s", combo, &frames, extra);
        if (fields <= 0) continue; /* blank or comment */
        if (fields != 2 || frames < 1 || frames > 10000000) {
            script_free(out);
            return gb_errorf("%s:%d: expected 'BUTTONS FRAMES' (e.g. 'RIGHT 16' or '- 60'), found "
                             "'%s'",
                             name, line, buf);
        }
        uint16_t buttons;
        gb_error *err = parse_combo(combo, (int)strlen(combo), &buttons, name, line);
        if (err) {
            script_free(out);
            return err;
        }
        if (out->n_lines == cap) {
            cap = cap ? cap * 2 : 64;
            script_line *grown = realloc(out->lines, (size_t)cap * sizeof *grown);
            if (!grown) {
                script_free(out);
                return gb_errorf("%s: out of memory", name);
            }
            out->lines = grown;
        }
        out->lines[out->n_lines++] = (script_line){buttons, (uint32_t)frames};
        out->total_frames += (uint64_t)frames;
    }
    return NULL;
}

gb_error *script_load(script *out, const char *path)
{
    memset(out, 0, sizeof *out);
    FILE *f = fopen(path, "rb");
    if (!f) return gb_errorf("%s: cannot open input script: %s", path, strerror(errno));
    char *text = NULL;
    size_t len = 0;
    FILE *mem = open_memstream(&text, &len);
    char buf[4096];
    size_t n;
    while (mem && (n = fread(buf, 1, sizeof buf, f)) > 0) fwrite(buf, 1, n, mem);
    bool failed = ferror(f) || !mem;
    fclose(f);
    if (mem) fclose(mem);
    gb_error *err =
        failed ? gb_errorf("%s: cannot read input script", path) : script_parse(out, text, path);
    free(text);
    return err;
}

void script_free(script *s)
{
    free(s->lines);
    memset(s, 0, sizeof *s);
}
