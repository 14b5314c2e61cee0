/* states/pokemon-red on the real game: needs the user's ROM, named by $GBFARM_ROM_POKERED
 * (Pokémon Red (UE), SHA-1 ea9bcae617fdf159b045185467ae58b2e4a48b9a); skipped without it.
 *
 * Checks: the folder loads and the ROM passes game_check_rom; the start script (start.txt)
 * gives the same work RAM twice, and the documented start (Oak's lab, a level-5 SQUIRTLE) on
 * mgba and gambatte; scripted walking moves x/y; the START menu opens and closes; walking
 * to the lab's exit starts the rival battle (in_battle = 2, a second species seen) and
 * mashing A ends it with one more event flag and the enemy's HP lowered; the same env action
 * sequence earns the same reward on both cores. With $GBFARM_CORE_SAMEBOY also SameBoy: see
 * sameboy_checks below. */
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "game_helpers.h"
#include "gbfarm/core.h"
#include "gbfarm/env_retro.h"
#include "gbfarm/game.h"

#define GAME_DIR       "states/pokemon-red"
#define EXPLORE_REWARD 0.1 /* game.json: reward.explore.reward */

static const char *rom;
static game_spec *spec;

static int64_t val(game_binding *b, const char *name)
{
    return fixture_value(spec, b, name);
}

/* Reward of a fixed action sequence through the env, on one core. */
static double env_reward(const char *core_name, int64_t *explored, int64_t *x, int64_t *y)
{
    /* 0 UP 1 DOWN 2 LEFT 3 RIGHT 4 A 5 B; stays on rows 4-5 (row 6 starts the rival battle,
     * whose outcome depends on the core's RNG). */
    static const int actions[] = {2, 2, 2, 3, 3, 1, 2, 2, 2, 3, 3, 3, 3, 5, 0, 2, 2};
    return fixture_env_reward(spec, rom, core_name, 7, actions, sizeof actions / sizeof actions[0],
                              explored, x, y);
}

/* ---- SameBoy ($GBFARM_CORE_SAMEBOY, the .so's path; skipped when unset) -------------------
 * The same folder on a third core: start.txt reaches the documented start (SameBoy runs its
 * boot ROM first and lags on other frames than mgba, so the script's walks keep margins), a
 * scripted step moves x, and the env's action sequence earns mgba's reward at mgba's tile. */
static void sameboy_checks(double mgba_reward, int64_t mgba_explored, int64_t mgba_x,
                           int64_t mgba_y)
{
    const char *sameboy = getenv("GBFARM_CORE_SAMEBOY");
    if (!sameboy || !*sameboy) {
        fprintf(stderr, "SameBoy checks skipped: GBFARM_CORE_SAMEBOY not set\n");
        return;
    }
    core *c = fixture_core(spec, rom, sameboy);
    REQUIRE(c);
    fixture_start_state(c, spec);
    game_binding *b = NULL;
    REQUIRE_OK(game_bind(&b, spec, core_resolve, c));
    CHECKF(val(b, "map") == 40 && val(b, "x") == 7 && val(b, "y") == 4,
           "sameboy: map %lld at (%lld, %lld)", (long long)val(b, "map"), (long long)val(b, "x"),
           (long long)val(b, "y"));
    CHECK(val(b, "party_count") == 1 && val(b, "level1") == 5 && val(b, "level2") == 0);
    CHECK(val(b, "hp1") > 0 && val(b, "hp1") == val(b, "max_hp1"));
    CHECK(val(b, "in_battle") == 0 && val(b, "money") == 3000 && val(b, "pokedex_owned") == 1);
    fixture_play(c, "LEFT 20\n- 10\n");
    CHECKF(val(b, "x") == 6 && val(b, "y") == 4, "sameboy after LEFT: (%lld, %lld)",
           (long long)val(b, "x"), (long long)val(b, "y"));
    game_unbind(b);
    core_close(c);

    int64_t ex, x, y;
    double r = env_reward(sameboy, &ex, &x, &y);
    fprintf(stderr, "env reward sameboy %.4f (%lld tiles, at %lld,%lld)\n", r, (long long)ex,
            (long long)x, (long long)y);
    CHECK(ex == mgba_explored && x == mgba_x && y == mgba_y);
    CHECKF(fabs(r - mgba_reward) < 1e-6, "sameboy %f vs mgba %f", r, mgba_reward);
}
/* ---- end of SameBoy ------------------------------------------------------------------------ */

