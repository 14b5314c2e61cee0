/* The emulator env on real cores and the bundled games: observation shape and stacking,
 * RAM variables following scripted play, rewards, done and truncation, and determinism. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "game_helpers.h"
#include "gbfarm/cartpole.h"
#include "gbfarm/env_retro.h"

static void test_game(const char *dir, const char *core_name, const char *state, int w, int h)
{
    fprintf(stderr, "-- %s on %s\n", dir, core_name ? core_name : "its default core");
    fixture r;
    fixture_open(&r, dir, core_name, state, 5, 0);
    env_spec s = r.env->spec;
    CHECK(s.obs_type == ENV_OBS_U8 && s.obs_c == 4 && s.obs_w == w && s.obs_h == h);
    CHECK(s.n_actions == 5);
    size_t plane = (size_t)w * (size_t)h;
    /* At reset every stacked screen is the same picture, and it is not blank. */
    int same = 1, dark = 0;
    for (int c = 1; c < 4; c++) same &= !memcmp(r.obs, r.obs + c * plane, plane);
    for (size_t i = 0; i < plane; i++) dark += r.obs[i] < 128;
    CHECK(same);
    CHECKF(dark > 20, "only %d dark pixels in the first screen", dark);

    /* One RIGHT step moves the player one cell (the player starts mid-grid). */
    int64_t x0 = fixture_var(&r, "player_x"), y0 = fixture_var(&r, "player_y");
    CHECK_OK(env_step(r.env, CATCH_RIGHT));
    CHECK(fixture_var(&r, "player_x") == x0 + 1 && fixture_var(&r, "player_y") == y0);
    CHECK_OK(env_step(r.env, CATCH_DOWN));
    CHECK(fixture_var(&r, "player_y") == y0 + 1);
    CHECK_OK(env_step(r.env, CATCH_NOOP));
    CHECK(fixture_var(&r, "player_x") == x0 + 1 && fixture_var(&r, "player_y") == y0 + 1);
    CHECK(fixture_var(&r, "moves") == 2);
    /* The newest screen differs from the oldest: the player moved. */
    CHECK(memcmp(r.obs, r.obs + 3 * plane, plane) != 0);
    CHECK(r.env->episode.length == 3);

    /* A player that walks to the coin scores, and the reward says so (the coin_near shaping
     * term adds at most 0.02 x 18 cells either way per episode). */
    double ret = 0;
    int64_t coins = 0;
    int episodes = 1;
    for (int steps = 0; steps < 600; steps++) {
        CHECK_OK(env_step(r.env, fixture_catch_greedy(&r)));
        ret += r.env->reward;
        if (r.env->terminated || r.env->truncated) {
            coins += fixture_var(&r, "score");
            CHECK(fixture_var(&r, "score_bcd") == fixture_var(&r, "score"));
            CHECK_OK(env_reset(r.env));
            episodes++;
        }
    }
    coins += fixture_var(&r, "score");
    CHECKF(coins >= 5, "greedy play caught only %lld coins in 600 steps", (long long)coins);
    CHECKF(ret >= (double)coins - 0.37 * episodes && ret <= (double)coins + 0.37 * episodes,
           "return %.2f for %lld coins in %d episodes", ret, (long long)coins, episodes);
    CHECK(r.env->frames >= 603 * 4);

    /* Episodes end: the enemy's catch is terminal, otherwise max steps truncate. */
    r.game->max_episode_steps = 30;
    CHECK_OK(env_reset(r.env));
    CHECK(r.env->episode.length == 0 && r.env->episode.ret == 0);
    int n = 0;
    while (!r.env->terminated && !r.env->truncated && n < 100) {
        CHECK_OK(env_step(r.env, CATCH_NOOP));
        n++;
    }
    CHECK(r.env->terminated ? fixture_var(&r, "game_over") == 1 : (r.env->truncated && n == 30));
    gb_error *err = env_step(r.env, 5);
    CHECK(err && strstr(gb_error_msg(err), "action 5"));
    gb_error_free(err);
    fixture_close(&r);

    /* Same seed and index: identical episodes. Another index: different no-op frames, so a
     * different game (coins appear elsewhere). */
    fixture a, b, c;
    fixture_open(&a, dir, core_name, state, 9, 1);
    fixture_open(&b, dir, core_name, state, 9, 1);
    fixture_open(&c, dir, core_name, state, 9, 2);
    int identical = 1, differs = 0;
    for (int i = 0; i < 200; i++) {
        int act = i % 5;
        CHECK_OK(env_step(a.env, act));
        CHECK_OK(env_step(b.env, act));
        CHECK_OK(env_step(c.env, act));
        identical &=
            !memcmp(a.obs, b.obs, env_obs_bytes(&a.env->spec)) && a.env->reward == b.env->reward;
        differs |= memcmp(a.obs, c.obs, env_obs_bytes(&a.env->spec)) != 0;
        if (a.env->terminated || a.env->truncated) {
            CHECK_OK(env_reset(a.env));
            CHECK_OK(env_reset(b.env));
        }
        if (c.env->terminated || c.env->truncated) CHECK_OK(env_reset(c.env));
    }
    CHECK(identical);
    CHECK(differs);
    fixture_close(&a);
    fixture_close(&b);
    fixture_close(&c);
}

