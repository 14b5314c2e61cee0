/* Pointer variables ("pointer" + "offset") over a fake GBA bus: the value follows the pointer
 * when it moves, a NULL or unmapped target reads 0, the target is resolved again only when the
 * pointer changes, and the parse / bind errors. Variables stored XOR a key variable ("xor"), and
 * their errors. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "gbfarm/game.h"

static uint8_t iwram[0x8000], ewram[0x40000];

static gb_error *fake_resolve(void *ctx, uint32_t address, uint32_t length, uint8_t **out)
{
    int *calls = ctx;
    (*calls)++;
    uint64_t end = (uint64_t)address + length;
    if (address >= 0x03000000 && end <= 0x03008000)
        *out = iwram + (address - 0x03000000);
    else if (address >= 0x02000000 && end <= 0x02040000)
        *out = ewram + (address - 0x02000000);
    else
        return gb_errorf("no region covers 0x%X..0x%llX", address, (unsigned long long)end);
    return NULL;
}

static uint8_t *bus(uint32_t address)
{
    return address >= 0x03000000 ? iwram + (address - 0x03000000) : ewram + (address - 0x02000000);
}

static void put32(uint32_t address, uint32_t v)
{
    uint8_t *p = bus(address);
    p[0] = (uint8_t)v, p[1] = (uint8_t)(v >> 8), p[2] = (uint8_t)(v >> 16),
    p[3] = (uint8_t)(v >> 24);
}

static void put16(uint32_t address, uint16_t v)
{
    bus(address)[0] = (uint8_t)v, bus(address)[1] = (uint8_t)(v >> 8);
}

#define CHECK_NEAR(got, want)                                                                      \
    CHECKF(fabsf((got) - (want)) < 1e-4f, "reward %g, want %g", (double)(got), (double)(want))

/* A save block as the game would write it at base: x, y, map, 4 flag bytes. */
static void write_block(uint32_t base, uint16_t x, uint16_t y, uint8_t map, uint8_t flags0)
{
    put16(base, x);
    put16(base + 2, y);
    bus(base + 4)[0] = map;
    bus(base + 0x10)[0] = flags0;
}

