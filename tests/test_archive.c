/* The start-state archive: what joins it and what a full one gives up, the selection rules,
 * merges that do not depend on thread order, checkpoints, resets that start from an archived
 * state on a real core (the bundled Catch game), a training run killed and resumed, and
 * --no-archive. */
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "check.h"
#include "gbfarm/archive.h"
#include "gbfarm/env_retro.h"
#include "gbfarm/state.h"
#include "run_helpers.h"

static archive *make(int max_cells, double p_start, archive_select select, int n_envs)
{
    archive_config cfg = {2, {"x", "y"}, "score", max_cells, p_start, select, 0, 0};
    archive *a;
    REQUIRE_OK(archive_create(&a, &cfg, n_envs));
    return a;
}

/* A 16-byte state filled with one byte, malloc'd as archive_offer takes it. */
static uint8_t *state16(uint8_t fill)
{
    uint8_t *s = malloc(16);
    REQUIRE(s);
    memset(s, fill, 16);
    return s;
}

static void offer(archive *a, int who, int64_t x, int64_t y, int64_t score, uint8_t fill)
{
    CHECK(archive_wants(a, who, (int64_t[]){x, y}, score));
    CHECK_OK(archive_offer(a, who, (int64_t[]){x, y}, score, state16(fill), 16));
}

static int find(const archive *a, int64_t x, int64_t y)
{
    for (int c = 0; c < archive_cells(a); c++)
        if (archive_key(a, c)[0] == x && archive_key(a, c)[1] == y) return c;
    return -1;
}

static uint8_t state_byte(const archive *a, int c)
{
    uint8_t *s, byte = 0xEE;
    size_t size;
    CHECK_OK(archive_state(a, c, &s, &size));
    if (s && size == 16) byte = s[0];
    free(s);
    return byte;
}

static void test_offers_and_merge(void)
{
    archive *a = make(8, 0.0, ARCHIVE_COUNT, 2);
    CHECK(archive_draw(a, 0, 0.9, 0.5) == -1); /* empty: the folder's own state */
    offer(a, 0, 1, 1, 5, 0xA0);
    /* The env's own pending offer counts: the same score is not wanted again, a higher is. */
    CHECK(!archive_wants(a, 0, (int64_t[]){1, 1}, 5));
    offer(a, 1, 1, 1, 7, 0xB0);
    offer(a, 1, 2, 2, 1, 0xB1);
    offer(a, 0, 1, 1, 6, 0xA1);   /* replaces env 0's pending (1,1) */
    CHECK(archive_cells(a) == 0); /* nothing joins before the merge */
    CHECK(archive_merge(a) == 2);
    CHECK(archive_cells(a) == 2);
    int c11 = find(a, 1, 1), c22 = find(a, 2, 2);
    REQUIRE(c11 >= 0 && c22 >= 0);
    /* Env 0's offer came first in env order; env 1's higher score then replaced its state. */
    CHECK(c11 == 0 && archive_score(a, c11) == 7 && state_byte(a, c11) == 0xB0);
    CHECK(archive_score(a, c22) == 1 && state_byte(a, c22) == 0xB1);
    CHECK(archive_best(a) == 7);
    CHECK(!archive_wants(a, 0, (int64_t[]){1, 1}, 7));
    CHECK(archive_wants(a, 0, (int64_t[]){1, 1}, 8));
    CHECK(archive_wants(a, 1, (int64_t[]){3, 0}, 0));
    /* A lower score never replaces a cell's state. */
    CHECK_OK(archive_offer(a, 0, (int64_t[]){1, 1}, 2, state16(0xCC), 16));
    CHECK(archive_merge(a) == 0 && state_byte(a, c11) == 0xB0 && archive_score(a, c11) == 7);
    archive_free(a);
}

/* An env at (x, y) after a step: counts the step, and offers the cell where it is wanted. */
static void step_at(archive *a, int who, int64_t x, int64_t y, uint8_t fill)
{
    if (archive_visit(a, who, (int64_t[]){x, y}, 0))
        CHECK_OK(archive_offer(a, who, (int64_t[]){x, y}, 0, state16(fill), 16));
}

