#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "gbfarm/clock.h"
#include "gbfarm/env_retro.h"
#include "gbfarm/rng.h"
#include "gbfarm/script.h"
#include "gbfarm/state.h"

typedef struct retro_env {
    env base; /* first: an env * is a retro_env * */
    const game_spec *game;
    core *core;
    game_binding *binding;
    unsigned binding_generation; /* the core's memory map generation the binding resolved */
    rng rng;
    uint8_t **states; /* the start states' bytes, decompressed */
    size_t *state_sizes;
    int width, height;      /* the screen the observation expects */
    size_t plane;           /* bytes of one stacked screen */
    const uint8_t *written; /* where the last screen observation went: the next one's stack */
    uint8_t *picture;       /* the whole downsampled screen, where a window follows a point */
    double episode_start;
    /* The start state the last reset loaded, for a watchdog's message from another thread. */
    _Atomic(const char *) last_state;
    archive *archive; /* shared, or NULL */
    int index;
} retro_env;

void env_retro_screen(core_platform p, int *width, int *height)
{
    *width = p == CORE_PLATFORM_GBA ? 240 : 160;
    *height = p == CORE_PLATFORM_GBA ? 160 : 144;
}

env_spec env_retro_spec(const game_spec *game)
{
    int w, h;
    env_retro_screen(game->platform, &w, &h);
    if (game->obs == GAME_OBS_VARS)
        return (env_spec){ENV_OBS_F32, 1, 1, game->n_obs_vars, game->n_actions, 0};
    int d = game->obs_downsample > 0 ? game->obs_downsample : 1;
    if (game->obs_follow.x >= 0) w = game->obs_follow.width, h = game->obs_follow.height;
    return (env_spec){ENV_OBS_U8,      game->obs_stack,
                      h / d,           w / d,
                      game->n_actions, game->obs == GAME_OBS_SCREEN_VARS ? game->n_obs_vars : 0};
}

static inline uint8_t gray(unsigned r, unsigned g, unsigned b)
{
    return (uint8_t)((77 * r + 150 * g + 29 * b) >> 8);
}

/* RGB565, the format Gambatte and mGBA use, goes through a 64 KB table: one load a pixel. */
static uint8_t rgb565_gray[65536];
static pthread_once_t rgb565_once = PTHREAD_ONCE_INIT;

static void rgb565_table(void)
{
    for (unsigned p = 0; p < 65536; p++) {
        unsigned r = (p >> 11) & 31, g = (p >> 5) & 63, b = p & 31;
        rgb565_gray[p] = gray((r << 3) | (r >> 2), (g << 2) | (g >> 4), (b << 3) | (b >> 2));
    }
}

/* One row of pixels to 8-bit gray: the format is chosen once per row, not per pixel. */
static void row_to_gray(const uint8_t *row, core_pixel_format format, int width, uint8_t *out)
{
    if (format == CORE_PIXEL_XRGB8888) {
        for (int x = 0; x < width; x++) {
            uint32_t p;
            memcpy(&p, row + 4 * x, 4);
            out[x] = gray((p >> 16) & 0xFF, (p >> 8) & 0xFF, p & 0xFF);
        }
    } else if (format == CORE_PIXEL_RGB565) {
        pthread_once(&rgb565_once, rgb565_table);
        for (int x = 0; x < width; x++) {
            uint16_t p;
            memcpy(&p, row + 2 * x, 2);
            out[x] = rgb565_gray[p];
        }
    } else {
        for (int x = 0; x < width; x++) {
            uint16_t p;
            memcpy(&p, row + 2 * x, 2);
            unsigned r = (p >> 10) & 31, g = (p >> 5) & 31, b = p & 31;
            out[x] = gray((r << 3) | (r >> 2), (g << 3) | (g >> 2), (b << 3) | (b >> 2));
        }
    }
}

