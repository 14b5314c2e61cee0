/* game_load on arbitrary game folders, then game_bind and a few game_step calls over a
 * stand-in memory.
 *
 * The input is a game.json; or, when it holds lines of exactly "---", the files of a
 * stable-retro folder in order: data.json, scenario.json, metadata.json, rom.sha (a file with
 * no section is absent). Each folder also holds start.state and a.state, so "states" and
 * stable-retro's *.state search find something; the stable-retro folder's platform suffix
 * follows the input's length (-GameBoy, -GbColor, -GbAdvance). */
#include "fuzz_file.h"
#include "gbfarm/game.h"

enum { MEM_SIZE = 1 << 20 }; /* a "bits" range is at most 1 MiB */
static uint8_t mem[MEM_SIZE];

typedef struct region {
    uint8_t *p;
    uint32_t length;
} region;

typedef struct resolver {
    region *regions;
    int n;
    bool binding; /* record regions only at bind: pointer variables resolve again at each step */
} resolver;

/* Every address below 0xF0000000 maps somewhere in mem; above, nothing does. */
static gb_error *resolve(void *ctx, uint32_t address, uint32_t length, uint8_t **out)
{
    resolver *r = ctx;
    if (address >= 0xF0000000u || length == 0 || length > MEM_SIZE)
        return gb_errorf("no region holds 0x%X..+%u", address, length);
    *out = mem + address % (MEM_SIZE - length + 1);
    if (!r->binding) return NULL;
    region *grown = realloc(r->regions, (size_t)(r->n + 1) * sizeof *grown);
    if (!grown) abort();
    r->regions = grown;
    r->regions[r->n++] = (region){*out, length};
    return NULL;
}

/* Changes the first bytes of every variable; applying the same step twice undoes it, so each
 * input starts from the same memory. */
static void flip(const resolver *r, int step)
{
    for (int i = 0; i < r->n; i++)
        for (uint32_t k = 0; k < r->regions[i].length && k < 8; k++)
            r->regions[i].p[k] ^= (uint8_t)((step + 1) * 0x3B + i * 7 + k);
}

static void check_spec(const game_spec *spec)
{
    FUZZ_ASSERT(spec->name && spec->core && spec->dir);
    FUZZ_ASSERT(spec->n_states >= 1 && spec->n_actions >= 1);
    for (int i = 0; i < spec->n_states; i++) FUZZ_ASSERT(spec->states[i]);
    FUZZ_ASSERT(spec->frame_skip >= 1 && spec->frame_skip <= 1000);
    FUZZ_ASSERT(spec->press_frames >= 1 && spec->press_frames <= spec->frame_skip);
    FUZZ_ASSERT(spec->obs_stack >= 1 && spec->obs_stack <= 64);
    FUZZ_ASSERT(spec->obs_downsample == 1 || spec->obs_downsample == 2 ||
                spec->obs_downsample == 4);
    FUZZ_ASSERT(spec->max_episode_steps >= 0 && spec->noop_max >= 0);
    FUZZ_ASSERT(strlen(spec->rom_sha1) == 0 || strlen(spec->rom_sha1) == 40);
    for (int i = 0; i < spec->n_core_options; i++)
        FUZZ_ASSERT(spec->core_options[i].key && spec->core_options[i].value);
    for (int i = 0; i < game_var_count(spec); i++)
        FUZZ_ASSERT(game_var_index(spec, game_var_name(spec, i)) == i);
    FUZZ_ASSERT(game_var_name(spec, -1) == NULL &&
                game_var_name(spec, game_var_count(spec)) == NULL);
}

static void play(const game_spec *spec)
{
    resolver r = {.binding = true};
    game_binding *b = NULL;
    gb_error *err = game_bind(&b, spec, resolve, &r);
    r.binding = false;
    if (err) {
        FUZZ_ASSERT(!b && strstr(gb_error_msg(err), "is not mapped"));
        gb_error_free(err);
        free(r.regions);
        return;
    }
    for (int episode = 0; episode < 2; episode++) {
        if (episode) game_episode_begin(b);
        for (int step = 0; step < 4; step++) {
            flip(&r, step);
            bool done = false;
            (void)game_step(b, &done);
            FUZZ_ASSERT(game_explored(b) >= 0);
        }
        for (int step = 0; step < 4; step++) flip(&r, step);
    }
    for (int i = -1; i <= game_var_count(spec); i++) (void)game_value(b, i);
    game_unbind(b);
    free(r.regions);
}

/* Writes section k of the input (sections end at "\n---\n") to path, or removes path. */
static void write_section(const char *path, const uint8_t *data, size_t size, int k)
{
    const uint8_t *p = data, *end = data + size;
    for (int i = 0; i <= k; i++) {
        const uint8_t *sep = memmem(p, (size_t)(end - p), "\n---\n", 5);
        if (i == k) {
            fuzz_write(path, p, (size_t)((sep ? sep + 1 : end) - p));
            return;
        }
        if (!sep) break;
        p = sep + 5;
    }
    if (unlink(path) != 0 && errno != ENOENT) fuzz_die("cannot remove", path);
}

static char *folder(const char *name)
{
    static char dirs[4][512];
    static const char *const names[] = {"game", "Fuzz-GameBoy", "Fuzz-GbColor", "Fuzz-GbAdvance"};
    static const uint8_t state[] = {0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 3,
                                    3,    0,    0, 0, 0, 0, 0, 0, 0, 0};
    int k = 0;
    while (strcmp(names[k], name)) k++;
    if (!dirs[k][0]) {
        snprintf(dirs[k], sizeof dirs[k], "%s", fuzz_path(name));
        fuzz_mkdir(dirs[k]);
        char path[600];
        snprintf(path, sizeof path, "%s/start.state", dirs[k]);
        fuzz_write(path, state, sizeof state);
        snprintf(path, sizeof path, "%s/a.state", dirs[k]);
        fuzz_write(path, state, sizeof state);
    }
    return dirs[k];
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc, (void)argv;
    uint32_t x = 0x12345678;
    for (size_t i = 0; i < MEM_SIZE; i++) {
        x = x * 1664525u + 1013904223u;
        mem[i] = (uint8_t)(x >> 24);
    }
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *dir;
    char path[600];
    if (!memmem(data, size, "\n---\n", 5)) {
        dir = folder("game");
        snprintf(path, sizeof path, "%s/game.json", dir);
        fuzz_write(path, data, size);
    } else {
        static const char *const retro[] = {"Fuzz-GameBoy", "Fuzz-GbColor", "Fuzz-GbAdvance"};
        static const char *const files[] = {"data.json", "scenario.json", "metadata.json",
                                            "rom.sha"};
        dir = folder(retro[size % 3]);
        for (int k = 0; k < 4; k++) {
            snprintf(path, sizeof path, "%s/%s", dir, files[k]);
            write_section(path, data, size, k);
        }
    }
    game_spec *spec = NULL;
    gb_error *err = game_load(&spec, dir);
    if (err) {
        FUZZ_ASSERT(!spec && gb_error_msg(err)[0]);
        gb_error_free(err);
        return 0;
    }
    check_spec(spec);
    play(spec);
    game_free(spec);
    return 0;
}
