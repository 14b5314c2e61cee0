/* Type strings decode as stable-retro decodes them: every kind, byte order and size. */
#include <stdint.h>
#include <string.h>

#include "check.h"
#include "gbfarm/game.h"

static int64_t dec(const char *type, const uint8_t *bytes)
{
    game_type t;
    gb_error *err = game_parse_type(type, &t);
    if (err) {
        fprintf(stderr, "parse %s: %s\n", type, gb_error_msg(err));
        gb_error_free(err);
        return INT64_MIN + 12345;
    }
    return game_decode(&t, bytes);
}

#define CHECK_DEC(type, bytes, want)                                                               \
    do {                                                                                           \
        int64_t got_ = dec(type, bytes);                                                           \
        CHECKF(got_ == (int64_t)(want), "%s: got %lld (0x%llx), want %lld", type, (long long)got_, \
               (unsigned long long)got_, (long long)(want));                                       \
    } while (0)

static void unsigned_ints(void)
{
    static const uint8_t b[8] = {0x12, 0x34, 0x56, 0x78, 0x9A, 0xBC, 0xDE, 0xF0};
    CHECK_DEC("|u1", b, 0x12);
    CHECK_DEC("<u1", b, 0x12);
    CHECK_DEC(">u1", b, 0x12);
    CHECK_DEC("=u1", b, 0x12);
    CHECK_DEC("<u2", b, 0x3412);
    CHECK_DEC(">u2", b, 0x1234);
    CHECK_DEC("=u2", b, 0x3412);
    CHECK_DEC("|u2", b, 0x3412); /* stable-retro: undefined order decodes little-endian */
    CHECK_DEC("<u3", b, 0x563412);
    CHECK_DEC(">u3", b, 0x123456);
    CHECK_DEC("<u4", b, 0x78563412);
    CHECK_DEC(">u4", b, 0x12345678);
    CHECK_DEC("=u4", b, 0x78563412);
    CHECK_DEC("<u5", b, 0x9A78563412LL);
    CHECK_DEC(">u5", b, 0x123456789ALL);
    CHECK_DEC("<u6", b, 0xBC9A78563412LL);
    CHECK_DEC(">u6", b, 0x123456789ABCLL);
    CHECK_DEC("<u7", b, 0xDEBC9A78563412LL);
    CHECK_DEC(">u7", b, 0x123456789ABCDELL);
    CHECK_DEC(">u8", b, 0x123456789ABCDEF0LL);
    /* above INT64_MAX wraps to negative, as in stable-retro */
    CHECK_DEC("<u8", b, (int64_t)0xF0DEBC9A78563412ULL);
    static const uint8_t ff[8] = {0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF};
    CHECK_DEC("|u1", ff, 255);
    CHECK_DEC("<u2", ff, 65535);
    CHECK_DEC(">u4", ff, 4294967295LL);
    CHECK_DEC(">u8", ff, -1);
}

static void signed_ints(void)
{
    static const uint8_t m[8] = {0x80, 0x7F, 0xFF, 0xFE, 0x00, 0x00, 0x00, 0x80};
    CHECK_DEC("|i1", m, -128);
    CHECK_DEC("|i1", m + 1, 127);
    CHECK_DEC("|i1", m + 2, -1);
    CHECK_DEC("<i2", m + 2, -257); /* 0xFEFF */
    CHECK_DEC(">i2", m + 2, -2);   /* 0xFFFE */
    CHECK_DEC(">i2", m, -32641);   /* 0x807F */
    CHECK_DEC("<i2", m, 0x7F80);   /* positive */
    CHECK_DEC("<i3", m + 5, 0x800000 - 0x1000000);
    CHECK_DEC(">i3", m + 1, 0x7FFFFE);
    static const uint8_t n4[4] = {0x80, 0x00, 0x00, 0x01};
    CHECK_DEC(">i4", n4, -2147483647LL);
    CHECK_DEC("<i4", n4, 0x01000080);
    static const uint8_t n5[5] = {0xFF, 0xFF, 0xFF, 0xFF, 0xFE};
    CHECK_DEC(">i5", n5, -2);
    CHECK_DEC("<i5", n5, -0x100000001LL); /* 0xFEFFFFFFFF */
    static const uint8_t n6[6] = {0x00, 0x00, 0x00, 0x00, 0x00, 0x80};
    CHECK_DEC("<i6", n6, -(1LL << 47));
    static const uint8_t n7[7] = {0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x7F};
    CHECK_DEC("<i7", n7, (1LL << 55) - 1);
    CHECK_DEC(">i7", n7, -129); /* 0xFFFFFFFFFFFF7F */
    static const uint8_t n8[8] = {0, 0, 0, 0, 0, 0, 0, 0x80};
    CHECK_DEC("<i8", n8, INT64_MIN);
    CHECK_DEC(">i8", n8, 0x80);
    CHECK_DEC("=i2", m + 2, -257);
}