void env_frame_to_gray(const core_frame *f, int factor, uint8_t *out)
{
    int w = (int)f->width, h = (int)f->height;
    if (factor == 1) {
        for (int y = 0; y < h; y++)
            row_to_gray(f->data + (size_t)y * f->pitch, f->format, w, out + y * w);
        return;
    }
    /* Averages factor x factor blocks: gray rows are summed column-wise, then across. */
    uint8_t line[1024];
    uint16_t sums[1024];
    int ow = w / factor, n = factor * factor;
    if (w > 1024) return;
    for (int oy = 0; oy < h / factor; oy++) {
        memset(sums, 0, sizeof(uint16_t) * (size_t)(ow * factor));
        for (int dy = 0; dy < factor; dy++) {
            row_to_gray(f->data + (size_t)(oy * factor + dy) * f->pitch, f->format, w, line);
            for (int x = 0; x < ow * factor; x++) sums[x] += line[x];
        }
        for (int ox = 0; ox < ow; ox++) {
            unsigned sum = 0;
            for (int dx = 0; dx < factor; dx++) sum += sums[ox * factor + dx];
            out[oy * ow + ox] = (uint8_t)(sum / (unsigned)n);
        }
    }
}

static int floor_div(int a, int b)
{
    return a >= 0 ? a / b : -((-a + b - 1) / b);
}

/* A variable's value as a pixel coordinate; far off the screen is as good as farther. */
static int follow_coord(int64_t v, int scale, int offset)
{
    enum { FAR = 1 << 16 };
    v = v < -FAR ? -FAR : v > FAR ? FAR : v;
    return (int)v * scale + offset;
}

/* observation.follow's window (w × h) of the downsampled picture (pw × ph), centred where the
 * game's variables put it, black outside the picture. */
static void follow_window(const retro_env *r, const uint8_t *picture, int pw, int ph, uint8_t *out)
{
    const game_follow *f = &r->game->obs_follow;
    int d = r->game->obs_downsample, w = r->base.spec.obs_w, h = r->base.spec.obs_h;
    int cx = follow_coord(game_value(r->binding, f->x), f->scale, f->offset_x);
    int cy = follow_coord(game_value(r->binding, f->y), f->scale, f->offset_y);
    int left = floor_div(cx - f->width / 2, d), top = floor_div(cy - f->height / 2, d);
    /* Columns [x0, x1) of each row lie in the picture (x0 <= x1, as pw > 0). */
    int x0 = left >= 0 ? 0 : -left < w ? -left : w;
    int x1 = pw - left <= 0 ? 0 : pw - left < w ? pw - left : w;
    for (int y = 0; y < h; y++, out += w) {
        int py = top + y;
        if (py < 0 || py >= ph) {
            memset(out, 0, (size_t)w);
            continue;
        }
        memset(out, 0, (size_t)x0);
        if (x1 > x0) memcpy(out + x0, picture + (size_t)py * pw + left + x0, (size_t)(x1 - x0));
        memset(out + x1, 0, (size_t)(w - x1));
    }
}

/* The observation after a reset (fill: every stacked screen the same) or a step: the
 * variables' values, or the stack shifted one screen older with the newest screen last. */
static gb_error *observe(retro_env *r, bool fill)
{
    if (r->game->obs != GAME_OBS_SCREEN) {
        float *v = r->game->obs == GAME_OBS_VARS
                       ? r->base.obs
                       : (float *)((uint8_t *)r->base.obs + env_obs_vars_offset(&r->base.spec));
        for (int i = 0; i < r->game->n_obs_vars; i++) {
            const game_obs_var *o = &r->game->obs_vars[i];
            double x = (double)game_value(r->binding, o->var);
            if (o->scaled) x = x <= o->lo ? 0.0 : x >= o->hi ? 1.0 : (x - o->lo) / (o->hi - o->lo);
            v[i] = (float)x;
        }
        if (r->game->obs == GAME_OBS_VARS) return NULL;
    }
    const core_frame *f = core_frame_get(r->core);
    if (!f->data) return gb_errorf("core %s gave no picture", core_path(r->core));
    if ((int)f->width != r->width || (int)f->height != r->height)
        return gb_errorf("core %s gives %ux%u frames, expected %dx%d for this platform (a Super "
                         "Game Boy border? set the core's border option off)",
                         core_path(r->core), f->width, f->height, r->width, r->height);
    uint8_t *obs = r->base.obs;
    int stack = r->base.spec.obs_c;
    size_t older = (size_t)(stack - 1) * r->plane;
    uint8_t *newest = obs + older;
    /* The older screens come from where the last observation was written: obs itself, or
     * the slot the owner has moved obs on from (the trainer points it at the next slot of
     * its rollout buffer before each step). */
    if (!fill && older) memmove(obs, (r->written ? r->written : obs) + r->plane, older);
    if (r->picture) {
        int d = r->game->obs_downsample;
        env_frame_to_gray(f, d, r->picture);
        follow_window(r, r->picture, r->width / d, r->height / d, newest);
    } else {
        env_frame_to_gray(f, r->game->obs_downsample, newest);
    }
    if (fill)
        for (int i = 0; i < stack - 1; i++) memcpy(obs + (size_t)i * r->plane, newest, r->plane);
    /* Written whole, padding before the variables included, wherever obs points. */
    size_t screens = older + r->plane;
    if (r->base.spec.obs_vars)
        memset(obs + screens, 0, env_obs_vars_offset(&r->base.spec) - screens);
    r->written = obs;
    return NULL;
}