/* survive: an offer joins only once its episode went on that many steps; younger ones are
 * dropped when the episode ends or the round does, and can be offered again. */
static void test_survive(void)
{
    archive_config cfg = {2, {"x", "y"}, "score", 8, 0.0, ARCHIVE_COUNT, 3, 0};
    archive *a;
    REQUIRE_OK(archive_create(&a, &cfg, 2));
    /* Env 0 reaches four cells on steps 1-4, then its game ends: only the cell of step 1 has
     * 3 steps after it. Env 1 offers one cell and stays there 3 steps: it lives. */
    for (int i = 1; i <= 4; i++) step_at(a, 0, i, i, (uint8_t)i);
    for (int i = 0; i < 4; i++) step_at(a, 1, 9, 9, 0x99);
    archive_episode_end(a, 0);
    CHECK(archive_wants(a, 0, (int64_t[]){2, 2}, 0)); /* dropped: offered again if reached */
    CHECK(!archive_wants(a, 0, (int64_t[]){1, 1}, 0));
    /* A new episode's steps do not age the old one's dropped offers back in; the round ends
     * with env 0's offer of (5, 5) two steps old: dropped. */
    step_at(a, 0, 5, 5, 5);
    step_at(a, 0, 5, 5, 5);
    step_at(a, 0, 5, 5, 5);
    CHECK(archive_merge(a) == 2);
    CHECK(find(a, 1, 1) >= 0 && state_byte(a, find(a, 1, 1)) == 1);
    CHECK(find(a, 9, 9) >= 0);
    CHECK(find(a, 2, 2) < 0 && find(a, 4, 4) < 0 && find(a, 5, 5) < 0);
    /* Still in (5, 5) at the next round: offered again, and it lives this time. */
    for (int i = 0; i < 4; i++) step_at(a, 0, 5, 5, 0x55);
    archive_episode_end(a, 0);
    CHECK(archive_merge(a) == 1 && state_byte(a, find(a, 5, 5)) == 0x55);
    archive_free(a);
    /* survive 0: everything offered joins, episode end or not. */
    a = make(8, 0.0, ARCHIVE_COUNT, 1);
    step_at(a, 0, 1, 1, 1);
    archive_episode_end(a, 0);
    step_at(a, 0, 2, 2, 2);
    CHECK(archive_merge(a) == 2);
    archive_free(a);
}

/* How often v on a grid of n points in [0, 1) draws each cell (u above p_start). The draws
 * count as the merge's, so only the end of a test may take them. */
static void draw_grid(archive *a, int n, int *counts, int n_cells)
{
    memset(counts, 0, sizeof *counts * (size_t)n_cells);
    for (int i = 0; i < n; i++) counts[archive_draw(a, 0, 0.9, (i + 0.5) / n)]++;
}

/* patience: a cell drawn that many times since a game from it last found a new cell is set
 * aside; the new cell's finder's draw gets the credit; a better state keeps the count. */
