/* states/zelda-ladx on the real game: needs the user's ROM, named by $GBFARM_ROM_LADX
 * (Link's Awakening DX, USA/Europe v1.0, SHA-1 d90ac17e9bf17b6c61624ad9f05447bdb5efc01a);
 * skipped without it.
 *
 * Checks: the folder loads and the ROM passes game_check_rom; the start script gives the same
 * work RAM on two fresh cores and the documented start (Tarin's house, 3 hearts); walking
 * moves Link; START opens and closes the inventory; Tarin gives the shield, on B; B+direction
 * walks with it raised (what pushes the beach's sea urchins) and a plain direction with it
 * down; every folder action that walks holds B, and none presses START; the env's explore
 * term pays for a scripted walk; the folder's steps move Tarin's door dialog on (a new press
 * each step), so Link walks back from the door; on gambatte the spec fails to bind with a clear
 * error (its libretro memory map has no HRAM, where the room and Link's position live). With
 * $GBFARM_CORE_SAMEBOY (the .so's path; skipped when unset) also SameBoy, whose map has HRAM:
 * the documented start, and the scripted walk's end and the env walk's reward equal to
 * mgba's. */
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "game_helpers.h"
#include "run_helpers.h"
#include "gbfarm/core.h"
#include "gbfarm/env_retro.h"
#include "gbfarm/game.h"

static const char *rom;
static game_spec *spec;

static int64_t val(game_binding *b, const char *name)
{
    return fixture_value(spec, b, name);
}

/* Tarin's house: indoor map 0x10, room 0xA3; Link at (56, 52); 3 hearts, full. */
static void check_start(game_binding *b, const char *core_name)
{
    CHECKF(val(b, "indoor") == 1 && val(b, "map_id") == 16 && val(b, "room") == 163,
           "%s: indoor %lld, map %lld, room %lld", core_name, (long long)val(b, "indoor"),
           (long long)val(b, "map_id"), (long long)val(b, "room"));
    CHECKF(val(b, "x") == 56 && val(b, "y") == 52, "%s: at (%lld, %lld)", core_name,
           (long long)val(b, "x"), (long long)val(b, "y"));
    CHECK(val(b, "x_tile") == 48 && val(b, "y_tile") == 48);
    CHECK(val(b, "health") == 24 && val(b, "max_hearts") == 3);
    CHECK(val(b, "gameplay_type") == 0x0B); /* GAMEPLAY_WORLD */
    CHECK(val(b, "rupees") == 0 && val(b, "sword") == 0 && val(b, "shield") == 0);
    CHECK(val(b, "deaths") == 0 && val(b, "instruments") == 0);
    CHECK(val(b, "room_flags") > 0);
}

/* The folder's action that holds exactly B and `button`, or -1. */
static int b_action(int button)
{
    for (int i = 0; i < spec->n_actions; i++)
        if (spec->actions[i] == ((1u << CORE_BUTTON_B) | (1u << button))) return i;
    return -1;
}

/* The env on one core: a walk around the room, which pays the explore term only. */
static double env_walk(const char *core_name, int64_t *explored)
{
    const int u = b_action(CORE_BUTTON_UP), d = b_action(CORE_BUTTON_DOWN),
              l = b_action(CORE_BUTTON_LEFT), r = b_action(CORE_BUTTON_RIGHT);
    const int actions[] = {d, d, d, r, r, r, u, u, l, l, u, u, d, r};
    return fixture_env_reward(spec, rom, core_name, 3, actions, sizeof actions / sizeof actions[0],
                              explored, NULL, NULL);
}

