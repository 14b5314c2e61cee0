/* The SDL2 viewer, for real, on SDL's dummy video driver: the window's pixels are env 0's
 * frame scaled up above a status strip whose text follows the overlay, pause / pace / save /
 * close keys, real-time pacing; policy_load on a
 * checkpoint train_save wrote; and `gbfarm play` and `train --visualize` with and without a
 * display (Xvfb, when xvfb-run is installed). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "check.h"
#include "game_helpers.h"
#include "gbfarm/env_retro.h"
#include "gbfarm/policy_load.h"
#include "gbfarm/train.h"
#include "gbfarm/viewer.h"

#ifdef GBFARM_HAVE_SDL2
#include <SDL.h>
#endif

#define GAME "states/catch-gb"
/* No display at all, and a virtual one (SDL_VIDEODRIVER from the caller would decide instead).
 * SDL's X11 driver leaves libdbus allocations behind at exit (SDL 2.26 does not shut D-Bus
 * down), which LeakSanitizer would report: leak checks are off for the Xvfb runs alone. */
#define NO_DISPLAY "env -u DISPLAY -u WAYLAND_DISPLAY -u SDL_VIDEODRIVER "
#define XVFB                                                                                       \
    "xvfb-run -a -s '-screen 0 640x480x24' env -u WAYLAND_DISPLAY -u SDL_VIDEODRIVER "             \
    "ASAN_OPTIONS=\"$ASAN_OPTIONS:detect_leaks=0\" "

static double now_seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* One pixel of a core frame as 8-bit RGB, expanding 5/6-bit channels by bit replication. */
static void frame_rgb(const core_frame *f, unsigned x, unsigned y, int rgb[3])
{
    const uint8_t *p = f->data + y * f->pitch;
    if (f->format == CORE_PIXEL_XRGB8888) {
        uint32_t v;
        memcpy(&v, p + 4 * x, 4);
        rgb[0] = (v >> 16) & 255, rgb[1] = (v >> 8) & 255, rgb[2] = v & 255;
        return;
    }
    uint16_t v;
    memcpy(&v, p + 2 * x, 2);
    unsigned r, g, b;
    if (f->format == CORE_PIXEL_RGB565) {
        r = (v >> 11) & 31, g = (v >> 5) & 63, b = v & 31;
        rgb[1] = (int)((g << 2) | (g >> 4));
    } else {
        r = (v >> 10) & 31, g = (v >> 5) & 31, b = v & 31;
        rgb[1] = (int)((g << 3) | (g >> 2));
    }
    rgb[0] = (int)((r << 3) | (r >> 2)), rgb[2] = (int)((b << 3) | (b >> 2));
}

/* Every picture pixel against the frame pixel it scales: the largest channel difference. The
 * window is the picture with the status strip below it. */
static int compare(viewer *v, const core_frame *f, int scale, int *colours)
{
    uint8_t *rgb;
    int w, h;
    CHECK_OK(viewer_read_rgb(v, &rgb, &w, &h));
    if (!rgb) return 999;
    CHECKF(w == (int)f->width * scale && h > (int)f->height * scale, "window %dx%d", w, h);
    int worst = 0, seen[4][3], n_seen = 0;
    for (int y = 0; y < h && y < (int)f->height * scale; y++)
        for (int x = 0; x < w && x < (int)f->width * scale; x++) {
            int want[3];
            frame_rgb(f, (unsigned)(x / scale), (unsigned)(y / scale), want);
            const uint8_t *got = rgb + ((size_t)y * (size_t)w + (size_t)x) * 3;
            for (int c = 0; c < 3; c++) {
                int d = abs(got[c] - want[c]);
                if (d > worst) worst = d;
            }
            int known = 0;
            for (int i = 0; i < n_seen; i++) known |= !memcmp(seen[i], want, sizeof want);
            if (!known && n_seen < 4) memcpy(seen[n_seen++], want, sizeof want);
        }
    free(rgb);
    *colours = n_seen;
    return worst;
}

/* The status strip: the window's rows below the picture (pic_h rows), as RGB24. */
typedef struct strip {
    uint8_t *rgb;
    size_t bytes;
    int w, h;
    int lit, paused_lit; /* pixels in the text colour, in PAUSED's amber */
    bool starts_below;   /* the first row under the picture is the strip's background */
} strip;

