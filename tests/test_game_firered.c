/* states/pokemon-firered on the real game: needs the user's ROM, named by $GBFARM_ROM_FIRERED
 * (Pokémon FireRed (USA) 1.0, SHA-1 41cb23d8dccc8ebd7c649cd8fbb58eeace6e2fdc); skipped without
 * it.
 *
 * Checks: the folder loads and the ROM passes game_check_rom; the start script (start.txt)
 * gives the same IWRAM and EWRAM on two fresh cores, and the documented start (Oak's lab, a
 * level-5 BULBASAUR, 3000 money as the "xor" variable decodes it); scripted walking moves x/y;
 * the START menu sets FLAG_OPENED_START_MENU and closes; walking to the door starts the rival
 * battle, whose start moves the save blocks while the pointer variables follow them, and mashing
 * A wins it (3080 money) with one more event flag; a fixed env action sequence earns the same
 * reward twice, explore only. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "game_helpers.h"
#include "run_helpers.h"
#include "gbfarm/core.h"
#include "gbfarm/env_retro.h"
#include "gbfarm/game.h"

#define GAME_DIR        "states/pokemon-firered"
#define SAVE_BLOCK1_PTR 0x03005008u /* gSaveBlock1Ptr */
#define SAVE_BLOCK2_PTR 0x0300500Cu /* gSaveBlock2Ptr */
/* FLAG_OPENED_START_MENU = SYS_FLAGS + 0x3E = 0x83E, in SaveBlock1.flags (offset 0xEE0) */
#define FLAG_OPENED_START_MENU 0x83Eu

static const char *rom;
static game_spec *spec;

static int64_t val(game_binding *b, const char *name)
{
    return fixture_value(spec, b, name);
}

