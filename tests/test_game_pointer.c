/* Pointer variables ("pointer" + "offset") over a fake GBA bus: the value follows the pointer
 * when it moves, a NULL or unmapped target reads 0, the target is resolved again only when the
 * pointer changes, and the parse / bind errors. */
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
    p[0] = (uint8_t)v, p[1] = (uint8_t)(v >> 8), p[2] = (uint8_t)(v >> 16), p[3] = (uint8_t)(v >> 24);
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
    CHECKF(calls == game_var_count(spec), "%d resolve calls at bind for %d variables (NULL "
           "pointers resolve nothing)", calls, game_var_count(spec));
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

/* Writes a game.json with one variable into a fresh folder and loads it. */
static gb_error *load_one(const char *var, game_spec **out, char *dir, size_t n)
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
            "  \"info\": { \"v\": %s } }\n",
            var);
    fclose(f);
    return game_load(out, dir);
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

static void expect_error(const char *var, const char *want1, const char *want2)
{
    char dir[64];
    game_spec *spec = NULL;
    gb_error *err = load_one(var, &spec, dir, sizeof dir);
    CHECKF(err != NULL, "%s: loaded, want an error", var);
    if (err) {
        const char *msg = gb_error_msg(err);
        CHECKF(strstr(msg, want1) && strstr(msg, want2), "%s: %s", var, msg);
        gb_error_free(err);
    }
    game_free(spec);
    cleanup(dir);
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

    /* the pointer's own address must be mapped: an error at bind naming it */
    char dir[64];
    game_spec *spec = NULL;
    REQUIRE_OK(load_one("{ \"pointer\": \"0x04000000\", \"offset\": 4, \"type\": \"<u2\" }",
                        &spec, dir, sizeof dir));
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
    parse_errors();
    return check_summary();
}