static void follows_pointer(void)
{
    game_spec *spec;
    REQUIRE_OK(game_load(&spec, "tests/data/games/pointer"));
    memset(iwram, 0, sizeof iwram);
    memset(ewram, 0, sizeof ewram);
    int x = game_var_index(spec, "x"), y = game_var_index(spec, "y");
    int map = game_var_index(spec, "map"), flags = game_var_index(spec, "flags");
    int key = game_var_index(spec, "key"), no_offset = game_var_index(spec, "no_offset");
    REQUIRE(x >= 0 && y >= 0 && map >= 0 && flags >= 0 && key >= 0 && no_offset >= 0);

    /* before the game sets its pointers: NULL, every pointer variable reads 0 */
    int calls = 0;
    game_binding *b;
    REQUIRE_OK(game_bind(&b, spec, fake_resolve, &calls));
    CHECKF(calls == game_var_count(spec),
           "%d resolve calls at bind for %d variables (NULL "
           "pointers resolve nothing)",
           calls, game_var_count(spec));
    CHECK(game_value(b, x) == 0 && game_value(b, flags) == 0 && game_value(b, key) == 0);
    bool done = true;
    CHECK_NEAR(game_step(b, &done), 0.0f);
    CHECK(!done);

    /* the game sets the pointer: values appear, a new tuple and 3 new flags pay */
    write_block(0x02025000, 7, 9, 3, 0x07);
    put32(0x03005008, 0x02025000);
    calls = 0;
    CHECK_NEAR(game_step(b, &done), 3.0f + 0.1f);
    CHECK(game_value(b, x) == 7 && game_value(b, y) == 9 && game_value(b, map) == 3);
    CHECK(game_value(b, flags) == 3);
    CHECK(game_value(b, no_offset) == 7); /* offset defaults to 0 */
    int after_set = calls;
    CHECKF(after_set >= 1, "%d resolve calls after the pointer changed", after_set);

    /* the pointer unchanged: no further resolve calls, however many reads */
    for (int i = 0; i < 10; i++) CHECK_NEAR(game_step(b, &done), 0.0f);
    (void)game_value(b, x);
    CHECKF(calls == after_set, "%d resolve calls with the pointer unchanged, want %d", calls,
           after_set);

    /* the game moves its save block (as FireRed does): copy, repoint, scribble the old one */
    write_block(0x02025100, 7, 9, 3, 0x07);
    put32(0x03005008, 0x02025100);
    write_block(0x02025000, 100, 100, 100, 0xFF);
    CHECK_NEAR(game_step(b, &done), 0.0f); /* same values at the new place: nothing new */
    CHECK(game_value(b, x) == 7 && game_value(b, flags) == 3);
    put16(0x02025100, 8); /* a step right, at the new place */
    CHECK_NEAR(game_step(b, &done), 0.1f);
    CHECK(game_value(b, x) == 8);

    /* a second pointer, with an offset and a mask */
    put32(0x0300500C, 0x02024000);
    put32(0x02024000 + 0xF20, 0xABCD1234);
    CHECK(game_value(b, key) == 0x1234);

    /* bad targets read 0, never crash: outside RAM, straddling a region's end, past 2^32 */
    put32(0x0300500C, 0x08000000);
    CHECK(game_value(b, key) == 0);
    put32(0x0300500C, 0x0203F0E2); /* + 0xF20 = 0x02040002: past EWRAM */
    CHECK(game_value(b, key) == 0);
    put32(0x0300500C, 0x0203F0DC); /* + 0xF20 = 0x0203FFFC: the last 4 bytes */
    put32(0x0203FFFC, 0x5555);
    CHECK(game_value(b, key) == 0x5555);
    put32(0x0300500C, 0xFFFFF800); /* + 0xF20 wraps past 2^32 */
    CHECK(game_value(b, key) == 0);
    put32(0x03005008, 0x0203FFFE); /* x fits (2 bytes), y and the flags do not */
    put16(0x0203FFFE, 42);
    CHECK(game_value(b, x) == 42 && game_value(b, y) == 0 && game_value(b, flags) == 0);
    put32(0x03005008, 0); /* NULL again */
    /* flags 3 -> 0 (no penalty set) and the tuple (0, 0, 0), seen at bind: nothing */
    CHECK_NEAR(game_step(b, &done), 0.0f);
    CHECK(game_value(b, x) == 0 && game_value(b, flags) == 0);

    /* a reset: the baseline is read through the pointer too */
    put32(0x03005008, 0x02025100);
    game_episode_begin(b);
    CHECK_NEAR(game_step(b, &done), 0.0f);
    CHECK(game_value(b, x) == 8);

    /* a fresh binding on the moved block agrees */
    game_binding *b2;
    REQUIRE_OK(game_bind(&b2, spec, fake_resolve, &calls));
    for (int i = 0; i < game_var_count(spec); i++)
        CHECKF(game_value(b2, i) == game_value(b, i), "variable %s differs between bindings",
               game_var_name(spec, i));
    game_unbind(b2);
    game_unbind(b);
    game_free(spec);
}

/* Variables stored XOR a key variable ("xor"), as FireRed keeps money and coins: the value is
 * decoded with the key's current value at each read, wherever either block sits, and then
 * masked; rewards and done see the decoded value. */