static uint32_t bus32(core *c, uint32_t address)
{
    uint8_t *p;
    REQUIRE_OK(core_resolve(c, address, 4, &p));
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint8_t bus8(core *c, uint32_t address)
{
    uint8_t *p;
    REQUIRE_OK(core_resolve(c, address, 1, &p));
    return *p;
}

static bool flag(core *c, uint32_t id)
{
    return (bus8(c, bus32(c, SAVE_BLOCK1_PTR) + 0xEE0 + id / 8) >> (id % 8)) & 1;
}

enum { IWRAM_SIZE = 0x8000, EWRAM_SIZE = 0x40000 };

static void ram(core *c, uint8_t *out)
{
    uint8_t *iw, *ew;
    REQUIRE_OK(core_resolve(c, 0x03000000, IWRAM_SIZE, &iw));
    REQUIRE_OK(core_resolve(c, 0x02000000, EWRAM_SIZE, &ew));
    memcpy(out, iw, IWRAM_SIZE);
    memcpy(out + IWRAM_SIZE, ew, EWRAM_SIZE);
}

/* Reward of a fixed action sequence through the env. */
static double env_reward(int64_t *explored, int64_t *x, int64_t *y)
{
    /* 0 UP 1 DOWN 2 LEFT 3 RIGHT 4 A 5 B 6 START: around the top of the lab, a menu opened
     * and closed, staying above row 8 (the rival battle). */
    static const int actions[] = {2, 2, 2, 1, 2, 2, 0, 6, 5, 3, 3, 3, 3, 1, 2, 2, 0};
    return fixture_env_reward(spec, rom, spec->core, 7, actions, sizeof actions / sizeof actions[0],
                              explored, x, y);
}

/* The process's proportional set size: shared pages split among their mappings. */
static double pss_mb(void)
{
    FILE *fp = fopen("/proc/self/smaps_rollup", "r");
    char line[256];
    double kb = -1;
    while (fp && fgets(line, sizeof line, fp))
        if (sscanf(line, "Pss: %lf kB", &kb) == 1) break;
    if (fp) fclose(fp);
    return kb / 1024;
}

/* Envs that start from start.txt cost a few MB each, not FireRed's 16 MB ROM again (one copy
 * per process) nor mGBA's 32 MB private cartridge (made when the game's boot code runs, which
 * no env's core does: the script is played once, on a core of its own). */
static void env_memory(void)
{
    char path[4096];
    REQUIRE_OK(core_find(spec->core, path, sizeof path));
    env *e[5];
    double before = 0;
    for (int i = 0; i < 5; i++) {
        env_retro_config cfg = {.game = spec, .core_path = path, .rom_path = rom, .index = i};
        REQUIRE_OK(env_retro_create(&e[i], &cfg));
        e[i]->obs = malloc(env_obs_bytes(&e[i]->spec));
        REQUIRE_OK(env_reset(e[i]));
        for (int k = 0; k < 20; k++) REQUIRE_OK(env_step(e[i], k % 4));
        if (i == 0) before = pss_mb(); /* the first env brings the ROM's one copy */
    }
    double per_env = (pss_mb() - before) / 4;
    fprintf(stderr, "memory: %.1f MB per extra env (PSS)\n", per_env);
    CHECKF(before > 0 && per_env < 20, "%.1f MB per extra env", per_env);
    for (int i = 0; i < 5; i++) {
        free(e[i]->obs);
        env_close(e[i]);
    }
}

int main(void)
{
    rom = getenv("GBFARM_ROM_FIRERED");
    if (!rom || !*rom) return check_skip("GBFARM_ROM_FIRERED not set");

    REQUIRE_OK(game_load(&spec, GAME_DIR));
    CHECK_OK(game_check_rom(spec, rom));
    CHECK(spec->platform == CORE_PLATFORM_GBA);
    CHECK(!strcmp(spec->core, "mgba"));
    CHECK(spec->n_states == 1 && strstr(spec->states[0], "start.txt"));
    CHECK(spec->n_actions == 7 && spec->frame_skip == 24 && spec->press_frames == 8);

    /* The start script on two fresh cores (as each env makes its start state): the same
     * IWRAM and EWRAM. */
    static uint8_t ram1[IWRAM_SIZE + EWRAM_SIZE], ram2[IWRAM_SIZE + EWRAM_SIZE];
    core *c = fixture_core(spec, rom, spec->core);
    REQUIRE(c);
    fixture_start_state(c, spec);
    ram(c, ram1);
    core_close(c);
    c = fixture_core(spec, rom, spec->core);
    REQUIRE(c);
    fixture_start_state(c, spec);
    ram(c, ram2);
    CHECKF(memcmp(ram1, ram2, sizeof ram1) == 0, "start script not reproducible");

    game_binding *b = NULL;
    REQUIRE_OK(game_bind(&b, spec, core_resolve, c));
    /* The documented start: Oak's lab (map group 4, number 3) at (7, 4), in control, one
     * level-5 BULBASAUR at full HP, 3000 money (SaveBlock1.money XOR SaveBlock2.encryptionKey). */
    uint32_t sb1 = bus32(c, SAVE_BLOCK1_PTR), sb2 = bus32(c, SAVE_BLOCK2_PTR);
    CHECKF(sb1 >= 0x02000000 && sb1 < 0x02040000 && sb2 >= 0x02000000 && sb2 < 0x02040000,
           "save blocks at 0x%X, 0x%X", sb1, sb2);
    CHECKF(val(b, "map_group") == 4 && val(b, "map_num") == 3, "map %lld.%lld",
           (long long)val(b, "map_group"), (long long)val(b, "map_num"));
    CHECKF(val(b, "x") == 7 && val(b, "y") == 4, "at (%lld, %lld)", (long long)val(b, "x"),
           (long long)val(b, "y"));
    CHECK(val(b, "in_battle") == 0);
    CHECK(val(b, "party_count") == 1 && val(b, "level1") == 5 && val(b, "level2") == 0);
    CHECK(val(b, "hp1") > 0 && val(b, "hp1") == val(b, "max_hp1"));
    CHECK(val(b, "badges") == 0 && val(b, "badge_bits") == 0);
    CHECK(val(b, "pokedex_owned") == 1 && val(b, "pokedex_seen") == 1);
    CHECK(val(b, "money_key") != 0);
    CHECKF(val(b, "money") == 3000, "money %lld", (long long)val(b, "money"));
    /* the stored bytes are not the money: the "xor" decoding is what reads 3000 */
    uint32_t stored = bus32(c, sb1 + 0x290);
    CHECK(stored != 3000 && (stored ^ (uint32_t)val(b, "money_key")) == 3000);
    int64_t events0 = val(b, "events");
    CHECK(events0 > 0);
    /* a pointer variable reads what a manual dereference reads */
    CHECK(val(b, "map_num") == bus8(c, sb1 + 5));

    /* Walking: a step left (a turn first: 20 frames make one tile), one back. */
    fixture_play(c, "LEFT 20\n- 10\n");
    CHECKF(val(b, "x") == 6 && val(b, "y") == 4, "after LEFT: (%lld, %lld)", (long long)val(b, "x"),
           (long long)val(b, "y"));
    fixture_play(c, "RIGHT 20\n- 10\n");
    CHECKF(val(b, "x") == 7 && val(b, "y") == 4, "after RIGHT: (%lld, %lld)",
           (long long)val(b, "x"), (long long)val(b, "y"));

    /* The START menu: opening it sets FLAG_OPENED_START_MENU; B closes it, nothing moves. */
    CHECK(!flag(c, FLAG_OPENED_START_MENU));
    fixture_play(c, "START 4\n- 40\nB 4\n- 40\n");
    CHECK(flag(c, FLAG_OPENED_START_MENU));
    CHECK(val(b, "x") == 7 && val(b, "y") == 4 && val(b, "map_num") == 3);
    CHECK(val(b, "events") == events0); /* a system flag, outside the events range */

    /* Down towards the door: the rival stops the player at row 8 and battles (a trainer
     * battle). The battle's start moves the save blocks (by a random multiple of 4 below 128
     * bytes); the pointer variables follow. */
    fixture_play(c, "DOWN 20\n- 10\nDOWN 64\n- 20\n");
    fixture_mash(c, "B", 30);
    uint32_t sb1_battle = bus32(c, SAVE_BLOCK1_PTR);
    fprintf(stderr, "gSaveBlock1Ptr 0x%X -> 0x%X at the rival battle\n", sb1, sb1_battle);
    CHECKF(val(b, "in_battle") != 0, "in_battle %lld", (long long)val(b, "in_battle"));
    CHECKF(val(b, "x") == 7 && val(b, "y") == 8, "in battle: (%lld, %lld)", (long long)val(b, "x"),
           (long long)val(b, "y"));
    CHECK(val(b, "map_num") == bus8(c, sb1_battle + 5));
    CHECK(val(b, "pokedex_seen") == 2); /* the rival's CHARMANDER */
    CHECKF(val(b, "money") == 3000, "money %lld in battle", (long long)val(b, "money"));
    CHECK(val(b, "rival_won") == 0);
    /* enemy_hp is the opponent's (gBattleMons[1].hp): CHARMANDER's, full (maxHP, 4 bytes on) */
    int64_t enemy0 = val(b, "enemy_hp");
    CHECKF(enemy0 > 10 && enemy0 < 30 && enemy0 == (bus32(c, 0x02023C64 + 4) & 0xFFFF),
           "enemy_hp %lld at the battle's start", (long long)enemy0);
    /* Mash A (advances text, picks a menu's first entry: FIGHT, the first move) until the battle
     * ends, won or lost. */
    for (int k = 0; k < 20 && val(b, "in_battle") != 0; k++) fixture_mash(c, "A", 20);
    CHECKF(val(b, "in_battle") == 0, "the battle did not end");
    int64_t money = val(b, "money");
    fprintf(stderr,
            "after the rival battle: level1 %lld, hp %lld/%lld, money %lld, events +%lld, "
            "map %lld.%lld (%lld, %lld)\n",
            (long long)val(b, "level1"), (long long)val(b, "hp1"), (long long)val(b, "max_hp1"),
            (long long)money, (long long)(val(b, "events") - events0),
            (long long)val(b, "map_group"), (long long)val(b, "map_num"), (long long)val(b, "x"),
            (long long)val(b, "y"));
    CHECKF(val(b, "events") == events0 + 1, "events +%lld",
           (long long)(val(b, "events") - events0));
    CHECK(val(b, "level1") >= 5 && val(b, "hp1") > 0);
    CHECKF(money == 3080, "money %lld after the rival battle, want 3080 (won)", (long long)money);
    CHECKF(val(b, "enemy_hp") == 0, "enemy_hp %lld after a won battle",
           (long long)val(b, "enemy_hp"));
    /* the trainer flag of TRAINER_RIVAL_OAKS_LAB_CHARMANDER (328), set by a win only */
    CHECK(val(b, "rival_won") == 1 && flag(c, 0x500 + 328));
    CHECK(val(b, "map_num") == bus8(c, bus32(c, SAVE_BLOCK1_PTR) + 5));
    /* a fresh binding agrees with the one that followed the move */
    game_binding *b2 = NULL;
    REQUIRE_OK(game_bind(&b2, spec, core_resolve, c));
    for (int i = 0; i < game_var_count(spec); i++)
        CHECKF(game_value(b2, i) == game_value(b, i), "%s differs from a fresh binding",
               game_var_name(spec, i));
    game_unbind(b2);
    game_unbind(b);
    core_close(c);

    /* The same actions through the env, twice: the same reward, explore only. */
    int64_t ex[2], x[2], y[2];
    double r[2];
    for (int k = 0; k < 2; k++) r[k] = env_reward(&ex[k], &x[k], &y[k]);
    fprintf(stderr, "env reward %.4f (%lld tuples, at %lld,%lld), again %.4f\n", r[0],
            (long long)ex[0], (long long)x[0], (long long)y[0], r[1]);
    CHECK(ex[0] >= 4); /* a turn costs a step: 4 tuples on this path */
    CHECK(ex[0] == ex[1] && x[0] == x[1] && y[0] == y[1]);
    CHECKF(fabs(r[0] - r[1]) < 1e-6, "%f vs %f", r[0], r[1]);
    double per_tile = explore_reward("states/pokemon-firered");
    CHECKF(per_tile > 0 && fabs(r[0] - per_tile * (double)(ex[0] - 1)) < 1e-4,
           "reward %f for %lld tuples at %.3f", r[0], (long long)ex[0], per_tile);

    env_memory();
    game_free(spec);
    return check_summary();
}