static void test_patience(void)
{
    archive_config cfg = {2, {"x", "y"}, "score", 8, 0.1, ARCHIVE_BEST, 0, 2};
    archive *a;
    REQUIRE_OK(archive_create(&a, &cfg, 2));
    offer(a, 0, 0, 0, 1, 0xA); /* cell 0 */
    offer(a, 0, 0, 1, 1, 0xB); /* cell 1 */
    offer(a, 0, 0, 2, 5, 0xC); /* cell 2: the best */
    archive_merge(a);
    /* Env 0 starts from cell 2 twice and finds nothing: set aside, "best" moves on to the
     * next-best cells while the best score stays 5. */
    CHECK(archive_draw(a, 0, 0.5, 0.1) == 2);
    step_at(a, 0, 0, 2, 0xEE); /* known cells are not new */
    CHECK(archive_draw(a, 0, 0.5, 0.9) == 2);
    archive_merge(a);
    CHECK(archive_stale(a, 2) == 2 && archive_best(a) == 5);
    /* Env 1 starts from cell 0 and finds (3, 3); env 0 starts from cell 1, then from the
     * folder's state, and finds (4, 4): cell 0 gets the credit (stale 0 after its draw), cell 1
     * none, and a find in a game from the folder's state credits no cell. */
    CHECK(archive_draw(a, 1, 0.5, 0.2) == 0);
    step_at(a, 1, 3, 3, 0x33);
    CHECK(archive_draw(a, 0, 0.5, 0.7) == 1);
    CHECK(archive_draw(a, 0, 0.05, 0.7) == -1);
    step_at(a, 0, 4, 4, 0x44);
    CHECK(archive_merge(a) == 2);
    CHECK(archive_stale(a, 0) == 0 && archive_stale(a, 1) == 1 && archive_stale(a, 2) == 2);
    CHECK(archive_stale(a, find(a, 3, 3)) == 0 && archive_stale(a, find(a, 4, 4)) == 0);
    /* A higher score for the set-aside cell replaces its state and keeps its count: still
     * set aside. */
    CHECK(archive_draw(a, 0, 0.05, 0.5) == -1);
    offer(a, 0, 0, 2, 6, 0xCD);
    archive_merge(a);
    CHECK(archive_score(a, 2) == 6 && state_byte(a, 2) == 0xCD && archive_stale(a, 2) == 2);
    CHECK(archive_draw(a, 0, 0.5, 0.1) == 0 && archive_draw(a, 0, 0.5, 0.9) == 1);
    archive_merge(a); /* cell 1 set aside */
    CHECK(archive_draw(a, 0, 0.5, 0.99) == 0);
    archive_merge(a); /* cell 0 too: the two cells found above, score 0, are left */
    CHECK(find(a, 4, 4) == 3 && find(a, 3, 3) == 4); /* env order: env 0's find first */
    for (int round = 0; round < 2; round++) {
        CHECK(archive_draw(a, 0, 0.5, 0.2) == 3);
        CHECK(archive_draw(a, 0, 0.5, 0.8) == 4);
        archive_merge(a);
    }
    /* Every cell set aside: the rule draws among all of them again. */
    for (int c = 0; c < 5; c++) CHECK(archive_stale(a, c) == 2);
    int counts[5];
    draw_grid(a, 100, counts, 5);
    CHECK(counts[2] == 100);
    archive_free(a);

    /* Under "count" a set-aside cell weighs 0; patience 0 never sets one aside. */
    for (int patience = 0; patience <= 1; patience++) {
        archive_config cc = {2, {"x", "y"}, "score", 8, 0.0, ARCHIVE_COUNT, 0, patience};
        REQUIRE_OK(archive_create(&a, &cc, 1));
        offer(a, 0, 0, 0, 0, 1);
        offer(a, 0, 0, 1, 0, 2);
        archive_merge(a);
        CHECK(archive_draw(a, 0, 0.5, 0.1) == 0);
        archive_merge(a);
        draw_grid(a, 1000, counts, 2);
        if (patience)
            CHECK(counts[0] == 0 && counts[1] == 1000);
        else
            CHECK(counts[0] > 300 && counts[1] > 300);
        archive_free(a);
    }
}