static strip read_strip(viewer *v, int pic_h)
{
    strip s = {0};
    uint8_t *rgb;
    int w, h;
    CHECK_OK(viewer_read_rgb(v, &rgb, &w, &h));
    if (!rgb) return s;
    CHECKF(h > pic_h + 8, "no room for a status strip: window %dx%d, picture %d rows", w, h, pic_h);
    if (h > pic_h) {
        s.w = w, s.h = h - pic_h;
        s.bytes = (size_t)s.w * (size_t)s.h * 3;
        s.rgb = malloc(s.bytes);
        memcpy(s.rgb, rgb + (size_t)pic_h * (size_t)w * 3, s.bytes);
        for (size_t i = 0; i < s.bytes; i += 3) {
            const uint8_t *p = s.rgb + i;
            s.lit += p[0] >= 0xc0 && p[1] >= 0xc0 && p[2] >= 0xc0;
            s.paused_lit += p[0] >= 0xf0 && p[1] >= 0xa0 && p[1] <= 0xd0 && p[2] <= 0x60;
        }
        /* Not black (the picture's border) and not text: the strip's dark background. */
        s.starts_below = s.rgb[0] > 0 && s.rgb[0] < 0x60 && s.rgb[2] > 0 && s.rgb[2] < 0x60;
    }
    free(rgb);
    return s;
}

static void sleep_seconds(double s)
{
    struct timespec ts = {(time_t)s, (long)((s - (double)(time_t)s) * 1e9)};
    nanosleep(&ts, NULL);
}

static void step_n(fixture *r, int n, int action)
{
    for (int i = 0; i < n; i++) {
        CHECK_OK(env_step(r->env, action));
        if (r->env->terminated || r->env->truncated) CHECK_OK(env_reset(r->env));
    }
}

#ifdef GBFARM_HAVE_SDL2
static void press(SDL_Keycode key)
{
    SDL_Event e = {0};
    e.type = SDL_KEYDOWN;
    e.key.state = SDL_PRESSED;
    e.key.keysym.sym = key;
    SDL_PushEvent(&e);
}
#endif

static void test_viewer(void)
{
    fixture r;
    fixture_open(&r, GAME, NULL, NULL, 1, 0);
    step_n(&r, 40, 4); /* RIGHT: the player moves off its start */
    const core_frame *f = env_frame(r.env);
    REQUIRE(f->data && f->width == 160 && f->height == 144);

    viewer *v;
    viewer_config vc = {"test_viewer", 160, 144, 2, 59.7275, 0, false};
    REQUIRE_OK(viewer_open(&v, &vc));
    viewer_overlay o = {.step = 40, .action = "RIGHT", .frames = 4};
    viewer_events ev;
    viewer_frame(v, f, &o, &ev);
    CHECK(!ev.paused && ev.speed == 0 && !ev.save_state && !ev.closed && ev.buttons == 0);
    int colours, worst = compare(v, f, 2, &colours);
    CHECKF(worst <= 4, "window differs from env 0's frame by %d in a channel", worst);
    CHECKF(colours >= 2, "the frame is one colour (%d): nothing was drawn to compare", colours);

    /* The status strip: text under the picture that follows the overlay (the text changes at
     * most 10 times a second, so wait that long before the next call). */
    strip s1 = read_strip(v, 144 * 2);
    CHECKF(s1.starts_below && s1.lit >= 100 && s1.paused_lit == 0,
           "strip: background right below the picture %d, text pixels %d, amber %d",
           s1.starts_below, s1.lit, s1.paused_lit);
    o.step = 123456;
    sleep_seconds(0.11);
    viewer_frame(v, f, &o, &ev);
    strip s2 = read_strip(v, 144 * 2);
    CHECKF(s2.lit > s1.lit && s1.bytes == s2.bytes && memcmp(s1.rgb, s2.rgb, s1.bytes),
           "strip unchanged after step 40 -> 123456 (text pixels %d -> %d)", s1.lit, s2.lit);
    free(s1.rgb);
    free(s2.rgb);
    CHECK(compare(v, f, 2, &colours) <= 4);

    /* A later frame replaces it; a second viewer is refused while this one is open. */
    step_n(&r, 30, 2);
    viewer_frame(v, f, &o, &ev);
    worst = compare(v, f, 2, &colours);
    CHECKF(worst <= 4, "after 30 more steps: differs by %d", worst);
    viewer *second;
    gb_error *err = viewer_open(&second, &vc);
    CHECK(err != NULL && strstr(gb_error_msg(err), "already open"));
    gb_error_free(err);

#ifdef GBFARM_HAVE_SDL2
    /* Space pauses: the picture keeps the old frame while env 0 goes on; the strip says so. */
    uint8_t *before;
    int w, h;
    CHECK_OK(viewer_read_rgb(v, &before, &w, &h));
    press(SDLK_SPACE);
    viewer_frame(v, f, &o, &ev);
    CHECK(ev.paused);
    step_n(&r, 30, 3);
    viewer_frame(v, f, &o, &ev);
    uint8_t *during;
    CHECK_OK(viewer_read_rgb(v, &during, &w, &h));
    size_t picture_bytes = (size_t)w * 144 * 2 * 3;
    CHECK(before && during && !memcmp(before, during, picture_bytes));
    free(before);
    free(during);
    strip paused = read_strip(v, 144 * 2);
    CHECKF(paused.paused_lit >= 20, "no PAUSED in the strip (%d amber pixels)", paused.paused_lit);
    free(paused.rgb);
    press(SDLK_SPACE);
    viewer_frame(v, f, &o, &ev);
    CHECK(!ev.paused);
    CHECK(compare(v, f, 2, &colours) <= 4);
    strip resumed = read_strip(v, 144 * 2);
    CHECK(resumed.paused_lit == 0);
    free(resumed.rgb);

    /* - slows from uncapped to 8x ... down to real time; + speeds up again; F12 asks to save. */
    for (int i = 0; i < 5; i++) press(SDLK_MINUS);
    viewer_frame(v, f, NULL, &ev);
    CHECK(ev.speed == 1);
    press(SDLK_PLUS);
    press(SDLK_F12);
    viewer_frame(v, f, NULL, &ev);
    CHECK(ev.speed == 2 && ev.save_state);
    viewer_frame(v, f, NULL, &ev);
    CHECK(!ev.save_state); /* reported once */

    /* Real time: 15 calls of 4 frames at 59.73 fps take a second. */
    press(SDLK_MINUS);
    viewer_frame(v, f, &o, &ev);
    double t0 = now_seconds();
    for (int i = 0; i < 15; i++) viewer_frame(v, f, &o, &ev);
    double dt = now_seconds() - t0;
    CHECKF(ev.speed == 1 && dt > 0.95 && dt < 2.0, "60 frames at real time took %.3f s", dt);

    /* Closing the window is a request, not an exit. */
    SDL_Event quit = {0};
    quit.type = SDL_QUIT;
    SDL_PushEvent(&quit);
    viewer_frame(v, f, &o, &ev);
    CHECK(ev.closed);
#endif
    viewer_close(v);
    fixture_close(&r);
}

