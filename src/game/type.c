/* stable-retro type strings ("|u1", "<u2", ">d4", "<>u4", ...) and their decoding, with
 * stable-retro's semantics (src/memory.cpp DataType): the last character is the size in
 * bytes, the one before it the kind, the first one or two the byte order. */
#include <string.h>

#include "vars.h"

static const char type_grammar[] =
    "[<>=|] or a middle-endian pair [<> >< >= <=], then u/i/d/n, then a size 1..8";

gb_error *game_parse_type(const char *s, game_type *out)
{
    size_t n = strlen(s);
    if (n < 3 || n > 4)
        return gb_errorf("type \"%s\": expected %s (e.g. \"|u1\", \"<u2\", \">d4\")", s,
                         type_grammar);
    char kind = s[n - 2], size = s[n - 1];
    game_type t = {0};
    if (size < '1' || size > '8')
        return gb_errorf("type \"%s\": expected a size 1..8 as the last character, found '%c'", s,
                         size);
    if (!strchr("uidn", kind))
        return gb_errorf("type \"%s\": expected kind u, i, d or n, found '%c'", s, kind);
    t.size = (uint8_t)(size - '0');
    t.kind = kind;
    if (n == 3) {
        if (!strchr("<>=|", s[0]))
            return gb_errorf("type \"%s\": expected byte order <, >, = or |, found '%c'", s, s[0]);
        /* '=' is native order (little-endian on every host gbfarm runs on); '|' is "not
         * applicable", which stable-retro decodes little-endian for sizes above 1. */
        t.big_endian = s[0] == '>';
    } else {
        /* "<=" reduces to little-endian on a little-endian host; the rest are middle-endian. */
        int pair = (unsigned char)s[0] << 8 | (unsigned char)s[1]; /* char may be signed */
        if (pair == ('<' << 8 | '=')) {
            t.big_endian = false;
        } else if (pair == ('<' << 8 | '>')) {
            t.big_endian = true, t.mixed = true;
        } else if (pair == ('>' << 8 | '<') || pair == ('>' << 8 | '=')) {
            t.big_endian = false, t.mixed = true;
        } else {
            return gb_errorf("type \"%s\": expected %s, found \"%c%c\"", s, type_grammar, s[0],
                             s[1]);
        }
        if (t.mixed && t.size != 4 && t.size != 8)
            return gb_errorf("type \"%s\": expected size 4 or 8 for middle endian, found %d", s,
                             t.size);
    }
    *out = t;
    return NULL;
}

/* The weight of byte i: byte significance in base 256 (u, i), 100 (d) or 10 (n). */
static int significance(const game_type *t, int i)
{
    int w = t->size;
    if (!t->mixed) return t->big_endian ? w - 1 - i : i;
    int half = w / 2, h = i / half, j = i % half;
    int in_half = t->big_endian ? half - 1 - j : j;
    /* halves are ordered opposite to the bytes inside them */
    int half_rank = t->big_endian ? h : 1 - h;
    return half_rank * half + in_half;
}

int64_t game_decode(const game_type *t, const uint8_t *bytes)
{
    uint64_t value = 0;
    for (int i = 0; i < t->size; i++) {
        uint8_t b = bytes[i];
        int k = significance(t, i);
        uint64_t digit, weight = 1;
        switch (t->kind) {
        case 'd':
            digit = (uint64_t)((b & 0xF) % 10 + (b >> 4) % 10 * 10);
            for (int e = 0; e < k; e++) weight *= 100;
            break;
        case 'n':
            digit = (uint64_t)((b & 0xF) % 10);
            for (int e = 0; e < k; e++) weight *= 10;
            break;
        default:
            digit = b;
            weight = (uint64_t)1 << (8 * k);
            break;
        }
        value += digit * weight;
    }
    if (t->kind == 'i' && t->size < 8) {
        uint64_t sign = (uint64_t)1 << (8 * t->size - 1);
        value = (value ^ sign) - sign;
    }
    return (int64_t)value;
}