static void test_selection(void)
{
    archive *a = make(8, 0.25, ARCHIVE_COUNT, 2);
    offer(a, 0, 0, 0, 3, 1);
    offer(a, 0, 0, 1, 9, 2);
    offer(a, 1, 0, 2, 9, 3);
    archive_merge(a);
    /* p_start: u below it means the folder's own start state. */
    CHECK(archive_draw(a, 0, 0.2, 0.5) == -1);
    /* Equal weights at first: v splits [0, 1) into three equal parts. */
    CHECK(archive_draw(a, 0, 0.5, 0.1) == 0);
    CHECK(archive_draw(a, 0, 0.5, 0.5) == 1);
    CHECK(archive_draw(a, 1, 0.5, 0.9) == 2);
    for (int i = 0; i < 7; i++) archive_draw(a, 1, 0.5, 0.1); /* cell 0, 8 times in all */
    archive_merge(a);
    CHECK(archive_chosen(a, 0) == 8 && archive_chosen(a, 1) == 1 && archive_chosen(a, 2) == 1);
    /* Weights 1/sqrt(1 + chosen): 1/3, 1/sqrt(2), 1/sqrt(2); cell 0 now covers v < 0.19. */
    CHECK(archive_draw(a, 0, 0.5, 0.18) == 0);
    CHECK(archive_draw(a, 0, 0.5, 0.20) == 1);
    CHECK(archive_draw(a, 0, 0.5, 0.99) == 2);
    /* Drawn cells 10000 times at v on a grid: shares follow the weights. */
    archive_merge(a);
    int counts[3];
    double w[3];
    for (int c = 0; c < 3; c++) w[c] = 1.0 / sqrt(1.0 + (double)archive_chosen(a, c));
    draw_grid(a, 10000, counts, 3);
    for (int c = 0; c < 3; c++)
        CHECKF(fabs(counts[c] / 10000.0 - w[c] / (w[0] + w[1] + w[2])) < 1e-3, "cell %d: %d", c,
               counts[c]);
    archive_free(a);

    /* "best": only the cells with the highest score are drawn. */
    a = make(8, 0.0, ARCHIVE_BEST, 1);
    offer(a, 0, 0, 0, 3, 1);
    offer(a, 0, 0, 1, 9, 2);
    offer(a, 0, 0, 2, 9, 3);
    archive_merge(a);
    int seen[3] = {0};
    for (int i = 0; i < 100; i++) seen[archive_draw(a, 0, 0.5, i / 100.0)]++;
    CHECK(seen[0] == 0 && seen[1] == 50 && seen[2] == 50);
    archive_free(a);

    /* "frontier": 1/sqrt(1 + chosen) + 1/sqrt(1 + seen), seen being the steps the envs spent
     * in the cell. Env 0 stands in (0,0) 80 times and (0,1) twice, env 1 in (0,0) 19 times;
     * a step in a cell not yet merged counts nothing. */
    a = make(8, 0.0, ARCHIVE_FRONTIER, 2);
    offer(a, 0, 0, 0, 1, 1);
    offer(a, 0, 0, 1, 1, 2);
    offer(a, 1, 0, 2, 1, 3);
    archive_merge(a);
    for (int i = 0; i < 80; i++) CHECK(!archive_visit(a, 0, (int64_t[]){0, 0}, 1));
    for (int i = 0; i < 19; i++) CHECK(!archive_visit(a, 1, (int64_t[]){0, 0}, 0));
    CHECK(!archive_visit(a, 0, (int64_t[]){0, 1}, 1) && !archive_visit(a, 0, (int64_t[]){0, 1}, 0));
    CHECK(archive_visit(a, 0, (int64_t[]){0, 2}, 2)); /* a higher score is still wanted */
    CHECK(archive_visit(a, 1, (int64_t[]){5, 5}, 0)); /* a new cell */
    CHECK(archive_seen(a, 0) == 0);                   /* counted at the merge */
    archive_merge(a);
    CHECK(archive_seen(a, 0) == 99 && archive_seen(a, 1) == 2 && archive_seen(a, 2) == 1);
    for (int c = 0; c < 3; c++) CHECK(archive_chosen(a, c) == 0);
    for (int c = 0; c < 3; c++) w[c] = 1.0 + 1.0 / sqrt(1.0 + (double)archive_seen(a, c));
    draw_grid(a, 10000, counts, 3);
    for (int c = 0; c < 3; c++)
        CHECKF(fabs(counts[c] / 10000.0 - w[c] / (w[0] + w[1] + w[2])) < 1e-3, "cell %d: %d", c,
               counts[c]);
    /* The cell crossed most is drawn least; under "count" all three would be equal. */
    CHECK(counts[0] < counts[1] && counts[1] < counts[2]);
    archive_free(a);
}