static gb_error *make_env(void *ctx, int index, uint64_t seed, env **out)
{
    fixture *r = ctx;
    env_retro_config cfg = {r->game, r->core, r->game->rom, NULL, 0, NULL, seed, index, NULL};
    return env_retro_create(out, &cfg);
}

/* A checkpoint train_save wrote loads as a policy alone, weight for weight; with the wrong
 * width, another number of actions or observations of another shape it is refused, naming
 * which. */
static void test_policy_load(const char *path)
{
    fixture r;
    fixture_load(&r, GAME, NULL);
    REQUIRE_OK(core_find(r.game->core, r.core, sizeof r.core));
    train_config tc = train_config_default();
    tc.n_envs = 1, tc.rollout_steps = 8, tc.total_steps = 8, tc.hidden = 64, tc.seed = 7;
    train *t;
    REQUIRE_OK(train_create(&t, &tc, make_env, &r, NULL));
    REQUIRE_OK(train_save(t, path));
    policy *p;
    CHECK_OK(policy_load(&p, env_retro_spec(r.game), 64, path));
    const policy *want = train_policy(t);
    CHECK(p && p->n_params == want->n_params &&
          !memcmp(p->params, want->params, want->n_params * sizeof(float)));
    policy_free(p);
    gb_error *err = policy_load(&p, env_retro_spec(r.game), 32, path); /* the wrong width */
    CHECK(err && strstr(gb_error_msg(err), "--hidden"));
    if (err) fprintf(stderr, "(expected) %s\n", gb_error_msg(err));
    gb_error_free(err);
    env_spec fewer = env_retro_spec(r.game); /* the folder's actions changed since training */
    fewer.n_actions--;
    err = policy_load(&p, fewer, 64, path);
    char want_msg[128];
    snprintf(want_msg, sizeof want_msg, "trained with %d actions, this game has %d",
             fewer.n_actions + 1, fewer.n_actions);
    CHECKF(err && strstr(gb_error_msg(err), want_msg), "%s", err ? gb_error_msg(err) : "loaded");
    if (err) fprintf(stderr, "(expected) %s\n", gb_error_msg(err));
    gb_error_free(err);
    env_spec narrower = env_retro_spec(r.game); /* the folder's window changed since training */
    narrower.obs_w -= 4;
    err = policy_load(&p, narrower, 64, path);
    snprintf(want_msg, sizeof want_msg,
             "trained on observations of %dx%dx%d, this env's are %dx%dx%d", narrower.obs_c,
             narrower.obs_h, narrower.obs_w + 4, narrower.obs_c, narrower.obs_h, narrower.obs_w);
    CHECKF(err && strstr(gb_error_msg(err), want_msg), "%s", err ? gb_error_msg(err) : "loaded");
    if (err) fprintf(stderr, "(expected) %s\n", gb_error_msg(err));
    gb_error_free(err);
    train_free(t);
    game_free(r.game);
}