/* The env again (the folder's core, index 0), observing obs. */
static void reopen(fixture *f, game_obs obs, uint64_t seed)
{
    fixture_stop(f);
    f->game->obs = obs;
    fixture_start(f, NULL, seed, 0);
}

/* Screen and variables: the screens are the screen-only env's, the variables follow RAM,
 * scaled from their ranges to [0, 1]. */
static void test_screen_vars(void)
{
    fixture a, b;
    fixture_open(&a, "states/catch-gb", NULL, NULL, 5, 0);
    fixture_open(&b, "states/catch-gb", NULL, NULL, 5, 0);
    reopen(&a, GAME_OBS_SCREEN, 5);
    reopen(&b, GAME_OBS_SCREEN_VARS, 5);
    const env_spec *s = &b.env->spec;
    CHECK(s->obs_type == ENV_OBS_U8 && s->obs_vars == 6 && s->obs_c == 4);
    size_t screens = env_obs_bytes(&a.env->spec);
    CHECK(a.env->spec.obs_vars == 0 && env_obs_vars_offset(s) == screens &&
          env_obs_bytes(s) == screens + 6 * sizeof(float));
    static const char *const names[6] = {"player_x", "player_y", "coin_x",
                                         "coin_y",   "enemy_x",  "enemy_y"};
    int same = 1, scaled = 1, moved = 0;
    float first = -1.0f;
    for (int t = 0; t < 40 && !a.env->terminated && !b.env->terminated; t++) {
        int act = fixture_catch_greedy(&a);
        CHECK_OK(env_step(a.env, act));
        CHECK_OK(env_step(b.env, act));
        same &= !memcmp(a.obs, b.obs, screens);
        const float *v = (const float *)(b.obs + env_obs_vars_offset(s));
        for (int k = 0; k < 6; k++) {
            float want = (float)fixture_var(&b, names[k]) / (k % 2 ? 8.0f : 9.0f);
            scaled &= fabsf(v[k] - want) < 1e-6f;
        }
        if (first < 0.0f) first = v[0];
        moved |= v[0] != first;
    }
    CHECK(same);
    CHECKF(scaled, "variables not scaled from their ranges");
    CHECK(moved);
    fixture_close(&a);
    fixture_close(&b);
}

/* What callers ask any env for, without reaching for its core: the picture, the core's path
 * and the start state of the last reset; an env that draws nothing answers NULL. */
static void test_reports(void)
{
    fixture r;
    fixture_open(&r, "states/catch-gb", NULL, NULL, 5, 0);
    const core_frame *f = env_frame(r.env);
    CHECK(f && f == core_frame_get(env_retro_core(r.env)));
    CHECK(f && f->data && f->width == 160 && f->height == 144);
    CHECK(env_core_path(r.env) && !strcmp(env_core_path(r.env), r.core));
    CHECK(env_last_state(r.env) && !strcmp(env_last_state(r.env), r.game->states[0]));
    fixture_close(&r);

    env *e;
    REQUIRE_OK(cartpole_create(&e, 1, 0));
    CHECK(!env_frame(e) && !env_core_path(e) && !env_last_state(e));
    env_close(e);
}