int main(void)
{
    rom = getenv("GBFARM_ROM_LADX");
    if (!rom || !*rom) return check_skip("GBFARM_ROM_LADX not set");

    REQUIRE_OK(game_load(&spec, "states/zelda-ladx"));
    CHECK_OK(game_check_rom(spec, rom));
    CHECK(spec->platform == CORE_PLATFORM_GBC);
    CHECK(spec->n_states == 1 && strstr(spec->states[0], "start.txt"));

    static uint8_t ram1[0x2000], ram2[0x2000];
    core *c = fixture_core(spec, rom, "mgba");
    REQUIRE(c);
    fixture_start_state(c, spec);
    fixture_gb_wram(c, ram1);
    core_close(c);
    c = fixture_core(spec, rom, "mgba");
    fixture_start_state(c, spec);
    fixture_gb_wram(c, ram2);
    CHECK(memcmp(ram1, ram2, sizeof ram1) == 0);

    game_binding *b = NULL;
    REQUIRE_OK(game_bind(&b, spec, core_resolve, c));
    check_start(b, "mgba");

    /* Walking moves Link down and right. */
    fixture_play(c, "DOWN 30\nRIGHT 30\n- 10\n");
    CHECKF(val(b, "x") > 56 && val(b, "y") > 52, "at (%lld, %lld)", (long long)val(b, "x"),
           (long long)val(b, "y"));
    CHECK(val(b, "room") == 163);
    /* START opens the inventory subscreen and START closes it: Link has not moved and the
     * game is back in GAMEPLAY_WORLD. */
    int64_t x0 = val(b, "x"), y0 = val(b, "y"); /* also SameBoy's goal, below */
    fixture_play(c, "START 6\n- 90\nSTART 6\n- 90\n");
    CHECK(val(b, "gameplay_type") == 0x0B);
    CHECK(val(b, "x") == x0 && val(b, "y") == y0 && val(b, "room") == 163);
    game_unbind(b);
    core_close(c);

    /* Tarin's shield: talk to him (A through his dialogs) and it lands on B. Walking with B
     * held raises it (wIsUsingShield) and moves Link as fast as without; each direction has
     * an action that holds B with it, and no action walks without B (the shield down). */
    c = fixture_core(spec, rom, "mgba");
    fixture_start_state(c, spec);
    REQUIRE_OK(game_bind(&b, spec, core_resolve, c));
    fixture_play(c, "DOWN 44\nRIGHT 80\n");
    for (int i = 0; i < 24; i++) fixture_play(c, "A 4\n- 40\n");
    fixture_play(c, "- 200\n");
    CHECKF(val(b, "shield") == 1 && val(b, "b_item") == 4, "shield %lld, B item %lld",
           (long long)val(b, "shield"), (long long)val(b, "b_item")); /* INVENTORY_SHIELD */
    int64_t x1 = val(b, "x");
    fixture_play(c, "LEFT 8\n");
    int64_t x2 = val(b, "x");
    CHECKF(x2 < x1 && val(b, "shield_up") == 0, "LEFT: x %lld -> %lld, shield up %lld",
           (long long)x1, (long long)x2, (long long)val(b, "shield_up"));
    fixture_play(c, "B+LEFT 8\n");
    CHECKF(x1 - x2 == x2 - val(b, "x") && val(b, "shield_up") == 1,
           "B+LEFT: x %lld -> %lld, shield up %lld", (long long)x2, (long long)val(b, "x"),
           (long long)val(b, "shield_up"));
    game_unbind(b);
    core_close(c);
    static const int dirs[4] = {CORE_BUTTON_UP, CORE_BUTTON_DOWN, CORE_BUTTON_LEFT,
                                CORE_BUTTON_RIGHT};
    unsigned dir_mask = 0;
    for (int d = 0; d < 4; d++) {
        CHECKF(b_action(dirs[d]) >= 0, "no action holds B with direction button %d", dirs[d]);
        dir_mask |= 1u << dirs[d];
    }
    for (int i = 0; i < spec->n_actions; i++)
        CHECKF(!(spec->actions[i] & dir_mask) || (spec->actions[i] & (1u << CORE_BUTTON_B)),
               "action %d walks without B", i);
    /* No action opens the inventory, where a B press takes the shield off the B button. */
    for (int i = 0; i < spec->n_actions; i++)
        CHECKF(!(spec->actions[i] & (1u << CORE_BUTTON_START)), "action %d holds START", i);

    /* The env: a walk around the room pays the explore term only. */
    int64_t explored;
    double total = env_walk("mgba", &explored);
    fprintf(stderr, "env: reward %.4f, %lld tiles\n", total, (long long)explored);
    CHECK(explored > 2);
    double per_tile = explore_reward("states/zelda-ladx"); /* each tile after the first */
    CHECKF(per_tile > 0 && fabs(total - per_tile * (double)(explored - 1)) < 1e-4,
           "%.4f for %lld tiles at %.3f", total, (long long)explored, per_tile);

    /* Tarin stops Link at the door with a dialog, which only a new press of A or B moves on.
     * The folder's steps release the buttons for their last frames, so walking back from the
     * door (B+UP) is such a press every step: the dialog ends and Link walks away. Held the
     * whole step, B stays down from step to step and the dialog never ends. */
    {
        const int u = b_action(CORE_BUTTON_UP), d = b_action(CORE_BUTTON_DOWN),
                  r = b_action(CORE_BUTTON_RIGHT);
        enum { TO_DOOR = 9, BACK = 40 };
        int walk[TO_DOOR + BACK] = {d, d, d, d, r, d, d, d, d};
        for (int i = TO_DOOR; i < TO_DOOR + BACK; i++) walk[i] = u;
        int64_t door_tiles, x, y;
        fixture_env_reward(spec, rom, "mgba", 3, walk, TO_DOOR, &door_tiles, &x, &y);
        CHECKF(y > 112, "at the door: (%lld, %lld)", (long long)x, (long long)y);
        fixture_env_reward(spec, rom, "mgba", 3, walk, TO_DOOR + BACK, &door_tiles, &x, &y);
        CHECKF(y < 90, "after %d steps of B+UP from the door: (%lld, %lld)", BACK, (long long)x,
               (long long)y);
    }

    /* SameBoy, when given: the same start, the same walk's end, and the env walk's reward. */
    const char *sameboy = getenv("GBFARM_CORE_SAMEBOY");
    if (sameboy && *sameboy) {
        c = fixture_core(spec, rom, sameboy);
        REQUIRE(c);
        fixture_start_state(c, spec);
        REQUIRE_OK(game_bind(&b, spec, core_resolve, c));
        check_start(b, "sameboy");
        fixture_play(c, "DOWN 30\nRIGHT 30\n- 10\n");
        CHECKF(val(b, "x") == x0 && val(b, "y") == y0,
               "sameboy: at (%lld, %lld), mgba (%lld, %lld)", (long long)val(b, "x"),
               (long long)val(b, "y"), (long long)x0, (long long)y0);
        game_unbind(b);
        core_close(c);
        int64_t sb_explored;
        double sb_total = env_walk(sameboy, &sb_explored);
        fprintf(stderr, "env on sameboy: reward %.4f, %lld tiles\n", sb_total,
                (long long)sb_explored);
        CHECK(sb_explored == explored);
        CHECKF(fabs(sb_total - total) < 1e-6, "sameboy %f vs mgba %f", sb_total, total);
    } else {
        fprintf(stderr, "SameBoy checks skipped: GBFARM_CORE_SAMEBOY not set\n");
    }

    /* gambatte: binding fails, naming the HRAM address. */
    c = fixture_core(spec, rom, "gambatte");
    if (c) {
        fixture_play(c, "- 10\n");
        gb_error *err = game_bind(&b, spec, core_resolve, c);
        CHECK(err != NULL);
        if (err) {
            fprintf(stderr, "gambatte (expected): %s\n", gb_error_msg(err));
            CHECK(strstr(gb_error_msg(err), "0xFF") || strstr(gb_error_msg(err), "0xff"));
            gb_error_free(err);
        } else {
            game_unbind(b);
        }
        core_close(c);
    }
    game_free(spec);
    return check_summary();
}
