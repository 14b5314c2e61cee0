/* SameBoy's libretro core, which the user builds and names by path: $GBFARM_CORE_SAMEBOY
 * (skipped when unset). Only the libretro API is assumed: a private copy per instance, two
 * instances that run independently, the 160x144 XRGB8888 frame, RAM through the memory map,
 * save states that replay bit-identically (compared by WRAM and frames: SameBoy's real-time
 * clock can make the state bytes of two instances differ; on catch-gb, with no RTC, they
 * were equal), and the catch-gb env with start.txt: the game starts after SameBoy's boot
 * ROM, a RIGHT step moves the player one cell, and the grayscale observation of SameBoy's
 * XRGB8888 frames has the layout of Gambatte's RGB565 ones for the same game state. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "game_helpers.h"
#include "gbfarm/core.h"
#include "gbfarm/env_retro.h"

#define ROM   "states/catch-gb/catch.gb"
#define START "states/catch-gb/start.txt"

static char sameboy[4096];

/* Hash of GB work RAM (0xC000-0xDFFF, two banks). */
static uint64_t wram_hash(core *c)
{
    return fixture_ram_hash(c, 0xC000, 0x2000);
}

/* Frames with d-pad buttons from a seeded sequence, hashing work RAM and the picture. */
static uint64_t play(core *c, uint64_t seed, int frames)
{
    return fixture_run_hash(c, 0xC000, 0x2000, seed, frames);
}

static core *open_core(void)
{
    core_config cfg = {sameboy, ROM, CORE_PLATFORM_GB, NULL, 0, NULL};
    core *c = NULL;
    gb_error *err = core_open(&c, &cfg);
    if (err) fprintf(stderr, "%s on %s: %s\n", sameboy, ROM, gb_error_msg(err));
    REQUIRE(err == NULL);
    return c;
}

/* Mappings of private core copies (gbfarm-core-XXXXXX.so, unlinked) and of the original. */
static void count_mappings(int *copies, int *original)
{
    *copies = *original = 0;
    FILE *f = fopen("/proc/self/maps", "r");
    if (!f) return;
    char line[8192], seen[16][4096];
    int n_seen = 0;
    while (fgets(line, sizeof line, f)) {
        char *path = strchr(line, '/');
        if (!path) continue;
        path[strcspn(path, "\n")] = 0;
        if (!strcmp(path, sameboy)) (*original)++;
        if (!strstr(path, "gbfarm-core-")) continue;
        int known = 0;
        for (int i = 0; i < n_seen; i++) known |= !strcmp(seen[i], path);
        if (!known && n_seen < 16) snprintf(seen[n_seen++], sizeof seen[0], "%s", path);
    }
    fclose(f);
    *copies = n_seen;
}

static void test_core(void)
{
    core *a = open_core(), *b = open_core();
    int copies, original;
    count_mappings(&copies, &original);
    CHECKF(copies >= 2 && original == 0, "%d private copies mapped, original mapped %d times",
           copies, original);

    core_info info;
    core_get_info(a, &info);
    fprintf(stderr, "-- %s %s, state %zu bytes\n", info.name, info.version, core_state_size(a));
    CHECK(info.format == CORE_PIXEL_XRGB8888);
    CHECK(info.memory_map);

    core_run(a, true);
    const core_frame *f = core_frame_get(a);
    CHECKF(f->data && f->width == 160 && f->height == 144 && f->format == CORE_PIXEL_XRGB8888 &&
               f->pitch >= 160 * 4,
           "frame %ux%u format %d pitch %zu", f->width, f->height, f->format, f->pitch);

    /* RAM at 0xC000 resolves, both banks, and each instance has its own. */
    uint8_t *pa = NULL, *pb = NULL, *p = NULL;
    CHECK_OK(core_resolve(a, 0xC000, 0x20, &pa));
    CHECK_OK(core_resolve(b, 0xC000, 0x20, &pb));
    CHECK_OK(core_resolve(a, 0xD000, 0x1000, &p));
    CHECK(pa && pb && pa != pb);
    gb_error *err = core_resolve(a, 0xE000, 1, &p); /* echo RAM: not a RAM region */
    CHECK(err != NULL);
    gb_error_free(err);

    /* Into the game (SameBoy runs its built-in boot ROM first: the game starts at about
     * frame 100, not 15 as on Gambatte), save, play 600 frames; load, play the same. */
    for (int i = 0; i < 180; i++) core_run(a, false);
    CHECK_OK(core_resolve(a, 0xC000, 0x20, &pa));
    CHECKF(!memcmp(pa + 0x1C, "CTCH", 4), "the game has not started after 181 frames");
    size_t size = core_state_size(a);
    CHECK(size > 1000);
    uint8_t *state = malloc(size), *state_b = malloc(size);
    REQUIRE(state && state_b);
    CHECK_OK(core_save_state(a, state, size));
    uint64_t ram0 = wram_hash(a);
    uint64_t first = play(a, 42, 600);
    CHECK(wram_hash(a) != ram0);
    CHECK_OK(core_load_state(a, state, size, "saved state"));
    CHECK(wram_hash(a) == ram0);
    uint64_t second = play(a, 42, 600);
    CHECKF(first == second, "replay from a state differs");

    /* The other instance loads a's state and plays the same; a running did not move b. */
    uint64_t b_frames = core_frames_run(b), b_ram = wram_hash(b);
    CHECK_OK(core_load_state(a, state, size, "saved state"));
    CHECK(core_frames_run(b) == b_frames && wram_hash(b) == b_ram);
    CHECK_OK(core_load_state(b, state, size, "saved state"));
    uint64_t ha = play(a, 1, 300), hb = play(b, 1, 300);
    CHECKF(ha == hb, "two instances with the same inputs differ");
    /* Their state bytes may differ (the real-time clock), their RAM and frames do not. */
    CHECK_OK(core_save_state(a, state, size));
    CHECK_OK(core_save_state(b, state_b, size));
    fprintf(stderr, "-- state bytes of two instances in the same RAM state: %s\n",
            memcmp(state, state_b, size) ? "differ" : "equal");
    CHECK(wram_hash(a) == wram_hash(b) && fixture_frame_hash(a) == fixture_frame_hash(b));
    /* Different inputs: different games. */
    CHECK_OK(core_load_state(b, state, size, "saved state"));
    CHECK_OK(core_load_state(a, state, size, "saved state"));
    play(a, 1, 300);
    play(b, 2, 300);
    CHECK(wram_hash(a) != wram_hash(b));

    err = core_load_state(a, state, size / 2, "half.state");
    CHECK(err && strstr(gb_error_msg(err), "half.state") &&
          strstr(gb_error_msg(err), "another core"));
    gb_error_free(err);

    free(state);
    free(state_b);
    core_close(a);
    core_close(b);
}

