#include "gbfarm/archive.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <zlib.h>

#include "gbfarm/state.h"

/* A state an env offers, or a cell it drew, until the merge. */
typedef struct offer {
    int64_t key[ARCHIVE_MAX_KEY];
    int64_t score;
    uint8_t *state;
    size_t size;
    int64_t raw;  /* once packed: the size before compression */
    int64_t at;   /* the env's step count when offered */
    int64_t from; /* the cell the env's game started from, or -1 */
} offer;

/* One env's finds since the last merge; written by that env's thread alone. Each list is on
 * its own cache lines: the envs' threads write theirs side by side. */
typedef struct pending {
    _Alignas(64) offer *offers;
    int n_offers, cap_offers;
    int *drawn;
    int n_drawn, cap_drawn;
    uint32_t *seen; /* [max_cells]: steps this env spent in each cell since the merge */
    int64_t steps;  /* steps since the merge (archive_visit) */
} pending;

/* The cells, as arrays, so that checkpoints take views of them. */
struct archive {
    archive_config cfg;
    int n_envs;
    int n;             /* cells in use */
    int64_t count;     /* n, as the checkpoint's tensor */
    int64_t *keys;     /* [max_cells][n_key] */
    int64_t *scores;   /* [max_cells] */
    int64_t *chosen;   /* [max_cells]: times a reset drew the cell */
    int64_t *seen;     /* [max_cells]: steps the envs spent in the cell */
    int64_t *stale;    /* [max_cells]: draws since a game from the cell last found a new one */
    int64_t *origin;   /* [n_envs]: the cell each env's game started from, or -1 */
    uint8_t **states;  /* [max_cells]: zlib-compressed (a GB state to about a seventh) */
    size_t *sizes;     /* [max_cells]: compressed */
    int64_t *raw;      /* [max_cells]: the state's own size */
    bool *dirty;       /* [max_cells]: changed since archive_write_dir */
    int *table;        /* open addressing over the keys: a cell, or -1 */
    size_t table_mask; /* table size - 1, a power of two at least 2 x max_cells */
    double *cum;       /* ARCHIVE_COUNT: cumulative weights [n] */
    int *best;         /* ARCHIVE_BEST: the cells with the best score */
    int n_best;
    int64_t best_score, min_score; /* over the cells (0 when empty) */
    pending *pend;                 /* [n_envs] */
};

static uint64_t key_hash(const int64_t *key, int n)
{
    uint64_t h = 0x9E3779B97F4A7C15ull;
    for (int i = 0; i < n; i++) {
        h ^= (uint64_t)key[i];
        h *= 0xBF58476D1CE4E5B9ull;
        h ^= h >> 31;
    }
    return h;
}

static bool key_eq(const int64_t *a, const int64_t *b, int n)
{
    return !memcmp(a, b, sizeof(int64_t) * (size_t)n);
}

static int64_t *cell_key(const archive *a, int cell)
{
    return a->keys + (size_t)cell * (size_t)a->cfg.n_key;
}

/* The table slot of key: where its cell is, or the empty slot where it would go. */
static size_t slot_of(const archive *a, const int64_t *key)
{
    size_t s = key_hash(key, a->cfg.n_key) & a->table_mask;
    while (a->table[s] >= 0 && !key_eq(cell_key(a, a->table[s]), key, a->cfg.n_key))
        s = (s + 1) & a->table_mask;
    return s;
}

static int lookup(const archive *a, const int64_t *key)
{
    return a->table[slot_of(a, key)];
}

static void rebuild_table(archive *a)
{
    for (size_t s = 0; s <= a->table_mask; s++) a->table[s] = -1;
    for (int c = 0; c < a->n; c++) a->table[slot_of(a, cell_key(a, c))] = c;
}

static bool set_aside(const archive *a, int c)
{
    return a->cfg.patience > 0 && a->stale[c] >= a->cfg.patience;
}

/* The draw tables and the score range, after the cells changed. Cells set aside weigh 0,
 * unless every cell is. */