static void test_bound(void)
{
    archive *a = make(3, 0.0, ARCHIVE_COUNT, 1);
    offer(a, 0, 0, 0, 4, 1);
    offer(a, 0, 1, 0, 2, 2);
    offer(a, 0, 2, 0, 6, 3);
    archive_merge(a);
    CHECK(archive_cells(a) == 3);
    /* Full: a new cell that does not beat the lowest score is not even wanted. */
    CHECK(!archive_wants(a, 0, (int64_t[]){3, 0}, 2));
    offer(a, 0, 3, 0, 5, 4);
    CHECK(archive_merge(a) == 1);
    CHECK(archive_cells(a) == 3);
    CHECK(find(a, 1, 0) < 0 && find(a, 3, 0) >= 0 && find(a, 0, 0) >= 0 && find(a, 2, 0) >= 0);
    /* The evicted cell is unknown again: wanted only above the archive's lowest score (4). */
    CHECK(!archive_wants(a, 0, (int64_t[]){1, 0}, 4));
    CHECK(archive_wants(a, 0, (int64_t[]){1, 0}, 5));
    /* Many offers: the bound holds, and the best scores stay. */
    for (int i = 0; i < 50; i++) {
        int64_t key[2] = {10 + i, 1};
        if (archive_wants(a, 0, key, i)) CHECK_OK(archive_offer(a, 0, key, i, state16(i), 16));
        if (i % 7 == 0) archive_merge(a);
    }
    archive_merge(a);
    CHECK(archive_cells(a) == 3 && archive_best(a) == 49);
    CHECK(find(a, 59, 1) >= 0 && find(a, 58, 1) >= 0 && find(a, 57, 1) >= 0);
    archive_free(a);
}

static void test_checkpoint(const char *tmp)
{
    archive *a = make(8, 0.0, ARCHIVE_FRONTIER, 2);
    offer(a, 0, 5, 6, 3, 0x11);
    offer(a, 1, 7, 8, 4, 0x22);
    archive_merge(a);
    archive_draw(a, 0, 0.5, 0.9);
    for (int i = 0; i < 5; i++) archive_visit(a, 1, (int64_t[]){5, 6}, 0);
    archive_merge(a);
    st_tensor t[10];
    char names[10][32];
    archive_tensors(a, t, names);
    char path[512];
    snprintf(path, sizeof path, "%s/archive.safetensors", tmp);
    CHECK_OK(safetensors_write(path, t, archive_tensor_count(a), NULL, 0));

    safetensors *f;
    REQUIRE_OK(safetensors_read(&f, path));
    archive *b = make(8, 0.0, ARCHIVE_FRONTIER, 2);
    CHECK_OK(archive_load(b, f, path));
    CHECK(archive_cells(b) == 2 && archive_best(b) == 4);
    CHECK(archive_seen(b, 0) == 5 && archive_stale(b, 1) == 1);
    for (int c = 0; c < 2; c++) {
        CHECK(!memcmp(archive_key(a, c), archive_key(b, c), 2 * sizeof(int64_t)));
        CHECK(archive_score(a, c) == archive_score(b, c));
        CHECK(archive_chosen(a, c) == archive_chosen(b, c));
        CHECK(archive_seen(a, c) == archive_seen(b, c));
        CHECK(state_byte(a, c) == state_byte(b, c));
    }
    /* Env 0's game still runs from cell 1: a new cell it finds after the load credits it. */
    offer(b, 0, 9, 9, 0, 0x99);
    CHECK(archive_merge(b) == 1 && archive_stale(b, 1) == 0);
    /* The loaded archive looks cells up and draws like the saved one. */
    CHECK(!archive_wants(b, 0, (int64_t[]){7, 8}, 4));
    archive_free(b);
    b = make(8, 0.0, ARCHIVE_FRONTIER, 2);
    CHECK_OK(archive_load(b, f, path));
    for (int i = 0; i < 10; i++)
        CHECK(archive_draw(a, 0, 0.5, i / 10.0) == archive_draw(b, 0, 0.5, i / 10.0));
    /* Another key length, or more cells than allowed: errors naming the file. */
    archive_config three = {3, {"x", "y", "z"}, NULL, 8, 0.0, ARCHIVE_COUNT, 0, 0};
    archive *c3;
    REQUIRE_OK(archive_create(&c3, &three, 1));
    gb_error *err = archive_load(c3, f, path);
    CHECK(err && strstr(gb_error_msg(err), path) && strstr(gb_error_msg(err), "archive.key"));
    CHECK(archive_cells(c3) == 0);
    gb_error_free(err);
    archive *small = make(1, 0.0, ARCHIVE_COUNT, 1);
    err = archive_load(small, f, path);
    CHECK(err && strstr(gb_error_msg(err), "max_cells"));
    gb_error_free(err);
    safetensors_free(f);
    /* A checkpoint from before the states were compressed (plain "archive.state.N") and the
     * visit counts were kept loads the same cells, none seen; a damaged compressed state is an
     * error naming the file. */
    uint8_t *plain[2];
    size_t plain_size[2];
    for (int c = 0; c < 2; c++) REQUIRE_OK(archive_state(a, c, &plain[c], &plain_size[c]));
    st_tensor old[6] = {t[0], t[1], t[2], t[3]};
    for (int c = 0; c < 2; c++) {
        snprintf(names[c], sizeof names[c], "archive.state.%d", c);
        old[4 + c] = (st_tensor){names[c], ST_U8, 1, {(int64_t)plain_size[c]}, plain[c]};
    }
    CHECK_OK(safetensors_write(path, old, 6, NULL, 0));
    REQUIRE_OK(safetensors_read(&f, path));
    archive *from_old = make(8, 0.0, ARCHIVE_COUNT, 2);
    CHECK_OK(archive_load(from_old, f, path));
    CHECK(archive_cells(from_old) == 2);
    for (int c = 0; c < 2; c++)
        CHECK(state_byte(a, c) == state_byte(from_old, c) && archive_seen(from_old, c) == 0);
    safetensors_free(f);
    archive_tensors(a, t, names);
    uint8_t junk[3] = {1, 2, 3};
    CHECK(!strcmp(t[8].name, "archive.zstate.0"));
    t[8].data = junk, t[8].shape[0] = 3;
    CHECK_OK(safetensors_write(path, t, archive_tensor_count(a), NULL, 0));
    REQUIRE_OK(safetensors_read(&f, path));
    err = archive_load(from_old, f, path);
    CHECK(err && strstr(gb_error_msg(err), path) && strstr(gb_error_msg(err), "decompress"));
    CHECK(archive_cells(from_old) == 0);
    gb_error_free(err);
    safetensors_free(f);
    free(plain[0]), free(plain[1]);
    archive_free(from_old);
    archive_free(small);
    archive_free(c3);
    archive_free(b);
    archive_free(a);
}

