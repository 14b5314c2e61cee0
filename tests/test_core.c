/* The libretro frontend on real Debian cores and the bundled ROMs: a private copy per
 * instance, the 160x144 / 240x160 screen, memory resolution, save states that replay
 * bit-identically, independent instances, and clear errors for bad cores and states. */
#include <libretro.h>
#include <stdint.h>
#include <string.h>

#include "check.h"
#include "game_helpers.h"
#include "gbfarm/core.h"

typedef struct target {
    const char *core, *rom;
    core_platform platform;
    uint32_t wram, wram_len; /* the game's work RAM, where its state block lives */
    uint32_t unmapped;
    unsigned width, height;
} target;

static const target targets[] = {
    {"gambatte", "states/catch-gb/catch.gb", CORE_PLATFORM_GB, 0xC000, 0x2000, 0x10000, 160, 144},
    {"mgba", "states/catch-gb/catch.gb", CORE_PLATFORM_GB, 0xC000, 0x2000, 0x10000, 160, 144},
    {"mgba", "states/catch-gba/catch.gba", CORE_PLATFORM_GBA, 0x03000000, 0x8000, 0x10000000, 240,
     160},
};

/* Hash of the target's work RAM. */
static uint64_t ram_hash(core *c, const target *t)
{
    return fixture_ram_hash(c, t->wram, t->wram_len);
}

/* Frames with buttons from a seeded sequence, hashing RAM and the picture (fixture_run_hash). */
static uint64_t play(core *c, const target *t, uint64_t seed, int frames)
{
    return fixture_run_hash(c, t->wram, t->wram_len, seed, frames);
}

static core *open_target(const target *t)
{
    char path[4096];
    REQUIRE_OK(core_find(t->core, path, sizeof path));
    core_config cfg = {path, t->rom, t->platform, NULL, 0, NULL};
    core *c = NULL;
    gb_error *err = core_open(&c, &cfg);
    if (err) fprintf(stderr, "%s on %s: %s\n", t->core, t->rom, gb_error_msg(err));
    REQUIRE(err == NULL);
    return c;
}

static void test_target(const target *t)
{
    fprintf(stderr, "-- %s on %s\n", t->core, t->rom);
    core *a = open_target(t), *b = open_target(t);

    /* The platform's own screen, not a Super Game Boy border. */
    core_run(a, true);
    const core_frame *f = core_frame_get(a);
    CHECKF(f->data && f->width == t->width && f->height == t->height, "%s: frame %ux%u", t->core,
           f->width, f->height);

    uint8_t *p = NULL;
    CHECK_OK(core_resolve(a, t->wram, 16, &p));
    gb_error *err = core_resolve(a, t->unmapped, 1, &p);
    CHECK(err && strstr(gb_error_msg(err), "not in any RAM region"));
    gb_error_free(err);

    /* Run into the game, save, play 600 frames; load, play the same: identical. */
    for (int i = 0; i < 120; i++) core_run(a, false);
    size_t size = core_state_size(a);
    CHECK(size > 1000);
    uint8_t *state = malloc(size);
    CHECK_OK(core_save_state(a, state, size));
    uint64_t first = play(a, t, 42, 600);
    CHECK_OK(core_load_state(a, state, size, "saved state"));
    uint64_t second = play(a, t, 42, 600);
    CHECKF(first == second, "%s: replay from a state differs", t->core);

    /* Two instances in one process: same inputs -> same RAM; different inputs -> different. */
    CHECK_OK(core_load_state(a, state, size, "saved state"));
    CHECK_OK(core_load_state(b, state, size, "saved state"));
    uint64_t ha = play(a, t, 1, 300), hb = play(b, t, 1, 300);
    CHECKF(ha == hb, "%s: two instances with the same inputs differ", t->core);
    CHECK_OK(core_load_state(a, state, size, "saved state"));
    CHECK_OK(core_load_state(b, state, size, "saved state"));
    play(a, t, 1, 300);
    play(b, t, 2, 300);
    CHECKF(ram_hash(a, t) != ram_hash(b, t), "%s: different inputs gave the same RAM", t->core);

    /* A state of the wrong size names itself and says why. */
    err = core_load_state(a, state, size / 2, "half.state");
    CHECK(err && strstr(gb_error_msg(err), "half.state") &&
          strstr(gb_error_msg(err), "another core"));
    gb_error_free(err);

    free(state);
    core_close(a);
    core_close(b);
}

int main(void)
{
    char path[4096];
    for (size_t i = 0; i < sizeof targets / sizeof targets[0]; i++) test_target(&targets[i]);

    core_platform p;
    CHECK_OK(core_detect_platform("states/catch-gb/catch.gb", &p));
    CHECK(p == CORE_PLATFORM_GB);
    CHECK_OK(core_detect_platform("states/catch-gba/catch.gba", &p));
    CHECK(p == CORE_PLATFORM_GBA);
    gb_error *err = core_detect_platform("README.md", &p);
    CHECK(err && strstr(gb_error_msg(err), "README.md") &&
          strstr(gb_error_msg(err), "not a Game Boy"));
    gb_error_free(err);

    /* Cores by name and path; missing ones say where gbfarm looked. */
    err = core_find("nosuchcore", path, sizeof path);
    CHECK(err && strstr(gb_error_msg(err), "nosuchcore_libretro.so") &&
          strstr(gb_error_msg(err), "GBFARM_CORE_PATH"));
    gb_error_free(err);
    err = core_find("/nonexistent/x_libretro.so", path, sizeof path);
    CHECK(err && strstr(gb_error_msg(err), "/nonexistent/x_libretro.so"));
    gb_error_free(err);

    /* A shared library that is not a libretro core. */
    core *c = NULL;
    core_config cfg = {"/lib/x86_64-linux-gnu/libz.so.1",
                       "states/catch-gb/catch.gb",
                       CORE_PLATFORM_GB,
                       NULL,
                       0,
                       NULL};
    err = core_open(&c, &cfg);
    CHECK(err && c == NULL && strstr(gb_error_msg(err), "libz.so.1") &&
          strstr(gb_error_msg(err), "not a libretro core"));
    gb_error_free(err);
    /* A file that is not a shared library at all. */
    cfg.core_path = "README.md";
    err = core_open(&c, &cfg);
    CHECK(err && c == NULL && strstr(gb_error_msg(err), "README.md"));
    gb_error_free(err);

    /* A core asked to load a ROM of another platform refuses it. */
    REQUIRE_OK(core_find("gambatte", path, sizeof path));
    cfg = (core_config){path, "states/catch-gba/catch.gba", CORE_PLATFORM_GBA, NULL, 0, NULL};
    err = core_open(&c, &cfg);
    CHECK(err && c == NULL && strstr(gb_error_msg(err), "catch.gba"));
    gb_error_free(err);
    return check_summary();
}
