/* bind + step over a fake Game Boy bus (8 KiB work RAM at 0xC000): reward terms, the explore
 * bonus, done any / all, masks, and unmapped addresses. */
#include <math.h>
#include <string.h>

#include "check.h"
#include "gbfarm/game.h"

static uint8_t wram[0x2000];

static gb_error *fake_resolve(void *ctx, uint32_t address, uint32_t length, uint8_t **out)
{
    int *calls = ctx;
    (*calls)++;
    if (address < 0xC000 || (uint64_t)address + length > 0xE000)
        return gb_errorf("no region covers 0x%X..0x%X", address, address + length);
    *out = wram + (address - 0xC000);
    return NULL;
}

static uint8_t *at(uint32_t address)
{
    return wram + (address - 0xC000);
}

#define CHECK_NEAR(got, want)                                                                      \
    CHECKF(fabsf((got) - (want)) < 1e-4f, "reward %g, want %g", (double)(got), (double)(want))

static void set_u16le(uint32_t address, uint16_t v)
{
    at(address)[0] = (uint8_t)v;
    at(address)[1] = (uint8_t)(v >> 8);
}

static void reward_terms(void)
{
    game_spec *spec;
    REQUIRE_OK(game_load(&spec, "tests/data/games/reward"));
    memset(wram, 0, sizeof wram);
    at(0xC000)[0] = 0x00, at(0xC000)[1] = 0x10; /* score 10, BCD */
    at(0xC002)[0] = 0xF3;                       /* lives 3 under mask 0x0F */
    at(0xC003)[0] = 1, at(0xC004)[0] = 1;       /* x, y */
    set_u16le(0xC010, 100);                     /* hp */
    at(0xC012)[0] = 1;                          /* level */

    int calls = 0;
    game_binding *b;
    REQUIRE_OK(game_bind(&b, spec, fake_resolve, &calls));
    CHECKF(calls == game_var_count(spec),
           "%d resolve calls for %d variables (one per variable, "
           "one for the whole flag range)",
           calls, game_var_count(spec));
    int lives = game_var_index(spec, "lives"), score = game_var_index(spec, "score");
    int coins = game_var_index(spec, "coins"), flags = game_var_index(spec, "flags");
    REQUIRE(lives >= 0 && score >= 0 && coins >= 0 && flags >= 0);
    CHECK(game_var_index(spec, "nope") == -1);
    CHECK(!strcmp(game_var_name(spec, score), "score"));
    CHECK(game_value(b, lives) == 3);
    CHECK(game_value(b, score) == 10);
    CHECK(game_value(b, game_var_index(spec, "unused")) == 0);

    bool done = true;
    float r = game_step(b, &done); /* nothing changed: only the time term */
    CHECK_NEAR(r, -0.01f);
    CHECK(!done);

    at(0xC000)[1] = 0x25; /* score 10 -> 25 */
    at(0xC003)[0] = 2;    /* a new tile */
    r = game_step(b, &done);
    CHECK_NEAR(r, 15.0f + 0.1f - 0.01f);

    at(0xC003)[0] = 1;    /* back to the start tile: no bonus */
    at(0xC002)[0] = 0xA3; /* bits outside the mask change: lives still 3 */
    r = game_step(b, &done);
    CHECK_NEAR(r, -0.01f);
    CHECK(game_value(b, lives) == 3);

    at(0xC006)[0] = 1;    /* in battle: no explore bonus */
    at(0xC003)[0] = 5;    /* new tile, but in battle */
    at(0xC002)[0] = 0xF2; /* a life lost: penalty 10 */
    r = game_step(b, &done);
    CHECK_NEAR(r, -10.0f - 0.01f);
    CHECK(!done);

    at(0xC006)[0] = 0; /* out of battle on the same new tile: it was not recorded, so it pays */
    r = game_step(b, &done);
    CHECK_NEAR(r, 0.1f - 0.01f);

    at(0xC012)[0] = 5;                          /* level >= 5: 0.5 every step (absolute) */
    at(0xC100)[0] = 0x0F, at(0xC10F)[0] = 0x80; /* 5 new flags: 2.0 each */
    set_u16le(0xC020, 3);                       /* coins up: sign 1 times 0.25 */
    r = game_step(b, &done);
    CHECK_NEAR(r, 0.5f + 10.0f + 0.25f - 0.01f);
    CHECK(game_value(b, flags) == 5);

    set_u16le(0xC020, (uint16_t)-2); /* coins down by 5: sign -1 times penalty 0.5 */
    r = game_step(b, &done);
    CHECK_NEAR(r, 0.5f - 0.5f - 0.01f);
    CHECK(game_value(b, coins) == -2);

    at(0xC000)[1] = 0x20; /* score down: no penalty set, so nothing */
    r = game_step(b, &done);
    CHECK_NEAR(r, 0.5f - 0.01f);

    at(0xC002)[0] = 0xF0; /* last two lives lost: penalty, and done (lives zero) */
    r = game_step(b, &done);
    CHECK_NEAR(r, -20.0f + 0.5f - 0.01f);
    CHECK(done);
    CHECK(game_value(b, lives) == 0);
    CHECK(game_explored(b) == 3);

    /* a new episode: baseline from RAM now, the explore set cleared */
    at(0xC002)[0] = 0x03;
    at(0xC012)[0] = 1;
    game_episode_begin(b);
    CHECK(game_explored(b) == 1);
    r = game_step(b, &done);
    CHECK_NEAR(r, -0.01f); /* lives went 0 -> 3 at the reset, but the baseline is taken after */
    CHECK(!done);
    at(0xC003)[0] = 2; /* visited last episode, new in this one */
    r = game_step(b, &done);
    CHECK_NEAR(r, 0.1f - 0.01f);

    set_u16le(0xC010, 999); /* hp == 999 is the other done condition */
    game_step(b, &done);
    CHECK(done);
    set_u16le(0xC010, 100);

    /* many tuples: the set grows, each pays once per episode */
    game_episode_begin(b);
    int paid = 0;
    for (int pass = 0; pass < 2; pass++) {
        for (int i = 0; i < 5000; i++) {
            at(0xC005)[0] = (uint8_t)(i / 256);
            at(0xC003)[0] = (uint8_t)(i % 256);
            at(0xC004)[0] = 7;
            r = game_step(b, &done);
            if (r > 0.05f) paid++;
        }
        CHECKF(paid == 5000, "pass %d: %d tuples paid, want 5000", pass, paid);
    }
    CHECK(game_explored(b) == 5001); /* the start tuple too */

    game_unbind(b);
    game_free(spec);
}