static void reweigh(archive *a)
{
    bool open = false;
    for (int c = 0; c < a->n && !open; c++) open = !set_aside(a, c);
    double total = 0;
    int64_t top = 0;
    a->n_best = 0;
    a->best_score = a->min_score = 0;
    for (int c = 0; c < a->n; c++) {
        if (c == 0 || a->scores[c] > a->best_score) a->best_score = a->scores[c];
        if (c == 0 || a->scores[c] < a->min_score) a->min_score = a->scores[c];
        if (open && set_aside(a, c)) {
            a->cum[c] = total;
            continue;
        }
        total += 1.0 / sqrt(1.0 + (double)a->chosen[c]);
        if (a->cfg.select == ARCHIVE_FRONTIER) total += 1.0 / sqrt(1.0 + (double)a->seen[c]);
        a->cum[c] = total;
        if (a->n_best == 0 || a->scores[c] > top) top = a->scores[c], a->n_best = 0;
        if (a->scores[c] == top) a->best[a->n_best++] = c;
    }
}

gb_error *archive_create(archive **out, const archive_config *cfg, int n_envs)
{
    *out = NULL;
    if (cfg->n_key < 1 || cfg->n_key > ARCHIVE_MAX_KEY || cfg->max_cells < 1 || n_envs < 1)
        return gb_errorf("archive: a key of 1 to %d variables and max_cells >= 1 are needed",
                         ARCHIVE_MAX_KEY);
    archive *a = calloc(1, sizeof *a);
    if (!a) return gb_errorf("archive: out of memory");
    a->cfg = *cfg;
    a->n_envs = n_envs;
    size_t m = (size_t)cfg->max_cells, table = 16;
    while (table < 2 * m) table *= 2;
    a->table_mask = table - 1;
    a->keys = calloc(m * (size_t)cfg->n_key, sizeof *a->keys);
    a->scores = calloc(m, sizeof *a->scores);
    a->chosen = calloc(m, sizeof *a->chosen);
    a->seen = calloc(m, sizeof *a->seen);
    a->stale = calloc(m, sizeof *a->stale);
    a->origin = malloc(sizeof *a->origin * (size_t)n_envs);
    a->states = calloc(m, sizeof *a->states);
    a->sizes = calloc(m, sizeof *a->sizes);
    a->raw = calloc(m, sizeof *a->raw);
    a->dirty = calloc(m, sizeof *a->dirty);
    a->table = malloc(table * sizeof *a->table);
    a->cum = calloc(m, sizeof *a->cum);
    a->best = calloc(m, sizeof *a->best);
    a->pend = aligned_alloc(_Alignof(pending), sizeof(pending) * (size_t)n_envs);
    if (a->pend) memset(a->pend, 0, sizeof(pending) * (size_t)n_envs); /* archive_free reads it */
    if (!a->keys || !a->scores || !a->chosen || !a->seen || !a->stale || !a->origin || !a->states ||
        !a->sizes || !a->raw || !a->dirty || !a->table || !a->cum || !a->best || !a->pend) {
        archive_free(a);
        return gb_errorf("archive: out of memory for %d cells", cfg->max_cells);
    }
    for (int e = 0; e < n_envs; e++)
        if (!(a->pend[e].seen = calloc(m, sizeof *a->pend[e].seen))) {
            archive_free(a);
            return gb_errorf("archive: out of memory for %d cells", cfg->max_cells);
        }
    for (int e = 0; e < n_envs; e++) a->origin[e] = -1;
    rebuild_table(a);
    *out = a;
    return NULL;
}

static void drop_pending(archive *a)
{
    for (int e = 0; e < a->n_envs; e++) {
        pending *p = &a->pend[e];
        for (int i = 0; i < p->n_offers; i++) free(p->offers[i].state);
        p->n_offers = p->n_drawn = 0;
        p->steps = 0;
        if (p->seen) memset(p->seen, 0, sizeof *p->seen * (size_t)a->cfg.max_cells);
    }
}

void archive_free(archive *a)
{
    if (!a) return;
    if (a->pend) {
        drop_pending(a);
        for (int e = 0; e < a->n_envs; e++)
            free(a->pend[e].offers), free(a->pend[e].drawn), free(a->pend[e].seen);
    }
    for (int c = 0; a->states && c < a->n; c++) free(a->states[c]);
    free(a->keys);
    free(a->scores);
    free(a->chosen);
    free(a->seen);
    free(a->stale);
    free(a->origin);
    free(a->states);
    free(a->sizes);
    free(a->raw);
    free(a->dirty);
    free(a->table);
    free(a->cum);
    free(a->best);
    free(a->pend);
    free(a);
}