static const char archived[] = "one from the start-state archive";
_Static_assert(GAME_ARCHIVE_MAX_KEY <= ARCHIVE_MAX_KEY,
               "a game's archive key must fit archive.h's");

/* The start state: the archive's draw, else one of the folder's. */
static gb_error *load_start(retro_env *r)
{
    if (r->archive) {
        double u = rng_uniform(&r->rng), v = rng_uniform(&r->rng);
        int cell = archive_draw(r->archive, r->index, u, v);
        if (cell >= 0) {
            uint8_t *data;
            size_t size;
            GB_TRY(archive_state(r->archive, cell, &data, &size));
            atomic_store_explicit(&r->last_state, archived, memory_order_relaxed);
            gb_error *err = core_load_state(r->core, data, size, archived);
            free(data);
            return err;
        }
    }
    int s = r->game->n_states > 1 ? (int)rng_below(&r->rng, (uint32_t)r->game->n_states) : 0;
    atomic_store_explicit(&r->last_state, r->game->states[s], memory_order_relaxed);
    return core_load_state(r->core, r->states[s], r->state_sizes[s], r->game->states[s]);
}

/* After a step that did not end the game: the state, where it reaches a new cell of the
 * archive or a known one with a higher score. */
static gb_error *offer_state(retro_env *r)
{
    const game_archive *ga = &r->game->archive;
    int64_t key[GAME_ARCHIVE_MAX_KEY];
    for (int k = 0; k < ga->n_key; k++) key[k] = game_value(r->binding, ga->key[k]);
    int64_t score = 0;
    for (int i = 0; i < ga->n_score; i++)
        score += ga->score_weight[i] * game_value(r->binding, ga->score[i]);
    if (!archive_visit(r->archive, r->index, key, score)) return NULL;
    size_t size = core_state_size(r->core);
    uint8_t *state = malloc(size ? size : 1);
    gb_error *err = state ? core_save_state(r->core, state, size)
                          : gb_errorf("out of memory for a state of %zu bytes", size);
    if (err) {
        free(state);
        return err;
    }
    return archive_offer(r->archive, r->index, key, score, state, size);
}

static gb_error *retro_reset(env *e)
{
    retro_env *r = (retro_env *)e;
    GB_TRY(load_start(r));
    /* Random no-op frames so that envs started from one state do not move in lock-step;
     * at least one frame runs, to have a picture. */
    uint32_t noops = rng_below(&r->rng, (uint32_t)r->game->noop_max + 1);
    core_set_buttons(r->core, 0);
    for (uint32_t i = 0; i < noops; i++) core_run(r->core, false);
    core_run(r->core, true);
    e->frames += noops + 1;
    if (core_memory_generation(r->core) != r->binding_generation) {
        /* The core moved its memory: resolve the variables again. */
        game_unbind(r->binding);
        r->binding = NULL;
        GB_TRY(game_bind(&r->binding, r->game, core_resolve, r->core));
        r->binding_generation = core_memory_generation(r->core);
    }
    GB_TRY(observe(r, true));
    game_episode_begin(r->binding);
    e->reward = 0;
    e->terminated = e->truncated = 0;
    e->episode = (env_episode){0};
    r->episode_start = gb_now();
    return NULL;
}