static void bcd(void)
{
    static const uint8_t d[8] = {0x12, 0x34, 0x56, 0x78, 0x90, 0x12, 0x34, 0x56};
    CHECK_DEC(">d1", d, 12);
    CHECK_DEC("|d1", d + 2, 56);
    CHECK_DEC(">d2", d, 1234);
    CHECK_DEC("<d2", d, 3412);
    CHECK_DEC(">d3", d, 123456);
    CHECK_DEC("<d3", d, 563412);
    CHECK_DEC(">d4", d, 12345678);
    CHECK_DEC("<d4", d, 78563412);
    CHECK_DEC(">d5", d, 1234567890LL);
    CHECK_DEC(">d6", d, 123456789012LL);
    CHECK_DEC(">d7", d, 12345678901234LL);
    CHECK_DEC(">d8", d, 1234567890123456LL);
    CHECK_DEC("<d8", d, 5634129078563412LL);
    static const uint8_t nines[4] = {0x99, 0x99, 0x99, 0x99};
    CHECK_DEC(">d4", nines, 99999999);
    /* nibbles above 9 count modulo 10, as in stable-retro: 0xA reads 0, 0xF reads 5 */
    static const uint8_t hi[2] = {0xAF, 0xFA};
    CHECK_DEC("|d1", hi, 5);
    CHECK_DEC("|d1", hi + 1, 50);
    CHECK_DEC(">d2", hi, 550);

    static const uint8_t n[8] = {1, 2, 3, 4, 5, 6, 7, 8};
    CHECK_DEC(">n1", n, 1);
    CHECK_DEC(">n2", n, 12);
    CHECK_DEC("<n2", n, 21);
    CHECK_DEC(">n6", n, 123456);
    CHECK_DEC("<n6", n, 654321);
    CHECK_DEC("=n2", n, 21);
    CHECK_DEC(">n8", n, 12345678);
    CHECK_DEC("<n8", n, 87654321);
    /* the high nibble is ignored; a low nibble above 9 counts modulo 10 */
    static const uint8_t nh[3] = {0xF1, 0x32, 0x0C};
    CHECK_DEC(">n2", nh, 12);
    CHECK_DEC("|n1", nh + 2, 2);
}

static void middle_endian(void)
{
    static const uint8_t lb[4] = {0x03, 0x04, 0x01, 0x02}; /* stable-retro's "<>u4" example */
    CHECK_DEC("<>u4", lb, 0x01020304);
    static const uint8_t bl[4] = {0x02, 0x01, 0x04, 0x03};
    CHECK_DEC("><u4", bl, 0x01020304);
    CHECK_DEC(">=u4", bl, 0x01020304); /* big words, native (little) bytes */
    static const uint8_t lb8[8] = {0x05, 0x06, 0x07, 0x08, 0x01, 0x02, 0x03, 0x04};
    CHECK_DEC("<>u8", lb8, 0x0102030405060708LL);
    static const uint8_t le[2] = {0x34, 0x12};
    CHECK_DEC("<=u2", le, 0x1234);
    static const uint8_t neg[4] = {0xFF, 0xFE, 0xFF, 0xFF};
    CHECK_DEC("<>i4", neg, -2); /* 0xFFFFFFFE */
    static const uint8_t dd[4] = {0x56, 0x78, 0x12, 0x34};
    CHECK_DEC("<>d4", dd, 12345678);
}

static void parsed_fields(void)
{
    game_type t;
    CHECK_OK(game_parse_type(">d4", &t));
    CHECK(t.size == 4 && t.big_endian && t.kind == 'd' && !t.mixed);
    CHECK_OK(game_parse_type("|u1", &t));
    CHECK(t.size == 1 && !t.big_endian && t.kind == 'u');
    CHECK_OK(game_parse_type("<>u4", &t));
    CHECK(t.size == 4 && t.mixed);
}

static void bad_types(void)
{
    static const char *const bad[] = {"<q2",  "<u9",  "<u0", "u2",  "?u4",  "<u",   "",    "<>u2",
                                      "<<u4", "<u22", ">q2", "=i0", "><u3", "bits", "|U1", "<u4 ",
                                      "\x94>d8" /* a negative char: no signed shift */};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        game_type t;
        gb_error *err = game_parse_type(bad[i], &t);
        CHECKF(err != NULL, "\"%s\" parsed", bad[i]);
        if (err) {
            char quoted[32];
            snprintf(quoted, sizeof quoted, "\"%s\"", bad[i]);
            CHECKF(strstr(gb_error_msg(err), quoted) && strstr(gb_error_msg(err), "expected"),
                   "message for %s: %s", bad[i], gb_error_msg(err));
        }
        gb_error_free(err);
    }
}

int main(void)
{
    unsigned_ints();
    signed_ints();
    bcd();
    middle_endian();
    parsed_fields();
    bad_types();
    return check_summary();
}