/* Runs a command; returns its exit status and its output (stdout and stderr) in out. */
static int run_command(const char *cmd, char *out, size_t size)
{
    FILE *p = popen(cmd, "r");
    REQUIRE(p);
    size_t n = fread(out, 1, size - 1, p);
    out[n] = '\0';
    int status = pclose(p);
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

static void test_play_command(const char *checkpoint)
{
    char out[8192], cmd[1024];
    /* No display: one line on stderr and exit status 1, not a crash. */
    int rc = run_command("SDL_VIDEODRIVER=nonexistent " GBFARM_BIN " play --game " GAME " 2>&1",
                         out, sizeof out);
    const char *nl = strchr(out, '\n');
    CHECKF(rc == 1 && !strncmp(out, "gbfarm: ", 8) && nl && nl[1] == '\0', "rc %d: %s", rc, out);
    CHECK(viewer_available() ? strstr(out, "nonexistent") != NULL
                             : strstr(out, "built without SDL2") != NULL);
    if (!viewer_available()) return;

    /* A human's session (no keys pressed) and the agent's, headless. */
    rc = run_command("SDL_VIDEODRIVER=dummy " GBFARM_BIN " play --game " GAME
                     " --frames 120 --speed 0 2>&1",
                     out, sizeof out);
    CHECKF(rc == 0, "play: rc %d: %s", rc, out);
    snprintf(cmd, sizeof cmd,
             "SDL_VIDEODRIVER=dummy " GBFARM_BIN " play --game " GAME
             " --checkpoint %s --hidden 64 --frames 4200 --speed 0 2>&1",
             checkpoint);
    rc = run_command(cmd, out, sizeof out);
    CHECKF(rc == 0 && strstr(out, "episode 1: return"), "play --checkpoint: rc %d: %s", rc, out);
    snprintf(cmd, sizeof cmd,
             "SDL_VIDEODRIVER=dummy " GBFARM_BIN " play --game " GAME
             " --checkpoint %s --hidden 32 --frames 10 2>&1",
             checkpoint);
    rc = run_command(cmd, out, sizeof out);
    CHECKF(rc == 1 && strstr(out, "--hidden") && strchr(out, '\n') == out + strlen(out) - 1,
           "play with the wrong width: rc %d: %s", rc, out);
}

static double timed_command(const char *cmd, int *rc, char *out, size_t size)
{
    double t0 = now_seconds();
    *rc = run_command(cmd, out, size);
    return now_seconds() - t0;
}

/* Without a display, play and train --visualize stop before anything starts, with one line and
 * exit status 1 (SDL would fall back to its offscreen driver and show nothing), whatever
 * --frames says; the run directory is not made. */
static void test_no_display(const char *tmp)
{
    char out[8192], cmd[1024];
    static const char *const plays[] = {"--frames 100", ""};
    for (int i = 0; i < 2; i++) {
        snprintf(cmd, sizeof cmd,
                 NO_DISPLAY "timeout 20 " GBFARM_BIN " play --game " GAME " %s 2>&1", plays[i]);
        int rc = run_command(cmd, out, sizeof out);
        CHECKF(rc == 1 && strstr(out, "no display") && strchr(out, '\n') == out + strlen(out) - 1,
               "play %s without a display: rc %d: %s", plays[i], rc, out);
    }
    snprintf(cmd, sizeof cmd,
             NO_DISPLAY "timeout 60 " GBFARM_BIN " train --visualize --envs 1 --steps 256 "
                        "--rollout-steps 128 --run-dir %s/nodisplay 2>&1",
             tmp);
    int rc = run_command(cmd, out, sizeof out);
    CHECKF(rc == 1 && strstr(out, "--visualize: no display") && !strchr(out, '\n')[1],
           "train --visualize without a display: rc %d: %s", rc, out);
    snprintf(cmd, sizeof cmd, "%s/nodisplay", tmp);
    CHECKF(access(cmd, F_OK) != 0, "train --visualize without a display made %s", cmd);
}

/* Under Xvfb: play shows its window and stops after --frames; train --visualize shows env 0
 * without holding the farm to real time (512 steps of 2 envs: about 17 s at real time, a
 * second or two uncapped), and --speed 1 says what its pace costs. */
static void test_xvfb(const char *tmp)
{
    char out[8192], cmd[1024];
    int rc = run_command("command -v xvfb-run >/dev/null 2>&1", out, sizeof out);
    if (rc != 0) {
        fprintf(stderr,
                "display checks skipped: xvfb-run is not installed (apt-get install xvfb xauth)\n");
        return;
    }
    snprintf(cmd, sizeof cmd, XVFB GBFARM_BIN " play --game " GAME " --frames 100 --speed 0 2>&1");
    rc = run_command(cmd, out, sizeof out);
    CHECKF(rc == 0, "play under Xvfb: rc %d: %s", rc, out);

    snprintf(cmd, sizeof cmd,
             XVFB GBFARM_BIN " train --visualize --envs 2 --steps 512 --rollout-steps 64 "
                             "--run-dir %s/xvfb 2>&1",
             tmp);
    double dt = timed_command(cmd, &rc, out, sizeof out);
    CHECKF(rc == 0 && !strstr(out, "waits for env 0"), "train --visualize under Xvfb: rc %d: %s",
           rc, out);
    /* Against the same run without the window (this build's speed: a sanitizer's is several
     * times slower) and the run held to env 0's pace (its 256 steps of 4 frames at the Game
     * Boy's 59.73 frames a second): it must be nearer the first. The window's drawing takes
     * CPU from the envs, more under a sanitizer (ASan on a slow 2-core VM: 10.6 s against
     * 6.5 s), so a fixed margin over the plain run does not tell the two apart. */
    snprintf(cmd, sizeof cmd,
             GBFARM_BIN " train --envs 2 --steps 512 --rollout-steps 64 --run-dir %s/plain 2>&1",
             tmp);
    int rc_plain;
    double plain = timed_command(cmd, &rc_plain, out, sizeof out), paced = 256 * 4 / 59.73;
    CHECKF(rc_plain == 0, "train without --visualize: rc %d: %s", rc_plain, out);
    if (plain < 0.8 * paced)
        CHECKF(dt < (plain + paced) / 2,
               "train --visualize: 512 steps took %.1f s, %.1f s without it, %.1f s at env 0's "
               "pace: the farm waits for env 0",
               dt, plain, paced);
    else
        fprintf(stderr,
                "--visualize's pace not checked: this build takes %.1f s without it, "
                "near the %.1f s of real time\n",
                plain, paced);
    printf("train --visualize under Xvfb, 2 envs, 512 steps: %.1f s (%.1f s without, %.1f s at "
           "env 0's pace)\n",
           dt, plain, paced);

    snprintf(cmd, sizeof cmd,
             XVFB GBFARM_BIN " train --visualize --speed 1 --envs 1 --steps 32 --rollout-steps 32 "
                             "--run-dir %s/paced 2>&1",
             tmp);
    dt = timed_command(cmd, &rc, out, sizeof out);
    CHECKF(rc == 0 && strstr(out, "every env waits for env 0") && dt > 1.5,
           "train --visualize --speed 1: rc %d, %.1f s: %s", rc, dt, out);
}

int main(void)
{
    char core_path[4096];
    gb_error *err = core_find("gambatte", core_path, sizeof core_path);
    if (err) {
        fprintf(stderr, "%s\n", gb_error_msg(err));
        gb_error_free(err);
        return check_skip("the gambatte core is not installed (apt-get install libretro-gambatte)");
    }
    char checkpoint[] = "/tmp/gbfarm-test-viewer-XXXXXX.safetensors";
    int fd = mkstemps(checkpoint, 12);
    REQUIRE(fd >= 0);
    close(fd);

    test_policy_load(checkpoint);
    test_play_command(checkpoint);
    unlink(checkpoint);
    if (!viewer_available()) return check_summary();
    char tmp[] = "/tmp/gbfarm-test-viewer-XXXXXX";
    REQUIRE(mkdtemp(tmp));
    test_no_display(tmp);
    test_xvfb(tmp);
    snprintf(checkpoint, sizeof checkpoint, "rm -rf %s", tmp);
    CHECK(system(checkpoint) == 0);
    /* No display needed: SDL's dummy driver draws into memory with the software renderer
     * (offscreen works too, but loads EGL, whose libraries leak under ASan). */
    setenv("SDL_VIDEODRIVER", "dummy", 1);
    test_viewer();
    return check_summary();
}