static gb_error *retro_step(env *e, int action)
{
    retro_env *r = (retro_env *)e;
    const game_spec *g = r->game;
    if (action < 0 || action >= g->n_actions)
        return gb_errorf("action %d out of range [0, %d)", action, g->n_actions);
    uint16_t buttons = g->actions[action];
    for (int f = 0; f < g->frame_skip; f++) {
        core_set_buttons(r->core, f < g->press_frames ? buttons : 0);
        core_run(r->core, f == g->frame_skip - 1);
    }
    e->frames += (uint64_t)g->frame_skip;
    GB_TRY(observe(r, false));
    bool done;
    e->reward = game_step(r->binding, &done);
    e->episode.ret += e->reward;
    e->episode.length++;
    e->terminated = done;
    e->truncated = !done && g->max_episode_steps > 0 && e->episode.length >= g->max_episode_steps;
    if (r->archive && !done) GB_TRY(offer_state(r));
    if (e->terminated || e->truncated) {
        if (r->archive) archive_episode_end(r->archive, r->index);
        e->episode.seconds = gb_now() - r->episode_start;
        e->episode.explored = game_explored(r->binding);
    }
    return NULL;
}

static void retro_close(env *e)
{
    retro_env *r = (retro_env *)e;
    if (!r) return;
    game_unbind(r->binding);
    core_close(r->core);
    for (int i = 0; r->states && i < r->game->n_states; i++) free(r->states[i]);
    free(r->states);
    free(r->state_sizes);
    free(r->picture);
    free(r);
}

static bool ends_with(const char *s, const char *suffix)
{
    size_t n = strlen(s), k = strlen(suffix);
    return n >= k && !strcmp(s + n - k, suffix);
}

/* A start state is a .state file, or an input script played from power-on: a script works
 * on every core, while a state file belongs to the core that made it. */
gb_error *env_retro_start_state(core *c, const char *path, uint8_t **out, size_t *size)
{
    if (ends_with(path, ".state")) {
        GB_TRY(state_read(path, out, size));
        /* Load once now, so that a state of the wrong core or ROM fails at start. */
        return core_load_state(c, *out, *size, path);
    }
    script sc;
    GB_TRY(script_load(&sc, path));
    if (core_frames_run(c) > 0) core_reset(c); /* a fresh core is at power-on already */
    script_play(&sc, c);
    script_free(&sc);
    *size = core_state_size(c);
    *out = malloc(*size ? *size : 1);
    if (!*out) return gb_errorf("%s: out of memory for the start state", path);
    return gb_error_wrap(core_save_state(c, *out, *size), "%s", path);
}

/* States made by playing an input script, kept for the process. Every env of a run plays the
 * same script on the same core, ROM and options to the same state, so the first env to need
 * one plays it, on a core of its own that it closes after, and the others copy the result.
 * Starting takes one env's time, not one per env per core, and no env's core runs the game's
 * boot code, which can cost a core memory that loading a state does not: mGBA gives a GBA game
 * of 16 MB or more a private 32 MB cartridge once its boot code writes there (FireRed's
 * AGBPrintInit). The key holds the script's bytes and the ROM's size and time, so a file
 * rewritten in place is played anew. */
typedef struct script_state {
    char *key;
    size_t key_len;
    uint8_t *data;
    size_t size;
    struct script_state *next;
} script_state;

static script_state *script_states;
static pthread_mutex_t script_mutex = PTHREAD_MUTEX_INITIALIZER;