int main(void)
{
    rom = getenv("GBFARM_ROM_POKERED");
    if (!rom || !*rom) return check_skip("GBFARM_ROM_POKERED not set");

    REQUIRE_OK(game_load(&spec, GAME_DIR));
    CHECK_OK(game_check_rom(spec, rom));
    CHECK(spec->platform == CORE_PLATFORM_GB);
    CHECK(spec->n_states == 1 && strstr(spec->states[0], "start.txt"));
    CHECK(spec->n_actions == 6 && spec->frame_skip == 24 && spec->press_frames == 8);

    const char *cores[] = {"mgba", "gambatte"};
    int64_t battle_events[2] = {0, 0};
    for (int ci = 0; ci < 2; ci++) {
        core *c = fixture_core(spec, rom, cores[ci]);
        if (!c) {
            CHECKF(0, "core %s missing", cores[ci]);
            continue;
        }
        /* The start script on two fresh cores (as each env makes its start state): the same
         * work RAM. (Replaying it on the same core after core_reset is not enough on gambatte,
         * whose reset keeps state a power-on does not have.) */
        static uint8_t ram1[0x2000], ram2[0x2000];
        fixture_start_state(c, spec);
        fixture_gb_wram(c, ram1);
        core_close(c);
        c = fixture_core(spec, rom, cores[ci]);
        REQUIRE(c);
        fixture_start_state(c, spec);
        fixture_gb_wram(c, ram2);
        CHECKF(memcmp(ram1, ram2, sizeof ram1) == 0, "%s: start script not reproducible",
               cores[ci]);
        /* Bind after the core has run: a core may (re)map its memory at reset. */
        game_binding *b = NULL;
        REQUIRE_OK(game_bind(&b, spec, core_resolve, c));

        /* The documented start: Oak's lab (map 40) at (7, 4), one level-5 Pokémon, full HP. */
        CHECKF(val(b, "map") == 40, "%s map %lld", cores[ci], (long long)val(b, "map"));
        CHECKF(val(b, "x") == 7 && val(b, "y") == 4, "%s at (%lld, %lld)", cores[ci],
               (long long)val(b, "x"), (long long)val(b, "y"));
        CHECK(val(b, "party_count") == 1);
        CHECK(val(b, "level1") == 5 && val(b, "level2") == 0);
        CHECK(val(b, "hp1") > 0 && val(b, "hp1") == val(b, "max_hp1"));
        CHECK(val(b, "in_battle") == 0);
        CHECK(val(b, "money") == 3000);
        CHECK(val(b, "badges") == 0 && val(b, "badge_bits") == 0);
        CHECK(val(b, "pokedex_owned") == 1);
        int64_t events0 = val(b, "events");
        CHECK(events0 > 0);

        /* Walking: one step left. */
        fixture_play(c, "LEFT 20\n- 10\n");
        CHECKF(val(b, "x") == 6 && val(b, "y") == 4, "%s after LEFT: (%lld, %lld)", cores[ci],
               (long long)val(b, "x"), (long long)val(b, "y"));
        /* The START menu opens and closes without moving the player. The menu's cursor
         * (wCurrentMenuItem, 0xCC26) is not a game variable; check the position held. */
        fixture_play(c, "START 4\n- 40\nB 4\n- 40\n");
        CHECK(val(b, "x") == 6 && val(b, "y") == 4 && val(b, "map") == 40);

        /* Down to the lab's exit row: the rival battle (a trainer battle, in_battle 2). */
        fixture_play(c, "LEFT 20\n- 10\nDOWN 100\n- 10\n");
        fixture_mash(c, "B", 60); /* B advances text, answers NO to yes/no boxes */
        CHECKF(val(b, "in_battle") == 2, "%s: in_battle %lld", cores[ci],
               (long long)val(b, "in_battle"));
        CHECK(val(b, "y") == 6);
        CHECK(val(b, "pokedex_seen") == 2);
        int64_t enemy_hp0 = val(b, "enemy_hp"); /* the rival's BULBASAUR, full HP */
        CHECKF(enemy_hp0 > 0, "%s: enemy_hp %lld", cores[ci], (long long)enemy_hp0);
        /* Mash A (FIGHT, first move) until the battle ends, won or lost. */
        for (int k = 0; k < 40 && val(b, "in_battle") != 0; k++) fixture_mash(c, "A", 50);
        CHECKF(val(b, "in_battle") == 0, "%s: battle did not end", cores[ci]);
        battle_events[ci] = val(b, "events") - events0;
        CHECKF(battle_events[ci] == 1, "%s: events +%lld", cores[ci], (long long)battle_events[ci]);
        CHECK(val(b, "hp1") > 0); /* healed after a loss, or survived a win */
        /* Tackles landed: the enemy's HP went down (what the enemy_hp reward term pays for). */
        CHECKF(val(b, "enemy_hp") < enemy_hp0, "%s: enemy_hp %lld -> %lld", cores[ci],
               (long long)enemy_hp0, (long long)val(b, "enemy_hp"));
        fprintf(stderr, "%s: after the rival battle: level1 %lld, money %lld\n", cores[ci],
                (long long)val(b, "level1"), (long long)val(b, "money"));

        game_unbind(b);
        core_close(c);
    }

    /* The same actions through the env: the same reward (explore only) on both cores. */
    int64_t ex[2], x[2], y[2];
    double r0 = env_reward("mgba", &ex[0], &x[0], &y[0]);
    double r1 = env_reward("gambatte", &ex[1], &x[1], &y[1]);
    fprintf(stderr, "env reward mgba %.4f (%lld tiles, at %lld,%lld), gambatte %.4f (%lld tiles)\n",
            r0, (long long)ex[0], (long long)x[0], (long long)y[0], r1, (long long)ex[1]);
    CHECK(ex[0] > 3);
    CHECK(ex[0] == ex[1] && x[0] == x[1] && y[0] == y[1]);
    CHECKF(fabs(r0 - r1) < 1e-6, "mgba %f vs gambatte %f", r0, r1);
    CHECK(fabs(r0 - EXPLORE_REWARD * (double)(ex[0] - 1)) < 1e-4);
    sameboy_checks(r0, ex[0], x[0], y[0]);

    game_free(spec);
    return check_summary();
}
