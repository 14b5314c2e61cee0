/* Game integrations: a folder (states/NAME/) that describes one game to gbfarm.
 *
 * game_load() reads either gbfarm's game.json or a stable-retro integration folder
 * (data.json + scenario.json + metadata.json + rom.sha + *.state). The spec is plain data
 * the CLI may override (frame skip, ...). game_bind() resolves each RAM variable of a spec,
 * once, to a host pointer inside one emulator instance; game_step() then computes reward and
 * done from those pointers with loads only. See docs/game-format.md for the file format. */
#ifndef GBFARM_GAME_H
#define GBFARM_GAME_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "gbfarm/core.h"
#include "gbfarm/error.h"

/* A game runs on a core: its platform, buttons and core options are core.h's types (the
 * game layer sits above the core and speaks its vocabulary).
 *
 * Button names (A B SELECT START UP DOWN LEFT RIGHT L R X Y) to CORE_BUTTON_* bits, or -1. */
int game_button_bit(const char *name, size_t len, bool any_case);
/* "A+RIGHT" for a mask of 1 << CORE_BUTTON_* ("-" for none). */
void game_buttons_name(uint16_t mask, char *out, size_t size);

/* A stable-retro type string ("|u1", "<u2", ">d4", ">n6", "<i4", ...), parsed. */
typedef struct game_type {
    uint8_t size;    /* bytes, 1..8 */
    bool big_endian; /* '>'; '<', '=' and '|' are little-endian, as in stable-retro */
    char kind;  /* 'u' unsigned, 'i' signed, 'd' BCD (2 digits/byte), 'n' BCD (1 digit/byte, low
                   nibble) */
    bool mixed; /* stable-retro middle endian ("<>u4", "><u4", ">=u4"; size 4 or 8): the two
                 * halves are in the opposite order to the bytes inside each half */
} game_type;

/* Parses a whole type string; the error names the string and what was expected. */
gb_error *game_parse_type(const char *s, game_type *out);
/* Decodes t->size bytes exactly as stable-retro does: BCD nibbles above 9 count modulo 10
 * (0xA reads 0), 'i' sign-extends from size * 8 bits, "<u8" above INT64_MAX wraps negative. */
int64_t game_decode(const game_type *t, const uint8_t *bytes);

typedef struct game_vars game_vars; /* variables, reward terms and done conditions */

/* The observation: the screen stack, the variables observation.vars names, or both (the
 * policy joins a CNN over the screens and an MLP embedding of the variables). */
typedef enum game_obs { GAME_OBS_SCREEN, GAME_OBS_VARS, GAME_OBS_SCREEN_VARS } game_obs;

/* An observed variable: its index, and the range [lo, hi] scaled to [0, 1] (clamped), when
 * the folder gives one ("range"; required beside the screen), else the raw value. */
typedef struct game_obs_var {
    int var;
    bool scaled;
    double lo, hi;
} game_obs_var;

/* observation.follow: the screens are a window of the picture centred on a point that the
 * game's variables give, for a game whose screen does not keep the player at its centre.
 * The point is (x * scale + offset_x, y * scale + offset_y) in screen pixels; the window is
 * width × height screen pixels, downsampled like the whole screen; outside the picture it is
 * black (0). */
typedef struct game_follow {
    int x, y; /* variables; x -1: no window, the whole screen */
    int scale, offset_x, offset_y;
    int width, height;
} game_follow;

/* "archive": the start-state archive (archive.h), off unless the folder has one. */
#define GAME_ARCHIVE_MAX_KEY   8
#define GAME_ARCHIVE_MAX_SCORE 4
typedef enum game_select { GAME_SELECT_COUNT, GAME_SELECT_BEST, GAME_SELECT_FRONTIER } game_select;
typedef struct game_archive {
    int n_key;                         /* 0: no archive */
    int key[GAME_ARCHIVE_MAX_KEY];     /* the cell: these variables' values */
    int n_score;                       /* 0: every cell scores 0 */
    int score[GAME_ARCHIVE_MAX_SCORE]; /* the score: sum of these variables' values ... */
    int64_t score_weight[GAME_ARCHIVE_MAX_SCORE]; /* ... times these weights */
    int max_cells;                                /* 1024 */
    double p_start;     /* a reset's chance of the folder's own states (0.5) */
    game_select select; /* "select": count (the default), best or frontier */
    int survive;        /* steps a state's episode must go on after it before it joins (0) */
    int patience;       /* draws without a new cell before a cell is set aside (0: never) */
} game_archive;