const archive_config *archive_get_config(const archive *a)
{
    return &a->cfg;
}

/* ---- env threads ---- */

static offer *pending_offer(const pending *p, const int64_t *key, int n_key)
{
    for (int i = 0; i < p->n_offers; i++)
        if (key_eq(p->offers[i].key, key, n_key)) return &p->offers[i];
    return NULL;
}

static bool wants(const archive *a, int env, int c, const int64_t *key, int64_t score)
{
    if (c >= 0 ? score <= a->scores[c] : a->n == a->cfg.max_cells && score <= a->min_score)
        return false;
    const offer *o = pending_offer(&a->pend[env], key, a->cfg.n_key);
    return !o || score > o->score;
}

bool archive_wants(const archive *a, int env, const int64_t *key, int64_t score)
{
    return wants(a, env, lookup(a, key), key, score);
}

bool archive_visit(archive *a, int env, const int64_t *key, int64_t score)
{
    int c = lookup(a, key);
    a->pend[env].steps++;
    if (c >= 0 && a->pend[env].seen[c] < UINT32_MAX) a->pend[env].seen[c]++;
    return wants(a, env, c, key, score);
}

static bool grow(void **buf, int *cap, int need, size_t elem)
{
    if (need <= *cap) return true;
    int n = *cap ? 2 * *cap : 8;
    void *p = realloc(*buf, (size_t)n * elem);
    if (!p) return false;
    *buf = p, *cap = n;
    return true;
}

gb_error *archive_offer(archive *a, int env, const int64_t *key, int64_t score, uint8_t *state,
                        size_t size)
{
    pending *p = &a->pend[env];
    offer *o = pending_offer(p, key, a->cfg.n_key);
    if (!o) {
        if (!grow((void **)&p->offers, &p->cap_offers, p->n_offers + 1, sizeof *p->offers)) {
            free(state);
            return gb_errorf("archive: out of memory");
        }
        o = &p->offers[p->n_offers++];
        memcpy(o->key, key, sizeof(int64_t) * (size_t)a->cfg.n_key);
    } else {
        free(o->state);
    }
    o->score = score, o->state = state, o->size = size, o->at = p->steps;
    o->from = a->origin[env];
    return NULL;
}

/* Drops the env's offers younger than survive steps, keeping the others in order. */
static void drop_young(archive *a, pending *p)
{
    int kept = 0;
    for (int i = 0; i < p->n_offers; i++) {
        if (p->steps - p->offers[i].at < a->cfg.survive)
            free(p->offers[i].state);
        else
            p->offers[kept++] = p->offers[i];
    }
    p->n_offers = kept;
}

void archive_episode_end(archive *a, int env)
{
    if (a->cfg.survive > 0) drop_young(a, &a->pend[env]);
}

int archive_draw(archive *a, int env, double u, double v)
{
    a->origin[env] = -1;
    if (a->n == 0 || u < a->cfg.p_start) return -1;
    int c;
    if (a->cfg.select == ARCHIVE_BEST) {
        c = a->best[(int)(v * a->n_best) < a->n_best ? (int)(v * a->n_best) : a->n_best - 1];
    } else { /* the first cell whose cumulative weight passes v x total */
        double target = v * a->cum[a->n - 1];
        int lo = 0, hi = a->n - 1;
        while (lo < hi) {
            int mid = (lo + hi) / 2;
            if (a->cum[mid] > target)
                hi = mid;
            else
                lo = mid + 1;
        }
        c = lo;
    }
    a->origin[env] = c;
    pending *p = &a->pend[env];
    if (grow((void **)&p->drawn, &p->cap_drawn, p->n_drawn + 1, sizeof *p->drawn))
        p->drawn[p->n_drawn++] = c; /* out of memory: the draw goes uncounted, nothing worse */
    return c;
}