/* The owner may move obs before each step, as the trainer does along its rollout buffer: the
 * observations (stacked screens and variables) are those of an env that keeps one buffer,
 * over resets too, and a snapshot taken where obs has moved to restores. */
static void test_moving_obs(void)
{
    fixture a, b;
    fixture_open(&a, "states/catch-gb", NULL, NULL, 7, 0);
    fixture_open(&b, "states/catch-gb", NULL, NULL, 7, 0);
    reopen(&a, GAME_OBS_SCREEN_VARS, 7);
    reopen(&b, GAME_OBS_SCREEN_VARS, 7);
    size_t n = env_obs_bytes(&b.env->spec);
    enum { SLOTS = 5 };
    uint8_t *slots = malloc(SLOTS * n);
    REQUIRE(slots);
    memset(slots, 0xAB, SLOTS * n); /* not zero: padding must be written, not inherited */
    memcpy(slots, b.obs, n);
    int same = 1, resets = 0;
    for (int t = 0; t < 300; t++) {
        int act = t % 5;
        b.env->obs = slots + (size_t)((t + 1) % SLOTS) * n;
        CHECK_OK(env_step(a.env, act));
        CHECK_OK(env_step(b.env, act));
        same &= !memcmp(a.obs, b.env->obs, n);
        if (a.env->terminated || a.env->truncated) {
            CHECK_OK(env_reset(a.env));
            CHECK_OK(env_reset(b.env));
            same &= !memcmp(a.obs, b.env->obs, n);
            resets++;
        }
    }
    CHECK(same);
    CHECK(resets > 0);
    /* A snapshot of b, restored into its own buffer, continues as a does. */
    uint8_t *snap;
    size_t size;
    CHECK_OK(b.env->ops->snapshot(b.env, &snap, &size));
    b.env->obs = b.obs;
    CHECK_OK(b.env->ops->restore(b.env, snap, size));
    free(snap);
    for (int t = 0; t < 20; t++) {
        b.env->obs = slots + (size_t)(t % SLOTS) * n;
        CHECK_OK(env_step(a.env, CATCH_NOOP));
        CHECK_OK(env_step(b.env, CATCH_NOOP));
        same &= !memcmp(a.obs, b.env->obs, n);
        if (a.env->terminated || a.env->truncated) break;
    }
    CHECK(same);
    b.env->obs = b.obs;
    free(slots);
    fixture_close(&a);
    fixture_close(&b);
}

/* Downsampling averages each factor × factor block of gray pixels (XRGB8888 gray levels,
 * so gray = the level), for every factor game.json allows. */
static void test_downsample(void)
{
    enum { W = 160, H = 144 };
    static uint32_t px[W * H];
    static uint8_t out[W * H];
    for (int y = 0; y < H; y++)
        for (int x = 0; x < W; x++) {
            uint32_t v = (uint32_t)((x * 7 + y * 13) % 251);
            px[y * W + x] = v << 16 | v << 8 | v;
        }
    core_frame f = {(const uint8_t *)px, W, H, W * 4, CORE_PIXEL_XRGB8888};
    static const int factors[] = {1, 2, 4};
    for (int i = 0; i < 3; i++) {
        int d = factors[i], bad = 0;
        env_frame_to_gray(&f, d, out);
        for (int oy = 0; oy < H / d; oy++)
            for (int ox = 0; ox < W / d; ox++) {
                unsigned sum = 0;
                for (int y = oy * d; y < oy * d + d; y++)
                    for (int x = ox * d; x < ox * d + d; x++) {
                        unsigned v = px[y * W + x] & 0xFF;
                        sum += (77 * v + 150 * v + 29 * v) >> 8;
                    }
                bad += out[oy * (W / d) + ox] != sum / (unsigned)(d * d);
            }
        CHECKF(bad == 0, "downsample %d: %d of %d pixels are not their block's mean", d, bad,
               W / d * (H / d));
    }
}

/* observation.follow: each screen is the window of the downsampled picture centred on the
 * player, black outside the picture; the player's block stays at the window's centre while it
 * walks to the grid's edges. */