static void done_all(void)
{
    game_spec *spec;
    REQUIRE_OK(game_load(&spec, "tests/data/games/done-all"));
    memset(wram, 0, sizeof wram);
    at(0xC002)[0] = 10;
    int calls = 0;
    game_binding *b;
    REQUIRE_OK(game_bind(&b, spec, fake_resolve, &calls));
    bool done = true;
    CHECK_NEAR(game_step(b, &done), 0.0f); /* no reward section: reward 0 */
    CHECK(!done);
    at(0xC000)[0] = 1, at(0xC001)[0] = 3; /* a > 0 and b == 3, but the node is false */
    game_step(b, &done);
    CHECK(!done);
    at(0xC002)[0] = 9; /* c decreased: the node holds, so all hold */
    game_step(b, &done);
    CHECK(done);
    game_step(b, &done); /* c unchanged now: delta 0 */
    CHECK(!done);
    at(0xC003)[0] = 1; /* d with no op: done while d > 0 */
    game_step(b, &done);
    CHECK(done);
    at(0xC000)[0] = 0xFF; /* a = -1 (|i1): not positive */
    game_step(b, &done);
    CHECK(!done);
    game_unbind(b);
    game_free(spec);
}

static void unmapped(void)
{
    game_spec *spec;
    REQUIRE_OK(game_load(&spec, "tests/data/games/unmapped"));
    int calls = 0;
    game_binding *b = (game_binding *)1;
    gb_error *err = game_bind(&b, spec, fake_resolve, &calls);
    CHECK(err != NULL);
    CHECK(b == NULL);
    const char *msg = gb_error_msg(err);
    CHECKF(strstr(msg, "hram") && strstr(msg, "0xFF80") && strstr(msg, "game.json") &&
               strstr(msg, "no region covers"),
           "%s", msg);
    gb_error_free(err);
    game_free(spec);
}

static void stable_retro_step(void)
{
    game_spec *spec;
    REQUIRE_OK(game_load(&spec, "tests/data/games/Fixture-Gb"));
    memset(wram, 0, sizeof wram);
    at(0xC003)[0] = 3; /* lives */
    int calls = 0;
    game_binding *b;
    REQUIRE_OK(game_bind(&b, spec, fake_resolve, &calls));
    bool done;
    CHECK_NEAR(game_step(b, &done), -0.05f);
    CHECK(!done);
    at(0xC000)[0] = 0x00, at(0xC000)[1] = 0x01, at(0xC000)[2] = 0x00; /* >d3 score 100 */
    at(0xC004)[0] = 0xF9;                                             /* stage: mask 7 -> 1 */
    CHECK_NEAR(game_step(b, &done), 1.0f + 5.0f - 0.05f);
    at(0xC003)[0] = 0;
    CHECK_NEAR(game_step(b, &done), -3.0f - 0.05f); /* 3 lives lost, penalty 1 */
    CHECK(done);
    game_unbind(b);
    game_free(spec);
}

int main(void)
{
    reward_terms();
    done_all();
    unmapped();
    stable_retro_step();
    return check_summary();
}