gb_error *archive_state(const archive *a, int cell, uint8_t **out, size_t *size)
{
    uLongf n = (uLongf)a->raw[cell];
    *out = malloc(n ? n : 1), *size = 0;
    if (!*out)
        return gb_errorf("archive: out of memory for a state of %lu bytes", (unsigned long)n);
    if (uncompress(*out, &n, a->states[cell], (uLong)a->sizes[cell]) != Z_OK ||
        n != (uLongf)a->raw[cell]) {
        free(*out), *out = NULL;
        return gb_errorf("archive: cell %d's state does not decompress to its %lld bytes", cell,
                         (long long)a->raw[cell]);
    }
    *size = n;
    return NULL;
}

/* ---- the main thread ---- */

/* The offer's state compressed in place (zlib's fastest level: a new cell costs the main
 * thread well under a millisecond); false when out of memory. */
static bool pack(offer *o)
{
    uLongf n = compressBound((uLong)o->size);
    uint8_t *z = malloc(n);
    if (!z || compress2(z, &n, o->state, (uLong)o->size, 1) != Z_OK) {
        free(z);
        return false;
    }
    uint8_t *fit = realloc(z, n ? n : 1);
    free(o->state);
    o->state = fit ? fit : z;
    o->raw = (int64_t)o->size, o->size = n;
    return true;
}

static void put(archive *a, int c, offer *o, bool fresh)
{
    free(a->states[c]);
    memcpy(cell_key(a, c), o->key, sizeof(int64_t) * (size_t)a->cfg.n_key);
    a->scores[c] = o->score;
    if (fresh) a->chosen[c] = a->seen[c] = a->stale[c] = 0;
    a->states[c] = o->state, a->sizes[c] = o->size, a->raw[c] = o->raw;
    a->dirty[c] = true;
    o->state = NULL;
}

/* The cell a full archive gives up: the lowest score, then the most chosen, then the first. */
static int victim(const archive *a)
{
    int v = 0;
    for (int c = 1; c < a->n; c++)
        if (a->scores[c] < a->scores[v] ||
            (a->scores[c] == a->scores[v] && a->chosen[c] > a->chosen[v]))
            v = c;
    return v;
}

/* Cell v holds another place now: games drawn from the old one are credited to nobody. */
static void forget_origin(archive *a, int v)
{
    for (int e = 0; e < a->n_envs; e++) {
        if (a->origin[e] == v) a->origin[e] = -1;
        for (int i = 0; i < a->pend[e].n_offers; i++)
            if (a->pend[e].offers[i].from == v) a->pend[e].offers[i].from = -1;
    }
}

int archive_merge(archive *a)
{
    int added = 0;
    for (int e = 0; e < a->n_envs; e++) {
        for (int i = 0; i < a->pend[e].n_drawn; i++) {
            int c = a->pend[e].drawn[i];
            a->chosen[c]++, a->stale[c]++;
        }
        for (int c = 0; c < a->n; c++) a->seen[c] += a->pend[e].seen[c];
    }
    for (int e = 0; e < a->n_envs; e++) {
        pending *p = &a->pend[e];
        if (a->cfg.survive > 0) drop_young(a, p); /* not yet known to survive */
        for (int i = 0; i < p->n_offers; i++) {
            offer *o = &p->offers[i];
            size_t s = slot_of(a, o->key);
            int c = a->table[s];
            if (c >= 0) {
                if (o->score > a->scores[c] && pack(o)) put(a, c, o, false);
            } else if (a->n < a->cfg.max_cells) {
                if (!pack(o)) continue; /* out of memory: the offer is dropped, nothing worse */
                if (o->from >= 0) a->stale[o->from] = 0;
                a->table[s] = a->n;
                put(a, a->n++, o, true);
                added++;
            } else {
                int v = victim(a);
                if (o->score > a->scores[v] && pack(o)) {
                    if (o->from >= 0) a->stale[o->from] = 0;
                    forget_origin(a, v);
                    put(a, v, o, true);
                    rebuild_table(a);
                    added++;
                }
            }
        }
    }
    drop_pending(a);
    a->count = a->n;
    reweigh(a);
    return added;
}