static void test_follow(void)
{
    fixture a, b;
    fixture_load(&a, "states/catch-gb", NULL);
    fixture_load(&b, "states/catch-gb", NULL);
    a.game->obs = b.game->obs = GAME_OBS_SCREEN;
    a.game->obs_downsample = b.game->obs_downsample = 4;
    a.game->obs_follow.x = -1; /* the whole picture, beside the window */
    /* Every cell of the 10 × 9 grid, from any cell: 19 × 17 cells of 16 pixels. */
    b.game->obs_follow = (game_follow){game_var_index(b.game, "player_x"),
                                       game_var_index(b.game, "player_y"),
                                       16,
                                       8,
                                       8,
                                       19 * 16,
                                       17 * 16};
    fixture_start(&a, NULL, 3, 0);
    fixture_start(&b, NULL, 3, 0);
    const env_spec *s = &b.env->spec;
    CHECK(s->obs_c == 4 && s->obs_w == 76 && s->obs_h == 68);
    int stack = s->obs_c, pw = a.env->spec.obs_w, ph = a.env->spec.obs_h;
    size_t plane = (size_t)s->obs_w * (size_t)s->obs_h, pplane = (size_t)pw * (size_t)ph;
    int wrong = 0, off_centre = 0, edges = 0, steps = 0;
    for (int t = 0; t < 400; t++) {
        /* Ten steps toward each edge in turn, the greedy player between. */
        static const int walk[4] = {CATCH_LEFT, CATCH_UP, CATCH_RIGHT, CATCH_DOWN};
        int act = t % 80 < 10 ? walk[t / 80 % 4] : fixture_catch_greedy(&a);
        CHECK_OK(env_step(a.env, act));
        CHECK_OK(env_step(b.env, act));
        if (a.env->terminated || a.env->truncated) { /* the same game in both: reset both */
            CHECK(b.env->terminated || b.env->truncated);
            CHECK_OK(env_reset(a.env));
            CHECK_OK(env_reset(b.env));
            continue;
        }
        steps++;
        const uint8_t *pic = a.obs + (size_t)(stack - 1) * pplane;
        const uint8_t *win = b.obs + (size_t)(stack - 1) * plane;
        int px = (int)fixture_var(&a, "player_x"), py = (int)fixture_var(&a, "player_y");
        int left = (px * 16 + 8 - 152) / 4, top = (py * 16 + 8 - 136) / 4;
        for (int y = 0; y < s->obs_h; y++)
            for (int x = 0; x < s->obs_w; x++) {
                int sx = left + x, sy = top + y;
                bool in = sx >= 0 && sx < pw && sy >= 0 && sy < ph;
                wrong += win[y * s->obs_w + x] != (in ? pic[sy * pw + sx] : 0);
            }
        /* The player, a black block in a white margin: the 2 × 2 pixels at the centre. */
        for (int y = 33; y < 35; y++)
            for (int x = 37; x < 39; x++) off_centre += win[y * s->obs_w + x] > 64;
        edges += px == 0 || px == 9 || py == 0 || py == 8;
    }
    CHECKF(wrong == 0, "%d window pixels are not the picture's (or black outside it)", wrong);
    CHECKF(off_centre == 0, "the player's block left the window's centre (%d pixels)", off_centre);
    CHECKF(edges > 20 && steps > 300, "%d steps, %d at an edge", steps, edges);
    fixture_close(&a);
    fixture_close(&b);
}

int main(void)
{
    test_downsample();
    test_follow();
    test_reports();
    test_moving_obs();
    test_screen_vars();
    test_game("states/catch-gb", NULL, NULL, 80, 72);
    test_game("states/catch-gb", "mgba", "states/catch-gb/start.txt", 80, 72);
    test_game("states/catch-gba", NULL, NULL, 120, 80);

    /* A state made by Gambatte does not load into mGBA: the env says so at creation. */
    game_spec *g;
    REQUIRE_OK(game_load(&g, "states/catch-gb"));
    char path[4096];
    REQUIRE_OK(core_find("mgba", path, sizeof path));
    env_retro_config cfg = {g, path, g->rom, NULL, 0, NULL, 1, 0, NULL};
    env *e = NULL;
    gb_error *err = env_retro_create(&e, &cfg);
    CHECK(err && e == NULL && strstr(gb_error_msg(err), "start.state") &&
          strstr(gb_error_msg(err), "another core"));
    gb_error_free(err);
    game_free(g);
    return check_summary();
}