/* A real core: steps reach cells of (player_x, player_y), and a reset drawn from the archive
 * starts where the cell's state was saved: the key and score in RAM, the whole RAM equal to
 * the state loaded into a second core. */
static void test_env_resets(const char *tmp)
{
    game_spec *g;
    REQUIRE_OK(game_load(&g, "states/catch-gb"));
    g->noop_max = 0;
    g->archive =
        (game_archive){.n_key = 2,
                       .key = {game_var_index(g, "player_x"), game_var_index(g, "player_y")},
                       .n_score = 2, /* a weighted score: 5 x score + player_y */
                       .score = {game_var_index(g, "score"), game_var_index(g, "player_y")},
                       .score_weight = {5, 1},
                       .max_cells = 64,
                       .select = GAME_SELECT_COUNT};
    archive_config ac = {2, {"player_x", "player_y"}, "score", 64, 0.0, ARCHIVE_COUNT, 0, 0};
    archive *a;
    REQUIRE_OK(archive_create(&a, &ac, 1));
    char core_path[4096];
    REQUIRE_OK(core_find(g->core, core_path, sizeof core_path));
    env_retro_config cfg = {g, core_path, g->rom, NULL, 0, NULL, 5, 0, a};
    env *e;
    REQUIRE_OK(env_retro_create(&e, &cfg));
    uint8_t *obs = malloc(env_obs_bytes(&e->spec));
    e->obs = obs;
    REQUIRE_OK(env_reset(e));
    const game_binding *b = env_retro_binding(e);
    int px = game_var_index(g, "player_x"), py = game_var_index(g, "player_y");
    int score = game_var_index(g, "score"), over = game_var_index(g, "game_over");
    /* Walk a fixed pattern so that several cells are reached. */
    static const int moves[] = {1, 1, 3, 3, 3, 2, 2, 2, 4, 4, 4, 4, 4, 1, 1};
    for (int i = 0; i < 15 && !e->terminated; i++) CHECK_OK(env_step(e, moves[i]));
    CHECK(archive_merge(a) >= 3);
    CHECK(archive_cells(a) >= 3);

    core *second;
    core_config cc = {core_path, g->rom, g->platform, NULL, 0, NULL};
    REQUIRE_OK(core_open(&second, &cc));
    for (int k = 0; k < 6; k++) {
        REQUIRE_OK(env_reset(e));
        const char *state = env_last_state(e);
        CHECK(state && strstr(state, "archive"));
        int hit = -1;
        for (int c = 0; c < archive_cells(a); c++)
            if (archive_key(a, c)[0] == game_value(b, px) &&
                archive_key(a, c)[1] == game_value(b, py) &&
                archive_score(a, c) == 5 * game_value(b, score) + game_value(b, py))
                hit = c;
        CHECKF(hit >= 0, "reset %d: player (%lld, %lld) is no cell of the archive", k,
               (long long)game_value(b, px), (long long)game_value(b, py));
        CHECK(game_value(b, over) == 0);
        if (hit < 0) continue;
        /* The same state in another core, one frame on (the reset's picture): the same RAM. */
        uint8_t *s;
        size_t size;
        REQUIRE_OK(archive_state(a, hit, &s, &size));
        CHECK_OK(core_load_state(second, s, size, "archived"));
        free(s);
        core_set_buttons(second, 0);
        core_run(second, false);
        uint8_t *ram1, *ram2; /* work RAM bank 0, 0xC000-0xCFFF */
        REQUIRE_OK(core_resolve(env_retro_core(e), 0xC000, 0x1000, &ram1));
        REQUIRE_OK(core_resolve(second, 0xC000, 0x1000, &ram2));
        CHECKF(!memcmp(ram1, ram2, 0x1000), "reset %d: the RAM differs from the state's", k);
    }
    archive_merge(a); /* the draws are counted */
    int64_t drawn = 0;
    for (int c = 0; c < archive_cells(a); c++) drawn += archive_chosen(a, c);
    CHECK(drawn == 6);
    /* Every step that ends in a cell of the archive counts once in that cell's times seen:
     * steps left and right from the archived state just loaded, back to its cell and out. */
    int64_t seen_before = 0, seen_after = 0, in_cells = 0;
    for (int c = 0; c < archive_cells(a); c++) seen_before += archive_seen(a, c);
    int cells_before = archive_cells(a);
    for (int i = 0; i < 16 && !e->terminated; i++) {
        CHECK_OK(env_step(e, 3 + i % 2));
        for (int c = 0; c < cells_before; c++)
            in_cells += !e->terminated && archive_key(a, c)[0] == game_value(b, px) &&
                        archive_key(a, c)[1] == game_value(b, py);
    }
    archive_merge(a);
    for (int c = 0; c < cells_before; c++) seen_after += archive_seen(a, c);
    CHECKF(in_cells > 0 && seen_after - seen_before == in_cells, "%lld steps in cells, seen %lld",
           (long long)in_cells, (long long)(seen_after - seen_before));
    /* Its states, as files gbfarm can load, and the list. */
    char dir[512], path[700];
    snprintf(dir, sizeof dir, "%s/cells", tmp);
    CHECK_OK(archive_write_dir(a, dir));
    snprintf(path, sizeof path, "%s/player_x_%lld-player_y_%lld.state", dir,
             (long long)archive_key(a, 0)[0], (long long)archive_key(a, 0)[1]);
    uint8_t *file, *s;
    size_t file_size, size;
    REQUIRE_OK(archive_state(a, 0, &s, &size));
    CHECK_OK(state_read(path, &file, &file_size));
    CHECK(file_size == size && !memcmp(file, s, size));
    free(file), free(s);
    snprintf(path, sizeof path, "%s/cells.csv", dir);
    CHECK(log_has(path, "state,player_x,player_y,score,chosen,seen,stale"));
    core_close(second);
    env_close(e);
    free(obs);
    archive_free(a);
    game_free(g);
}