static void xor_key(void)
{
    game_spec *spec;
    REQUIRE_OK(game_load(&spec, "tests/data/games/xor"));
    memset(iwram, 0, sizeof iwram);
    memset(ewram, 0, sizeof ewram);
    int money = game_var_index(spec, "money"), coins = game_var_index(spec, "coins");
    int key = game_var_index(spec, "money_key");
    REQUIRE(money >= 0 && coins >= 0 && key >= 0);

    /* NULL pointers: the value and its key read 0 */
    int calls = 0;
    game_binding *b;
    REQUIRE_OK(game_bind(&b, spec, fake_resolve, &calls));
    CHECK(game_value(b, money) == 0 && game_value(b, key) == 0);

    /* the game sets its blocks: 3000 money, 7 coins (the key's low half) */
    uint32_t k = 0xA5A5F00F;
    put32(0x03005008, 0x02025000);
    put32(0x0300500C, 0x02024000);
    put32(0x02024000 + 0xF20, k);
    put32(0x02025000 + 0x290, 3000 ^ k);
    put16(0x02000010, (uint16_t)(7 ^ k));
    CHECK(game_value(b, key) == k);
    CHECKF(game_value(b, money) == 3000, "money %lld", (long long)game_value(b, money));
    CHECKF(game_value(b, coins) == 7, "coins %lld (the mask applies after the XOR)",
           (long long)game_value(b, coins));
    bool done = true;
    CHECK_NEAR(game_step(b, &done), 3.0f); /* 0 -> 3000: the key is read though no term uses it */
    CHECK(!done);

    /* a new key with money encrypted again: the same money, nothing paid */
    k = 0x1234ABCD;
    put32(0x02024000 + 0xF20, k);
    put32(0x02025000 + 0x290, 3000 ^ k);
    put16(0x02000010, (uint16_t)(7 ^ k));
    CHECK_NEAR(game_step(b, &done), 0.0f);
    CHECK(game_value(b, money) == 3000 && game_value(b, coins) == 7);

    /* both blocks move: the key follows its pointer */
    put32(0x02024100 + 0xF20, k);
    put32(0x0300500C, 0x02024100);
    put32(0x02024000 + 0xF20, 0);
    put32(0x02025040 + 0x290, 3000 ^ k);
    put32(0x03005008, 0x02025040);
    CHECK_NEAR(game_step(b, &done), 0.0f);
    CHECK(game_value(b, money) == 3000);

    /* 500 spent costs its size times the penalty; 100 coins is done */
    put32(0x02025040 + 0x290, 2500 ^ k);
    put16(0x02000010, (uint16_t)(100 ^ k));
    CHECK_NEAR(game_step(b, &done), -0.5f);
    CHECK(done && game_value(b, money) == 2500 && game_value(b, coins) == 100);
    game_unbind(b);
    game_free(spec);
}

/* Writes a game.json with the given info entries into a fresh folder and loads it. */
static gb_error *load_info(const char *info, game_spec **out, char *dir, size_t n)
{
    snprintf(dir, n, "%s", "/tmp/gbfarm-pointer-XXXXXX");
    if (!mkdtemp(dir)) return gb_errorf("mkdtemp failed");
    char path[256];
    snprintf(path, sizeof path, "%s/start.state", dir);
    FILE *f = fopen(path, "wb");
    if (f) fclose(f);
    snprintf(path, sizeof path, "%s/game.json", dir);
    f = fopen(path, "w");
    if (!f) return gb_errorf("cannot write %s", path);
    fprintf(f,
            "{ \"platform\": \"gba\", \"states\": [\"start.state\"], \"actions\": [[]],\n"
            "  \"info\": { %s } }\n",
            info);
    fclose(f);
    return game_load(out, dir);
}

/* The same with one variable, "v". */
static gb_error *load_one(const char *var, game_spec **out, char *dir, size_t n)
{
    char info[512];
    snprintf(info, sizeof info, "\"v\": %s", var);
    return load_info(info, out, dir, n);
}

static void cleanup(const char *dir)
{
    char path[256];
    snprintf(path, sizeof path, "%s/start.state", dir);
    unlink(path);
    snprintf(path, sizeof path, "%s/game.json", dir);
    unlink(path);
    rmdir(dir);
}