/* The catch-gb env from start.txt, without max steps. */
static void open_env(fixture *f, const char *core_name, uint64_t seed, int index)
{
    fixture_load(f, "states/catch-gb", START);
    f->game->max_episode_steps = 0;
    fixture_start(f, core_name, seed, index);
}

static const uint8_t *state_block(fixture *r)
{
    uint8_t *p = NULL;
    REQUIRE_OK(core_resolve(env_retro_core(r->env), 0xC000, 0x20, &p));
    return p;
}

/* The game has set up its state and run a few frames of its main loop (it writes "CTCH"
 * before drawing the first screen with the LCD off, and reads no input until then). */
static int started(fixture *r)
{
    const uint8_t *p = state_block(r);
    return !memcmp(p + 0x1C, "CTCH", 4) && p[0x14] >= 4;
}

/* Steps NOOP until the game has started: start.txt's 60 frames end inside SameBoy's boot
 * ROM, where work RAM still holds the power-on pattern (game_over reads nonzero). */
static int wait_for_game(fixture *r)
{
    int steps = 0;
    while (!started(r) && steps < 100) {
        CHECK_OK(env_step(r->env, CATCH_NOOP));
        steps++;
    }
    REQUIRE(started(r));
    return steps;
}

static void test_env(void)
{
    fixture r;
    open_env(&r, sameboy, 5, 0);
    env_spec s = r.env->spec;
    CHECK(s.obs_type == ENV_OBS_U8 && s.obs_c == 4 && s.obs_w == 80 && s.obs_h == 72);
    int boot = wait_for_game(&r);
    if (boot)
        fprintf(stderr,
                "-- note: after %s SameBoy was still booting; the game started %d steps later\n",
                START, boot);

    int64_t x0 = fixture_var(&r, "player_x"), y0 = fixture_var(&r, "player_y");
    CHECK(x0 == 4 && y0 == 4);
    CHECK_OK(env_step(r.env, CATCH_RIGHT));
    CHECKF(fixture_var(&r, "player_x") == x0 + 1 && fixture_var(&r, "player_y") == y0,
           "RIGHT: (%lld,%lld) -> (%lld,%lld)", (long long)x0, (long long)y0,
           (long long)fixture_var(&r, "player_x"), (long long)fixture_var(&r, "player_y"));
    CHECK_OK(env_step(r.env, CATCH_DOWN));
    CHECK(fixture_var(&r, "player_y") == y0 + 1);
    CHECK(fixture_var(&r, "moves") == 2);

    /* Every move step moves the player exactly one cell, bounce or not: greedy play scores. */
    int64_t coins = 0, bad = 0;
    for (int steps = 0; steps < 300; steps++) {
        int act = fixture_catch_greedy(&r);
        int64_t x = fixture_var(&r, "player_x"), y = fixture_var(&r, "player_y"),
                m = fixture_var(&r, "moves");
        CHECK_OK(env_step(r.env, act));
        if (!fixture_var(&r, "game_over") && act != CATCH_NOOP &&
            (fixture_var(&r, "moves") != m + 1 ||
             llabs(fixture_var(&r, "player_x") - x) + llabs(fixture_var(&r, "player_y") - y) !=
                 1)) {
            bad++;
            fprintf(stderr,
                    "-- step %d action %d: (%lld,%lld) moves %lld -> (%lld,%lld) moves %lld\n",
                    steps, act, (long long)x, (long long)y, (long long)m,
                    (long long)fixture_var(&r, "player_x"), (long long)fixture_var(&r, "player_y"),
                    (long long)fixture_var(&r, "moves"));
        }
        if (r.env->terminated) {
            coins += fixture_var(&r, "score");
            CHECK_OK(env_reset(r.env));
            wait_for_game(&r);
        }
    }
    coins += fixture_var(&r, "score");
    CHECKF(bad == 0, "%lld move steps did not move the player one cell", (long long)bad);
    CHECKF(coins >= 5, "greedy play caught only %lld coins in 300 steps", (long long)coins);
    fixture_close(&r);

    /* The same game on Gambatte and SameBoy. Both play start.txt and the same no-op frames
     * (same seed and index); SameBoy's game starts 84 frames later (its boot ROM), so it
     * steps NOOP until its game has run as many frames as Gambatte's. From there the games'
     * state blocks are equal and stay equal while nobody presses a button: the enemy walks
     * (the RNG advances every frame) until it catches the player. A press does not keep them
     * equal: SameBoy emulates the DMG's joypad bounce, so a press or release reaches the game
     * a frame late now and then, and the game mixes the press's frame into its RNG. */
    fixture g, b;
    open_env(&g, "gambatte", 11, 3);
    open_env(&b, sameboy, 11, 3);
    REQUIRE(started(&g));
    int lag = 0;
    while ((!started(&b) || fixture_var(&b, "frames") < fixture_var(&g, "frames")) && lag < 100) {
        CHECK_OK(env_step(b.env, CATCH_NOOP));
        lag++;
    }
    fprintf(stderr, "-- SameBoy's game lags Gambatte's by %d steps\n", lag);
    REQUIRE(started(&b) && fixture_var(&b, "frames") == fixture_var(&g, "frames"));
    CHECK(!memcmp(state_block(&g), state_block(&b), 0x20));

    /* SameBoy's greyscale DMG palette is 0xFF/0xAA/0x55/0x00, Gambatte's RGB565 output a
     * slightly different one, so gray levels need not be equal: the pictures must have the
     * same layout, i.e. Gambatte's level -> SameBoy's level is one strictly increasing map,
     * and the levels stay close. */
    size_t n = env_obs_bytes(&g.env->spec);
    int map[256];
    for (int i = 0; i < 256; i++) map[i] = -1;
    int conflicts = 0, max_diff = 0, steps = 0, ram_same = 1, reward_same = 1, right_done = 0;
    for (; steps < 400 && !g.env->terminated; steps++) {
        /* One RIGHT, while the enemy is not about to move: both players move one cell and
         * only the RNG differs. Then no presses. */
        int act = CATCH_NOOP;
        if (steps >= 60 && !right_done && fixture_var(&g, "enemy_timer") > 6 &&
            fixture_var(&g, "player_x") < 9)
            act = CATCH_RIGHT;
        CHECK_OK(env_step(g.env, act));
        CHECK_OK(env_step(b.env, act));
        const uint8_t *gs = state_block(&g), *bs = state_block(&b);
        if (act == CATCH_RIGHT) {
            right_done = 1;
            CHECK(gs[1] == bs[1] && gs[1] == fixture_var(&g, "player_x"));
            CHECK(!memcmp(gs, bs, 0x0E) && !memcmp(gs + 0x10, bs + 0x10, 0x10));
        } else if (!right_done) {
            ram_same &= !memcmp(gs, bs, 0x20);
            reward_same &= g.env->reward == b.env->reward && g.env->terminated == b.env->terminated;
        }
        if (act == CATCH_NOOP && right_done) break; /* the RNGs differ: the games part from here */
        for (size_t i = 0; i < n; i++) {
            int gv = g.obs[i], sv = b.obs[i];
            if (map[gv] < 0) map[gv] = sv;
            conflicts += map[gv] != sv;
            if (abs(gv - sv) > max_diff) max_diff = abs(gv - sv);
        }
    }
    int levels = 0, monotone = 1, last = -1;
    fprintf(stderr, "-- %d steps compared; gray levels gambatte -> sameboy:", steps);
    for (int i = 0; i < 256; i++) {
        if (map[i] < 0) continue;
        fprintf(stderr, " %d->%d", i, map[i]);
        levels++;
        monotone &= map[i] > last;
        last = map[i];
    }
    fprintf(stderr, "; max difference %d\n", max_diff);
    CHECKF(steps >= 30, "only %d steps compared", steps);
    CHECKF(ram_same, "the games' state blocks drifted apart without presses");
    CHECK(reward_same);
    CHECKF(conflicts == 0, "%d pixels where one Gambatte gray level maps to another SameBoy level",
           conflicts);
    CHECK(monotone && levels >= 4);
    CHECK(max_diff <= 8);
    fixture_close(&g);
    fixture_close(&b);
}

int main(void)
{
    const char *path = getenv("GBFARM_CORE_SAMEBOY");
    if (!path || !*path) return check_skip("GBFARM_CORE_SAMEBOY not set");
    REQUIRE_OK(core_find(path, sameboy, sizeof sameboy));
    test_core();
    test_env();
    return check_summary();
}
