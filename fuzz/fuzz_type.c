/* game_parse_type and game_decode: the input up to its first NUL is a type string, the bytes
 * after it (zero-padded to 8) the memory it decodes. Checks each parsed type against the
 * grammar and each decoded value against the range its kind and size allow. */
#include "fuzz_file.h"
#include "gbfarm/game.h"

static uint64_t power(uint64_t base, int exp)
{
    uint64_t x = 1;
    while (exp-- > 0) x *= base;
    return x;
}

static void check_decode(const game_type *t, const uint8_t bytes[8])
{
    int64_t v = game_decode(t, bytes);
    int bits = 8 * t->size;
    switch (t->kind) {
    case 'u':
        if (t->size < 8) FUZZ_ASSERT(v >= 0 && (uint64_t)v < (uint64_t)1 << bits);
        break;
    case 'i':
        if (t->size < 8)
            FUZZ_ASSERT(v >= -((int64_t)1 << (bits - 1)) && v < ((int64_t)1 << (bits - 1)));
        break;
    case 'd':
        FUZZ_ASSERT(v >= 0 && (uint64_t)v < power(100, t->size));
        break;
    case 'n':
        FUZZ_ASSERT(v >= 0 && (uint64_t)v < power(10, t->size));
        break;
    default:
        FUZZ_ASSERT(!"unknown kind");
    }
    /* plain little- and big-endian unsigned: the textbook decoding */
    if (t->kind == 'u' && !t->mixed) {
        uint64_t x = 0;
        for (int i = 0; i < t->size; i++)
            x |= (uint64_t)bytes[t->big_endian ? t->size - 1 - i : i] << (8 * i);
        FUZZ_ASSERT((uint64_t)v == x);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *s = fuzz_cstring(data, size);
    size_t n = strlen(s);
    uint8_t bytes[8] = {0};
    if (n + 1 < size) memcpy(bytes, data + n + 1, size - n - 1 < 8 ? size - n - 1 : 8);

    game_type t;
    memset(&t, 0xA5, sizeof t);
    gb_error *err = game_parse_type(s, &t);
    if (err) {
        FUZZ_ASSERT(gb_error_msg(err)[0]);
        gb_error_free(err);
        free(s);
        return 0;
    }
    FUZZ_ASSERT(n == 3 || n == 4);
    FUZZ_ASSERT(t.size >= 1 && t.size <= 8 && t.size == s[n - 1] - '0');
    FUZZ_ASSERT(t.kind == s[n - 2] && strchr("uidn", t.kind));
    FUZZ_ASSERT(!t.mixed || t.size == 4 || t.size == 8);
    check_decode(&t, bytes);
    static const uint8_t zeros[8], ones[8] = {255, 255, 255, 255, 255, 255, 255, 255};
    FUZZ_ASSERT(game_decode(&t, zeros) == 0);
    check_decode(&t, ones);
    free(s);
    return 0;
}