int archive_cells(const archive *a)
{
    return a->n;
}
int64_t archive_best(const archive *a)
{
    return a->best_score;
}
const int64_t *archive_key(const archive *a, int cell)
{
    return cell_key(a, cell);
}
int64_t archive_score(const archive *a, int cell)
{
    return a->scores[cell];
}
int64_t archive_chosen(const archive *a, int cell)
{
    return a->chosen[cell];
}
int64_t archive_seen(const archive *a, int cell)
{
    return a->seen[cell];
}
int64_t archive_stale(const archive *a, int cell)
{
    return a->stale[cell];
}

/* ---- checkpoints ---- */

int archive_tensor_count(const archive *a)
{
    return a->n ? 8 + a->n : 1;
}

void archive_tensors(const archive *a, st_tensor *out, char (*names)[32])
{
    int64_t n = a->n;
    out[0] = (st_tensor){"archive.count", ST_I64, 1, {1}, &a->count};
    if (!n) return;
    out[1] = (st_tensor){"archive.keys", ST_I64, 2, {n, a->cfg.n_key}, a->keys};
    out[2] = (st_tensor){"archive.scores", ST_I64, 1, {n}, a->scores};
    out[3] = (st_tensor){"archive.chosen", ST_I64, 1, {n}, a->chosen};
    out[4] = (st_tensor){"archive.state_sizes", ST_I64, 1, {n}, a->raw};
    out[5] = (st_tensor){"archive.seen", ST_I64, 1, {n}, a->seen};
    out[6] = (st_tensor){"archive.stale", ST_I64, 1, {n}, a->stale};
    out[7] = (st_tensor){"archive.origin", ST_I64, 1, {a->n_envs}, a->origin};
    for (int c = 0; c < a->n; c++) {
        snprintf(names[c], sizeof names[c], "archive.zstate.%d", c);
        out[8 + c] = (st_tensor){names[c], ST_U8, 1, {(int64_t)a->sizes[c]}, a->states[c]};
    }
}

static void clear(archive *a)
{
    for (int c = 0; c < a->n; c++) free(a->states[c]), a->states[c] = NULL;
    for (int e = 0; e < a->n_envs; e++) a->origin[e] = -1;
    a->n = 0;
}

/* An optional tensor of a checkpoint: zeros (or fill) where an older one has none. */
static gb_error *get_or_fill(const safetensors *f, const char *name, int64_t n, int64_t *out,
                             int64_t fill)
{
    if (safetensors_has(f, name)) return safetensors_get(f, name, ST_I64, 1, (int64_t[]){n}, out);
    for (int64_t i = 0; i < n; i++) out[i] = fill;
    return NULL;
}

