/* The start-state archive: emulator states that the envs reached, one a cell, for resets to
 * start from (Go-Explore's archive; the "swarm" of the Pokémon agents).
 *
 * A cell is the tuple of a few RAM variables' values (its key, e.g. the map); each cell keeps
 * the first state that reached it, or a later one that reached it with a higher score (another
 * variable's value, e.g. the events done). A reset starts from the folder's own start state
 * with probability p_start, else from a cell drawn by the selection rule:
 *   ARCHIVE_COUNT: weight 1 / sqrt(1 + times chosen) (Go-Explore's count weights): rarely
 *                  tried cells first, every cell still drawn now and then;
 *   ARCHIVE_BEST:  uniform over the cells with the highest score;
 *   ARCHIVE_FRONTIER: weight 1 / sqrt(1 + times chosen) + 1 / sqrt(1 + times seen), where
 *                  times seen counts the steps that the envs spent in the cell (Go-Explore's
 *                  two count weights): the cells at the edge of what the envs reach, rarely
 *                  stood in, get a larger share than those they cross every game.
 *
 * Patience: with patience > 0, a cell drawn patience times since a game started from it last
 * found a new cell is set aside: the rule draws among the other cells (among all of them when
 * every cell is set aside). A new cell is credited to the cell its finder's game was drawn
 * from. Where the envs have found everything that lies near a cell (a dead end, a room crossed
 * every game), its draws go to the cells that still lead somewhere. A cell whose state is
 * replaced by a higher-scoring one keeps its count: it is the same place.
 *
 * Survival: with survive > 0, a state joins only once its episode has gone on survive more
 * steps without ending. States from which the game is lost within a few steps (Link's last
 * eighth of a heart) would otherwise draw envs into a game over again and again. An offer still
 * too young when its episode ends, or when the round ends, is dropped; an env that is still in
 * that cell offers it again at its next step.
 *
 * Threads: during a round the archive is read-only, so env threads look cells up and draw
 * them with no lock. What an env finds (new or better cells, the cells it drew) goes into its
 * own pending list, and the main thread merges every env's list, in env order, between rounds
 * (archive_merge): the archive's contents do not depend on which thread ran first.
 *
 * Bound: at most max_cells cells (max_cells x the core's state size compressed, in memory and
 * in checkpoints: about 8 KB for Pokémon Red's 59 KB Gambatte state). A full archive
 * takes a new cell only in place of its lowest-scoring cell (the most chosen of those), and
 * only when the new one scores higher. */
#ifndef GBFARM_ARCHIVE_H
#define GBFARM_ARCHIVE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "gbfarm/error.h"
#include "gbfarm/safetensors.h"

#define ARCHIVE_MAX_KEY 8

typedef enum archive_select { ARCHIVE_COUNT, ARCHIVE_BEST, ARCHIVE_FRONTIER } archive_select;

typedef struct archive_config {
    int n_key;                              /* 1..ARCHIVE_MAX_KEY */
    const char *key_names[ARCHIVE_MAX_KEY]; /* for file names and errors */
    const char *score_name;                 /* NULL: every cell scores 0 */
    int max_cells;
    double p_start; /* a reset's chance of the folder's own start state */
    archive_select select;
    int survive;  /* steps an offer's episode must go on before the offer counts (0: at once) */
    int patience; /* draws without a new cell before a cell is set aside (0: never) */
} archive_config;

typedef struct archive archive;

gb_error *archive_create(archive **out, const archive_config *cfg, int n_envs);
void archive_free(archive *a); /* NULL is fine */
const archive_config *archive_get_config(const archive *a);

/* ---- env threads, during a round (env is the caller's env index) ---- */

/* Whether a state at this cell and score would join the archive (a new cell, or a higher
 * score than the archive's or this env's pending one): only then is the state worth saving. */
bool archive_wants(const archive *a, int env, const int64_t *key, int64_t score);
/* The same, after a step that did not end the game: also counts the step, for survive, and in
 * the cell's times seen (if it is one). */
bool archive_visit(archive *a, int env, const int64_t *key, int64_t score);
/* Offers a state for the cell, malloc'd by the caller and the archive's from now on (freed
 * here on an error); archive_merge decides. */
gb_error *archive_offer(archive *a, int env, const int64_t *key, int64_t score, uint8_t *state,
                        size_t size);
/* The env's episode ended (the game's done, or truncated): offers made fewer than survive
 * steps ago are dropped. */
void archive_episode_end(archive *a, int env);
/* A reset: -1 for the folder's start state (u >= p_start draws a cell, where there is one),
 * else the cell to start from. u and v are uniform in [0, 1): the env's own random numbers. */
int archive_draw(archive *a, int env, double u, double v);
/* A copy of the cell's state, malloc'd (the caller frees it); the archive keeps its states
 * zlib-compressed. */
gb_error *archive_state(const archive *a, int cell, uint8_t **out, size_t *size);

/* ---- the main thread, between rounds ---- */

/* Takes every env's pending offers and draws, in env order; returns how many cells are new. */
int archive_merge(archive *a);
int archive_cells(const archive *a);
int64_t archive_best(const archive *a); /* the highest score; 0 when empty */
const int64_t *archive_key(const archive *a, int cell);
int64_t archive_score(const archive *a, int cell);
int64_t archive_chosen(const archive *a, int cell);
int64_t archive_seen(const archive *a, int cell);
int64_t archive_stale(const archive *a, int cell); /* draws since it last led to a new cell */

/* Checkpoints: the archive as tensors named "archive.*" (views of its memory, valid until the
 * next merge). names must hold archive_tensor_count(a) entries. */
int archive_tensor_count(const archive *a);
void archive_tensors(const archive *a, st_tensor *out, char (*names)[32]);
/* Replaces the contents with a checkpoint's; a checkpoint without an archive leaves it empty.
 * A key of another length is an error naming the file. Pending lists are dropped. */
gb_error *archive_load(archive *a, const safetensors *f, const char *path);

/* Writes every cell changed since the last call as dir/<key>.state (e.g. map_12-events_3),
 * a state file that `gbfarm play --state` opens, and dir/cells.csv listing them all. */
gb_error *archive_write_dir(archive *a, const char *dir);

#endif
