/* Private to src/game: the parsed variables, reward terms and done conditions of a spec, and
 * the JSON readers that game.json and stable-retro folders share. */
#ifndef GBFARM_GAME_VARS_H
#define GBFARM_GAME_VARS_H

#include <jansson.h>

#include "gbfarm/game.h"

typedef struct game_var {
    char *name;
    uint32_t address; /* the value's bus address; for a pointer variable, the pointer's */
    uint32_t length;  /* bytes resolved: type.size, or end - address (end - offset) for a range */
    bool bits;        /* range variable: popcount over [address, address + length) */
    bool pointer;     /* pointer variable: the value is at (little-endian u32 at address) + offset,
                       * resolved again whenever the pointer's value changes */
    uint32_t offset;  /* pointer variables only */
    game_type type;
    uint64_t mask; /* ANDed with the decoded value (after the XOR); all ones when none */
    int xor_var;   /* index of the variable whose value is XORed in (a key), -1 when none */
} game_var;

/* stable-retro's operations (utils.cpp calculate()), applied after the measurement. */
typedef enum game_op {
    OP_NONE, /* the value itself */
    OP_EQUAL,
    OP_NEGATIVE_EQUAL,
    OP_NOT_EQUAL,
    OP_LESS_THAN,
    OP_GREATER_THAN,
    OP_LESS_OR_EQUAL,
    OP_GREATER_OR_EQUAL,
    OP_NONZERO,
    OP_ZERO,
    OP_POSITIVE,
    OP_NEGATIVE,
    OP_SIGN,
} game_op;

typedef struct game_term {
    int var;    /* index into vars; -1 for the time term (value and delta both 1) */
    bool delta; /* measurement: delta since the previous step, else the absolute value */
    game_op op;
    int64_t reference;
    float reward, penalty; /* reward terms only: multiply a positive / negative measure */
} game_term;

/* A done node: its terms and sub-nodes combined with any (default) or all. */
typedef struct game_done_node {
    bool all;
    game_term *terms;
    int n_terms;
    struct game_done_node *nodes;
    int n_nodes;
} game_done_node;

struct game_vars {
    char *info_file; /* the file the variables came from, for bind errors */
    game_var *vars;
    int n_vars;
    game_term *reward_terms;
    int n_reward_terms;
    bool has_time;
    game_term time;
    int *explore_vars;
    int n_explore_vars;
    float explore_reward;
    int explore_unless; /* variable index, -1 for none */
    game_done_node done;
    char (*rom_sha1_alt)[41]; /* further accepted hashes (stable-retro rom.sha lines) */
    int n_rom_sha1_alt;
};

int64_t game_apply_op(game_op op, int64_t reference, int64_t value);
const char *game_op_name(game_op op);

/* JSON helpers: every error reads "FILE: KEY: expected WHAT, found WHAT". */
gb_error *game_json_load(json_t **out, const char *file);
gb_error *game_key_error(const char *file, const char *key, const char *expected,
                         const json_t *found);
gb_error *game_missing_key(const char *file, const char *key, const char *expected);
gb_error *game_read_int(const char *file, const char *key, const json_t *v, int64_t min,
                        int64_t max, int64_t *out);
gb_error *game_read_number(const char *file, const char *key, const json_t *v, double *out);
gb_error *game_read_u32(const char *file, const char *key, const json_t *v, uint32_t *out);
gb_error *game_read_mask(const char *file, const char *key, const json_t *v, uint64_t *out);
/* Room for one size-byte element per item of a non-empty list (else "expected EXPECTED"), or
 * per entry of an object; NULL with *err set when it is neither, or out of memory. */
void *game_alloc_list(const char *file, const char *key, const json_t *list, const char *expected,
                      size_t size, gb_error **err);
void *game_alloc_entries(const char *file, const char *key, const json_t *obj, size_t size,
                         gb_error **err);
/* Item i of the list at key, a string (else "expected EXPECTED"); item_key gets "KEY[i]", which
 * names the item in the caller's own messages too. */
gb_error *game_list_string(const char *file, const char *key, const json_t *list, size_t i,
                           const char *expected, char *item_key, size_t key_size, const char **out);
gb_error *game_read_sha1(const char *file, const char *key, const char *text, char out[41]);
char *game_strdup(const char *s);
char *game_join(const char *dir, const char *name);
bool game_file_exists(const char *path);

/* Sections shared by game.json and data.json / scenario.json. strict: unknown keys are errors
 * (game.json); stable-retro files may carry keys gbfarm does not use. */
gb_error *game_parse_info(game_vars *gv, const char *file, const json_t *info, bool strict);
gb_error *game_parse_reward(game_vars *gv, const char *file, const char *info_file,
                            const json_t *reward, bool strict);
gb_error *game_parse_done(game_vars *gv, const char *file, const char *info_file,
                          const json_t *done, bool strict);
void game_vars_free(game_vars *gv);

gb_error *game_load_stable_retro(game_spec *spec, const char *dir);

#endif