/* gbfarm train with an archive in game.json: the run directory holds its states, and a run
 * stopped and resumed ends with the weights and archive of the uninterrupted run. */
static void test_train_resume(const char *tmp)
{
    char cmd[2048], game[600], log[600], a[700], b[700];
    snprintf(game, sizeof game, "%s/catch-archive", tmp);
    snprintf(log, sizeof log, "%s/train.log", tmp);
    catch_with_archive(game, "{ \"key\": [\"player_x\", \"player_y\"], "
                             "\"score\": { \"score\": 4, \"game_over\": -1 }, "
                             "\"max_cells\": 24, \"p_start\": 0.3, \"select\": \"frontier\", "
                             "\"survive\": 8, \"patience\": 3 }");
    const char *common =
        "--envs 2 --rollout-steps 64 --epochs 1 --update-threads 1 --seed 3 --no-anneal";
    snprintf(cmd, sizeof cmd, "train --game %s %s --steps 2048 --run-dir %s/straight", game, common,
             tmp);
    CHECK(gbfarm_run(cmd, log) == 0);
    snprintf(cmd, sizeof cmd,
             "train --game %s %s --steps 1024 --checkpoint-every 4 --run-dir %s/resumed", game,
             common, tmp);
    CHECK(gbfarm_run(cmd, log) == 0);
    snprintf(cmd, sizeof cmd, "train --resume %s/resumed --steps 2048", tmp);
    CHECK(gbfarm_run(cmd, log) == 0);
    snprintf(a, sizeof a, "%s/straight/latest.safetensors", tmp);
    snprintf(b, sizeof b, "%s/resumed/latest.safetensors", tmp);
    CHECKF(same_weights(a, b), "a resumed run with an archive ended elsewhere (log %s)", log);
    safetensors *f;
    REQUIRE_OK(safetensors_read(&f, a));
    int64_t cells = 0;
    CHECK_OK(safetensors_get(f, "archive.count", ST_I64, 1, (int64_t[]){1}, &cells));
    CHECKF(cells >= 5 && cells <= 24, "%lld cells", (long long)cells);
    safetensors_free(f);
    snprintf(a, sizeof a, "%s/straight/archive/cells.csv", tmp);
    CHECK(log_has(a, "state,player_x,player_y,score,chosen,seen,stale"));
    /* A survive no offer could reach between two merges: a one-line error, no run. */
    snprintf(cmd, sizeof cmd, "train --game %s --rollout-steps 8 --steps 64 --run-dir %s/short",
             game, tmp);
    CHECK(gbfarm_run(cmd, log) != 0);
    CHECK(log_has(log, "game.json: archive.survive (8) must be below --rollout-steps (8)"));
}