static void expect_info_error(const char *info, const char *want1, const char *want2)
{
    char dir[64];
    game_spec *spec = NULL;
    gb_error *err = load_info(info, &spec, dir, sizeof dir);
    CHECKF(err != NULL, "%s: loaded, want an error", info);
    if (err) {
        const char *msg = gb_error_msg(err);
        CHECKF(strstr(msg, "game.json: ") && strstr(msg, want1) && strstr(msg, want2) &&
                   !strchr(msg, '\n'),
               "%s: %s", info, msg);
        gb_error_free(err);
    }
    game_free(spec);
    cleanup(dir);
}

static void expect_error(const char *var, const char *want1, const char *want2)
{
    char info[512];
    snprintf(info, sizeof info, "\"v\": %s", var);
    expect_info_error(info, want1, want2);
}

static void parse_errors(void)
{
    expect_error("{ \"address\": 1, \"pointer\": 2, \"type\": \"|u1\" }", "info.v", "both");
    expect_error("{ \"address\": 1, \"offset\": 2, \"type\": \"|u1\" }", "info.v.offset",
                 "only pointer variables");
    expect_error("{ \"type\": \"|u1\" }", "info.v.address", "pointer");
    expect_error("{ \"pointer\": \"0xFFFFFFFE\", \"type\": \"|u1\" }", "info.v.pointer",
                 "4-byte pointer");
    expect_error("{ \"pointer\": 0, \"offset\": \"0xFFFFFFFF\", \"type\": \"<u2\" }",
                 "info.v.offset", "below 2^32");
    expect_error("{ \"pointer\": 0, \"offset\": -1, \"type\": \"<u2\" }", "info.v.offset",
                 "expected");
    expect_error("{ \"pointer\": 0, \"offset\": 16, \"end\": 16, \"type\": \"bits\" }",
                 "info.v.end", "end offset above offset 0x10");
    expect_error("{ \"pointer\": 0, \"offset\": 16, \"type\": \"bits\" }", "info.v.end",
                 "end offset");

    /* xor: a variable of the file, which has no xor of its own (so no cycles either) */
    expect_error("{ \"address\": 1, \"type\": \"|u1\", \"xor\": \"key\" }", "info.v.xor",
                 "unknown variable 'key'");
    expect_error("{ \"address\": 1, \"type\": \"|u1\", \"xor\": 5 }", "info.v.xor",
                 "name of a variable");
    expect_error("{ \"address\": 1, \"type\": \"|u1\", \"xor\": \"v\" }", "info.v.xor",
                 "'v', which has one");
    expect_info_error("\"v\": { \"address\": 1, \"type\": \"|u1\", \"xor\": \"k\" },\n"
                      "\"k\": { \"address\": 2, \"type\": \"|u1\", \"xor\": \"v\" }",
                      "info.v.xor", "'k', which has one");
    expect_info_error("\"v\": { \"address\": 1, \"type\": \"|u1\", \"xor\": \"k\" },\n"
                      "\"k\": { \"address\": 2, \"type\": \"|u1\", \"xor\": \"k2\" },\n"
                      "\"k2\": { \"address\": 3, \"type\": \"|u1\" }",
                      "info.v.xor", "'k', which has one");

    /* the pointer's own address must be mapped: an error at bind naming it */
    char dir[64];
    game_spec *spec = NULL;
    REQUIRE_OK(load_one("{ \"pointer\": \"0x04000000\", \"offset\": 4, \"type\": \"<u2\" }", &spec,
                        dir, sizeof dir));
    int calls = 0;
    game_binding *b = (game_binding *)1;
    gb_error *err = game_bind(&b, spec, fake_resolve, &calls);
    CHECK(err && !b);
    if (err) {
        const char *msg = gb_error_msg(err);
        CHECKF(strstr(msg, "info.v") && strstr(msg, "pointer 0x4000000") &&
                   strstr(msg, "not mapped"),
               "%s", msg);
        gb_error_free(err);
    }
    game_free(spec);
    cleanup(dir);
}

int main(void)
{
    follows_pointer();
    xor_key();
    parse_errors();
    return check_summary();
}