gb_error *archive_load(archive *a, const safetensors *f, const char *path)
{
    drop_pending(a);
    clear(a);
    int64_t n = 0;
    if (safetensors_has(f, "archive.count")) {
        GB_TRY(safetensors_get(f, "archive.count", ST_I64, 1, (int64_t[]){1}, &n));
        if (n < 0 || n > a->cfg.max_cells)
            return gb_errorf("%s: the start-state archive holds %" PRId64 " cells; game.json's "
                             "archive.max_cells allows %d",
                             path, n, a->cfg.max_cells);
    }
    gb_error *err = NULL;
    if (n > 0) {
        int64_t shape[2] = {n, a->cfg.n_key};
        err = safetensors_get(f, "archive.keys", ST_I64, 2, shape, a->keys);
        if (err)
            err = gb_error_wrap(err,
                                "%s: the start-state archive's cells do not have the %d-"
                                "variable key of game.json's archive.key",
                                path, a->cfg.n_key);
        if (!err) err = safetensors_get(f, "archive.scores", ST_I64, 1, shape, a->scores);
        if (!err) err = safetensors_get(f, "archive.chosen", ST_I64, 1, shape, a->chosen);
        /* A checkpoint written before the visit or patience counts has none: they start at 0,
         * and every env's game at the folder's start. */
        if (!err) err = get_or_fill(f, "archive.seen", n, a->seen, 0);
        if (!err) err = get_or_fill(f, "archive.stale", n, a->stale, 0);
        if (!err) err = get_or_fill(f, "archive.origin", a->n_envs, a->origin, -1);
        for (int e = 0; !err && e < a->n_envs; e++)
            if (a->origin[e] < -1 || a->origin[e] >= n)
                err = gb_errorf("%s: archive.origin: env %d's cell %" PRId64 " is not one of the "
                                "archive's %" PRId64,
                                path, e, a->origin[e], n);
    }
    /* Compressed states with their sizes; a checkpoint from before (stop 6) has them plain. */
    bool packed = n > 0 && safetensors_has(f, "archive.state_sizes");
    if (!err && packed)
        err = safetensors_get(f, "archive.state_sizes", ST_I64, 1, (int64_t[]){n}, a->raw);
    for (int c = 0; !err && c < n; c++) {
        char name[32];
        snprintf(name, sizeof name, packed ? "archive.zstate.%d" : "archive.state.%d", c);
        offer o = {0};
        err = safetensors_blob(f, name, &o.state, &o.size);
        if (!err && !packed && !pack(&o)) err = gb_errorf("archive: out of memory");
        a->states[c] = o.state, a->sizes[c] = o.size;
        if (!packed) a->raw[c] = o.raw;
        a->n = c + 1; /* what is loaded so far gets freed on an error */
        a->dirty[c] = true;
    }
    for (int c = 0; !err && c < n; c++) { /* a damaged state is an error now, not at a reset */
        uint8_t *state;
        size_t size;
        err = archive_state(a, c, &state, &size);
        free(state);
        if (err) err = gb_error_wrap(err, "%s: the start-state archive", path);
    }
    if (err) clear(a);
    a->count = a->n;
    rebuild_table(a);
    reweigh(a);
    return err;
}

/* ---- the run directory ---- */

static void cell_name(const archive *a, int c, char *buf, size_t n)
{
    size_t len = 0;
    buf[0] = '\0';
    for (int k = 0; k < a->cfg.n_key && len < n; k++)
        len += (size_t)snprintf(buf + len, n - len, "%s%s_%" PRId64, k ? "-" : "",
                                a->cfg.key_names[k], cell_key(a, c)[k]);
}

gb_error *archive_write_dir(archive *a, const char *dir)
{
    if (mkdir(dir, 0777) && errno != EEXIST)
        return gb_errorf("%s: cannot create the archive's directory: %s", dir, strerror(errno));
    char path[4300], name[200];
    for (int c = 0; c < a->n; c++) {
        if (!a->dirty[c]) continue;
        cell_name(a, c, name, sizeof name);
        snprintf(path, sizeof path, "%s/%s.state", dir, name);
        uint8_t *state;
        size_t size;
        GB_TRY(archive_state(a, c, &state, &size));
        gb_error *err = state_write(path, state, size);
        free(state);
        if (err) return err;
        a->dirty[c] = false;
    }
    char tmp[4300];
    snprintf(path, sizeof path, "%s/cells.csv", dir);
    snprintf(tmp, sizeof tmp, "%s/cells.csv.tmp", dir);
    FILE *fp = fopen(tmp, "w");
    if (!fp) return gb_errorf("%s: cannot write: %s", tmp, strerror(errno));
    fprintf(fp, "state");
    for (int k = 0; k < a->cfg.n_key; k++) fprintf(fp, ",%s", a->cfg.key_names[k]);
    fprintf(fp, ",%s,chosen,seen,stale\n", a->cfg.score_name ? a->cfg.score_name : "score");
    for (int c = 0; c < a->n; c++) {
        cell_name(a, c, name, sizeof name);
        fprintf(fp, "%s.state", name);
        for (int k = 0; k < a->cfg.n_key; k++) fprintf(fp, ",%" PRId64, cell_key(a, c)[k]);
        fprintf(fp, ",%" PRId64 ",%" PRId64 ",%" PRId64 ",%" PRId64 "\n", a->scores[c],
                a->chosen[c], a->seen[c], a->stale[c]);
    }
    bool ok = !ferror(fp);
    ok = !fclose(fp) && ok;
    if (!ok || rename(tmp, path)) {
        remove(tmp);
        return gb_errorf("%s: cannot write: %s", path, strerror(errno));
    }
    return NULL;
}