typedef struct game_spec {
    char *dir; /* the folder, as given */
    char *name;
    core_platform platform;
    char rom_sha1[41]; /* lower-case hex, "" when the folder names none */
    char *rom;  /* a ROM file inside the folder (bundled games), resolved against dir, else NULL */
    char *core; /* default core name ("mgba", "gambatte", ...) */
    core_option *core_options; /* the spec owns the strings */
    int n_core_options;
    char **states; /* start states, paths resolved against dir; at least one */
    int n_states;
    uint16_t *actions; /* each a mask of 1 << CORE_BUTTON_* */
    int n_actions;
    int frame_skip;         /* frames per step */
    int press_frames;       /* of those, frames the action's buttons are held */
    int max_episode_steps;  /* truncation; 0 = none */
    int noop_max;           /* reset adds 0..noop_max no-op frames */
    int obs_stack;          /* screens stacked per observation */
    int obs_downsample;     /* 1 to 4 */
    game_obs obs;           /* what the policy observes */
    game_follow obs_follow; /* the screens' window */
    game_obs_var *obs_vars; /* observation.vars */
    int n_obs_vars;
    game_vars *vars;
    /* "train": the folder's trainer defaults as gbfarm train arguments (train_args[0] is a
     * placeholder, flags from [1]), and envs per core (0: the trainer's default). */
    char **train_args;
    int n_train_args;
    int train_envs_per_core;
    game_archive archive;
} game_spec;

gb_error *game_load(game_spec **out, const char *dir);
/* Parses "screen", "vars" or "screen+vars"; the error names what was expected. */
gb_error *game_obs_parse(const char *name, game_obs *out);
const char *game_obs_name(game_obs obs);
/* Whether spec can observe obs (vars listed; every one with a range beside the screen). */
gb_error *game_obs_check(const game_spec *spec, game_obs obs);
void game_free(game_spec *spec);
/* The core options a game runs with: the game folder's core_options, then over (a command
 * line's --option KEY=VALUE) after them, where a later key wins (core_open sets them in
 * order). spec may be NULL: a ROM outside any game folder. *out is malloc'd, the strings
 * still spec's and over's; free(*out) once the core is open. */
gb_error *game_core_options(const game_spec *spec, const core_option *over, int n_over,
                            core_option **out, int *n);

/* Reads the ROM and compares its SHA-1 with spec->rom_sha1 (when set): a mismatch names the
 * file and prints both hashes. */
gb_error *game_check_rom(const game_spec *spec, const char *rom_path);
/* SHA-1 of a file as 40 lower-case hex digits (out holds 41 chars); the error names the file. */
gb_error *game_sha1_file(const char *path, char out[41]);

/* Names of the spec's variables, for listing and lookup; index order is stable. */
int game_var_count(const game_spec *spec);
const char *game_var_name(const game_spec *spec, int index);
int game_var_index(const game_spec *spec, const char *name); /* -1 if absent */

/* Maps [address, address + length) on the game's bus to host memory, or fails. */
typedef gb_error *(*game_resolve_fn)(void *ctx, uint32_t address, uint32_t length, uint8_t **out);

typedef struct game_binding game_binding; /* one per env */

/* Resolves every variable, once (a "bits" range in one call); an address no region covers is an
 * error naming the file, the variable and the address. The binding points into spec, which must
 * outlive it; a spec is read-only after load, so env threads may share one, one binding each.
 * game_bind takes the first baseline itself (as game_episode_begin).
 *
 * Pointer variables ("pointer" + "offset" in game.json): bind resolves the pointer's own 4 bytes;
 * the binding keeps resolve and ctx (which must outlive it) and, at each read, resolves the
 * target (pointer value + offset) again when the pointer's value changed since the last read. A
 * target that does not resolve (NULL pointer, address outside RAM) reads as 0. A variable with
 * "xor" reads its key variable at each read too: value = (decoded ^ key's value) & mask. */
gb_error *game_bind(game_binding **out, const game_spec *spec, game_resolve_fn resolve, void *ctx);
void game_unbind(game_binding *b);

/* Call after each reset: takes the current values as the baseline, clears the exploration set. */
void game_episode_begin(game_binding *b);
/* Call after each step: the step's reward (from the reward terms, against the values at the
 * previous call) and whether the done condition holds now. Loads only, no allocation, except
 * that the explore term's set of seen tuples doubles when 3/4 full, and that a pointer variable
 * whose pointer changed calls the resolver (whose error, if any, is built and freed). */
float game_step(game_binding *b, bool *done);
/* Current value, read from RAM now (a pointer variable may update the binding's cache, so a
 * binding must not be read by two threads at once). */
int64_t game_value(const game_binding *b, int index);

/* What a binding remembers of the episode (previous values, explored tuples), for
 * checkpoints: a malloc'd blob, and its restore into a binding of the same spec. */
gb_error *game_binding_save(const game_binding *b, uint8_t **out, size_t *size);
gb_error *game_binding_restore(game_binding *b, const uint8_t *data, size_t size);
/* Distinct explore tuples seen this episode (0 without an explore term), for logging. */
int64_t game_explored(const game_binding *b);

#endif