/* The key, or NULL when a file cannot be read (the script's own load then says why). */
static char *script_key(const core_config *cc, const char *path, size_t *len)
{
    struct stat rom;
    FILE *f = fopen(path, "rb");
    char *buf = NULL;
    size_t cap = 0;
    FILE *k = open_memstream(&buf, &cap);
    bool ok = f && k && !stat(cc->rom_path, &rom);
    if (ok) {
        fprintf(k, "%s\n%s\n%lld %lld.%09ld\n", cc->core_path, cc->rom_path, (long long)rom.st_size,
                (long long)rom.st_mtim.tv_sec, rom.st_mtim.tv_nsec);
        for (int i = 0; i < cc->n_options; i++)
            fprintf(k, "%s=%s\n", cc->options[i].key, cc->options[i].value);
        char chunk[4096];
        size_t n;
        while ((n = fread(chunk, 1, sizeof chunk, f)) > 0) fwrite(chunk, 1, n, k);
        ok = !ferror(f);
    }
    if (f) fclose(f);
    if (k) fclose(k);
    if (!ok) {
        free(buf);
        return NULL;
    }
    *len = cap;
    return buf;
}

static gb_error *play_script(const core_config *cc, const char *path, uint8_t **out, size_t *size)
{
    core *scratch;
    GB_TRY(core_open(&scratch, cc));
    gb_error *err = env_retro_start_state(scratch, path, out, size);
    core_close(scratch);
    return err;
}

/* A copy of the state the script at path makes on cc's core, played once per process. */
static gb_error *script_start_state(const core_config *cc, const char *path, uint8_t **out,
                                    size_t *size)
{
    size_t len;
    char *key = script_key(cc, path, &len);
    if (!key) return play_script(cc, path, out, size);
    pthread_mutex_lock(&script_mutex);
    script_state *s = script_states;
    while (s && (s->key_len != len || memcmp(s->key, key, len))) s = s->next;
    gb_error *err = NULL;
    if (!s) {
        s = calloc(1, sizeof *s);
        err = s ? play_script(cc, path, &s->data, &s->size) : gb_errorf("out of memory");
        if (!err) {
            s->key = key, s->key_len = len, key = NULL;
            s->next = script_states, script_states = s;
        } else if (s) {
            free(s->data);
            free(s);
        }
    }
    if (!err) {
        *size = s->size;
        *out = malloc(s->size ? s->size : 1);
        if (*out)
            memcpy(*out, s->data, s->size);
        else
            err = gb_errorf("%s: out of memory for the start state", path);
    }
    pthread_mutex_unlock(&script_mutex);
    free(key);
    return err;
}

/* A snapshot: this header, then the core's state, the observation stack and the binding's
 * memory of the episode. */
typedef struct retro_snapshot {
    char magic[8]; /* "gbfenv1" */
    uint64_t core_bytes, obs_bytes, binding_bytes;
    env_episode episode;
    uint64_t frames;
    rng rng;
    float reward;
    uint8_t terminated, truncated;
} retro_snapshot;

static gb_error *retro_snapshot_save(env *e, uint8_t **out, size_t *size)
{
    retro_env *r = (retro_env *)e;
    uint8_t *binding = NULL;
    size_t binding_bytes = 0;
    GB_TRY(game_binding_save(r->binding, &binding, &binding_bytes));
    retro_snapshot h = {"gbfenv1",
                        core_state_size(r->core),
                        env_obs_bytes(&e->spec),
                        binding_bytes,
                        e->episode,
                        e->frames,
                        r->rng,
                        e->reward,
                        e->terminated,
                        e->truncated};
    h.episode.seconds = gb_now() - r->episode_start;
    size_t len = sizeof h + h.core_bytes + h.obs_bytes + h.binding_bytes;
    uint8_t *p = malloc(len);
    gb_error *err = p ? NULL : gb_errorf("env snapshot: out of memory");
    if (!err) {
        memcpy(p, &h, sizeof h);
        err = core_save_state(r->core, p + sizeof h, h.core_bytes);
        memcpy(p + sizeof h + h.core_bytes, e->obs, h.obs_bytes);
        memcpy(p + sizeof h + h.core_bytes + h.obs_bytes, binding, binding_bytes);
    }
    free(binding);
    if (err) {
        free(p);
        return err;
    }
    *out = p;
    *size = len;
    return NULL;
}