/* --no-archive trains without the folder's archive (the one test_train_resume made): no
 * cells in the run directory or the checkpoint, and config.json says so. */
static void test_no_archive(const char *tmp)
{
    char cmd[2048], log[600], path[700];
    snprintf(log, sizeof log, "%s/plain.log", tmp);
    snprintf(cmd, sizeof cmd,
             "train --game %s/catch-archive --no-archive --envs 2 --rollout-steps 64 --epochs 1 "
             "--update-threads 1 --steps 512 --run-dir %s/plain",
             tmp, tmp);
    CHECK(gbfarm_run(cmd, log) == 0);
    snprintf(path, sizeof path, "%s/plain/archive", tmp);
    CHECKF(access(path, F_OK) != 0, "%s exists after --no-archive", path);
    snprintf(path, sizeof path, "%s/plain/config.json", tmp);
    CHECK(log_has(path, "\"no_archive\": true"));
    snprintf(path, sizeof path, "%s/plain/latest.safetensors", tmp);
    safetensors *f;
    REQUIRE_OK(safetensors_read(&f, path));
    CHECK(!safetensors_has(f, "archive.count"));
    safetensors_free(f);
}

int main(void)
{
    char tmp[] = "/tmp/gbfarm-archive-XXXXXX";
    REQUIRE(mkdtemp(tmp));
    test_offers_and_merge();
    test_survive();
    test_patience();
    test_selection();
    test_bound();
    test_checkpoint(tmp);
    test_env_resets(tmp);
    test_train_resume(tmp);
    test_no_archive(tmp);
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf %s", tmp);
    if (!check_failed && system(cmd) != 0) fprintf(stderr, "could not remove %s\n", tmp);
    return check_summary();
}