static gb_error *retro_snapshot_restore(env *e, const uint8_t *data, size_t size)
{
    retro_env *r = (retro_env *)e;
    retro_snapshot h;
    if (size < sizeof h) return gb_errorf("env snapshot: too short (%zu bytes)", size);
    memcpy(&h, data, sizeof h);
    if (memcmp(h.magic, "gbfenv1", 8) || h.obs_bytes != env_obs_bytes(&e->spec) ||
        size != sizeof h + h.core_bytes + h.obs_bytes + h.binding_bytes)
        return gb_errorf("env snapshot: not made by an env of this game and core");
    const uint8_t *p = data + sizeof h;
    GB_TRY(core_load_state(r->core, p, h.core_bytes, "env snapshot"));
    memcpy(e->obs, p + h.core_bytes, h.obs_bytes);
    r->written = e->obs;
    GB_TRY(game_binding_restore(r->binding, p + h.core_bytes + h.obs_bytes, h.binding_bytes));
    e->episode = h.episode;
    e->frames = h.frames;
    e->reward = h.reward;
    e->terminated = h.terminated, e->truncated = h.truncated;
    r->rng = h.rng;
    r->episode_start = gb_now() - h.episode.seconds;
    return NULL;
}

static const core_frame *retro_frame(env *e)
{
    return core_frame_get(((retro_env *)e)->core);
}
static const char *retro_core_path(env *e)
{
    return core_path(((retro_env *)e)->core);
}
static const char *retro_last_state(env *e)
{
    return atomic_load_explicit(&((retro_env *)e)->last_state, memory_order_relaxed);
}

static const env_ops retro_ops = {.reset = retro_reset,
                                  .step = retro_step,
                                  .close = retro_close,
                                  .snapshot = retro_snapshot_save,
                                  .restore = retro_snapshot_restore,
                                  .frame = retro_frame,
                                  .core_path = retro_core_path,
                                  .last_state = retro_last_state};

gb_error *env_retro_create(env **out, const env_retro_config *cfg)
{
    *out = NULL;
    const game_spec *g = cfg->game;
    retro_env *r = calloc(1, sizeof *r);
    if (!r) return gb_errorf("out of memory for env %d", cfg->index);
    r->base.ops = &retro_ops;
    r->base.spec = env_retro_spec(g);
    r->game = g;
    env_retro_screen(g->platform, &r->width, &r->height);
    r->plane = (size_t)r->base.spec.obs_h * (size_t)r->base.spec.obs_w;
    rng_seed(&r->rng, cfg->seed, 0x5eedull * 1000003u + (uint64_t)cfg->index);
    r->archive = cfg->archive;
    r->index = cfg->index;

    core_option *opts = NULL;
    int n_opts = 0;
    r->states = calloc((size_t)g->n_states, sizeof *r->states);
    r->state_sizes = calloc((size_t)g->n_states, sizeof *r->state_sizes);
    bool follow = g->obs != GAME_OBS_VARS && g->obs_follow.x >= 0;
    if (follow) r->picture = malloc((size_t)r->width * (size_t)r->height);
    gb_error *err = NULL;
    if (!r->states || !r->state_sizes || (follow && !r->picture))
        err = gb_errorf("out of memory for env %d", cfg->index);
    if (!err) err = game_core_options(g, cfg->options, cfg->n_options, &opts, &n_opts);
    core_config cc = {cfg->core_path, cfg->rom_path, g->platform, opts, n_opts, cfg->log_path};
    if (!err) err = core_open(&r->core, &cc);
    for (int i = 0; !err && i < g->n_states; i++) {
        const char *path = g->states[i];
        if (ends_with(path, ".state")) {
            err = env_retro_start_state(r->core, path, &r->states[i], &r->state_sizes[i]);
        } else {
            err = script_start_state(&cc, path, &r->states[i], &r->state_sizes[i]);
            if (!err) err = core_load_state(r->core, r->states[i], r->state_sizes[i], path);
        }
    }
    free(opts);
    if (!err) err = game_bind(&r->binding, g, core_resolve, r->core);
    if (!err) r->binding_generation = core_memory_generation(r->core);
    if (err) {
        retro_close(&r->base);
        return err;
    }
    *out = &r->base;
    return NULL;
}

core *env_retro_core(env *e)
{
    return ((retro_env *)e)->core;
}
const game_binding *env_retro_binding(env *e)
{
    return ((retro_env *)e)->binding;
}
