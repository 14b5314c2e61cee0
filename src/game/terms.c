/* The info (variables), reward and done sections, shared by game.json and stable-retro's
 * data.json / scenario.json, with stable-retro's defaults: reward terms measure the delta,
 * done terms the absolute value; no op passes the value through. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vars.h"

static const char *const op_names[] = {
    [OP_NONE] = "",
    [OP_EQUAL] = "equal",
    [OP_NEGATIVE_EQUAL] = "negative-equal",
    [OP_NOT_EQUAL] = "not-equal",
    [OP_LESS_THAN] = "less-than",
    [OP_GREATER_THAN] = "greater-than",
    [OP_LESS_OR_EQUAL] = "less-or-equal",
    [OP_GREATER_OR_EQUAL] = "greater-or-equal",
    [OP_NONZERO] = "nonzero",
    [OP_ZERO] = "zero",
    [OP_POSITIVE] = "positive",
    [OP_NEGATIVE] = "negative",
    [OP_SIGN] = "sign",
};
static const char op_expected[] =
    "one of equal, negative-equal, not-equal, less-than, greater-than, less-or-equal, "
    "greater-or-equal, nonzero, zero, positive, negative, sign";

const char *game_op_name(game_op op)
{
    return op_names[op];
}

int64_t game_apply_op(game_op op, int64_t reference, int64_t value)
{
    switch (op) {
    case OP_NONE:
        return value;
    case OP_EQUAL:
        return value == reference;
    case OP_NEGATIVE_EQUAL:
        return value == -reference;
    case OP_NOT_EQUAL:
        return value != reference;
    case OP_LESS_THAN:
        return value < reference;
    case OP_GREATER_THAN:
        return value > reference;
    case OP_LESS_OR_EQUAL:
        return value <= reference;
    case OP_GREATER_OR_EQUAL:
        return value >= reference;
    case OP_NONZERO:
        return value != 0;
    case OP_ZERO:
        return value == 0;
    case OP_POSITIVE:
        return value > 0;
    case OP_NEGATIVE:
        return value < 0;
    case OP_SIGN:
        return value < 0 ? -1 : value > 0;
    }
    return 0;
}

/* A section must be an object, and (strict) hold only the allowed keys: unknown keys are typos
 * in game.json, so the error says which keys are allowed. */
static gb_error *check_object(const char *file, const char *where, const json_t *obj,
                              const char *const *allowed, bool strict)
{
    if (!json_is_object(obj)) return game_key_error(file, where, "an object", obj);
    if (!strict) return NULL;
    const char *key;
    json_t *v;
    json_object_foreach((json_t *)obj, key, v)
    {
        bool ok = key[0] == '_'; /* "_comment" and friends */
        for (int i = 0; !ok && allowed[i]; i++) ok = !strcmp(key, allowed[i]);
        if (!ok) {
            char list[256] = "";
            for (int i = 0; allowed[i]; i++)
                snprintf(list + strlen(list), sizeof list - strlen(list), "%s%s", i ? ", " : "",
                         allowed[i]);
            return gb_errorf("%s: %s%s%s: unknown key (expected one of: %s)", file, where,
                             where[0] ? "." : "", key, list);
        }
    }
    return NULL;
}

static int var_index(const game_vars *gv, const char *name)
{
    for (int i = 0; i < gv->n_vars; i++)
        if (!strcmp(gv->vars[i].name, name)) return i;
    return -1;
}

static gb_error *find_var(const game_vars *gv, const char *file, const char *key,
                          const char *info_file, const char *name, int *out)
{
    *out = var_index(gv, name);
    if (*out < 0)
        return gb_errorf("%s: %s: expected a variable defined in 'info' of %s, found unknown "
                         "variable '%s'",
                         file, key, info_file, name);
    return NULL;
}

/* "xor": the name of a key variable (it may come later in the file, so this runs once all are
 * read). A key is read as it is: one with its own xor is an error, which also rules out cycles. */
static gb_error *read_xor(game_vars *gv, const char *file, const json_t *info, const char *name,
                          game_var *v)
{
    const json_t *x = json_object_get(json_object_get(info, name), "xor");
    if (!x) return NULL;
    char key[320];
    snprintf(key, sizeof key, "info.%s.xor", name);
    if (!json_is_string(x)) return game_key_error(file, key, "the name of a variable in info", x);
    const char *key_name = json_string_value(x);
    GB_TRY(find_var(gv, file, key, file, key_name, &v->xor_var));
    if (json_object_get(json_object_get(info, key_name), "xor"))
        return gb_errorf("%s: %s: expected a key variable without an xor of its own, found "
                         "'%s', which has one",
                         file, key, key_name);
    return NULL;
}

/* Either a fixed address, or a pointer (its own bus address) plus an offset. */
static gb_error *read_var_place(const char *file, const char *key, const json_t *obj, game_var *v)
{
    char sub[352];
    const json_t *address = json_object_get(obj, "address");
    const json_t *pointer = json_object_get(obj, "pointer");
    const json_t *offset = json_object_get(obj, "offset");
    if (address && pointer)
        return gb_errorf("%s: %s: expected either \"address\" or \"pointer\", found both", file,
                         key);
    if (pointer) {
        snprintf(sub, sizeof sub, "%s.pointer", key);
        GB_TRY(game_read_u32(file, sub, pointer, &v->address));
        if ((uint64_t)v->address + 4 > (uint64_t)UINT32_MAX + 1)
            return gb_errorf("%s: %s: expected a 4-byte pointer below 2^32, found address 0x%X",
                             file, sub, v->address);
        v->pointer = true;
        if (offset) {
            snprintf(sub, sizeof sub, "%s.offset", key);
            GB_TRY(game_read_u32(file, sub, offset, &v->offset));
        }
        return NULL;
    }
    snprintf(sub, sizeof sub, "%s.address", key);
    if (!address)
        return game_missing_key(file, sub,
                                "the variable's bus address (or \"pointer\" and \"offset\")");
    GB_TRY(game_read_u32(file, sub, address, &v->address));
    if (offset)
        return gb_errorf("%s: %s.offset: expected no offset (only pointer variables have "
                         "one), found one",
                         file, key);
    return NULL;
}

/* A "bits" range: the bytes from the variable's start to its "end" (exclusive), no mask. */
static gb_error *read_bits_range(const char *file, const char *key, const json_t *obj,
                                 uint32_t start, const char *start_name, game_var *v)
{
    char sub[352];
    const json_t *end = json_object_get(obj, "end");
    snprintf(sub, sizeof sub, "%s.end", key);
    if (!end)
        return game_missing_key(file, sub,
                                v->pointer ? "the range's end offset (exclusive)"
                                           : "the range's end address (exclusive)");
    uint32_t e;
    GB_TRY(game_read_u32(file, sub, end, &e));
    if (e <= start || e - start > (1u << 20))
        return gb_errorf("%s: %s: expected an end %s above %s 0x%X and at most "
                         "1 MiB past it, found 0x%X",
                         file, sub, start_name, start_name, start, e);
    if (json_object_get(obj, "mask"))
        return gb_errorf("%s: %s.mask: expected no mask on a \"bits\" range, found one", file, key);
    v->bits = true;
    v->length = e - start;
    return NULL;
}

/* A value of a type ("|u1", "<u2", ...) at the variable's start, with an optional mask. */
static gb_error *read_value_type(const char *file, const char *key, const json_t *obj,
                                 const char *type, uint32_t start, const char *start_name,
                                 game_var *v)
{
    char sub[352];
    snprintf(sub, sizeof sub, "%s.type", key);
    gb_error *err = game_parse_type(type, &v->type);
    if (err) return gb_error_wrap(err, "%s: %s", file, sub);
    if (json_object_get(obj, "end"))
        return gb_errorf("%s: %s.end: expected no end address (only \"bits\" ranges have "
                         "one), found one with type \"%s\"",
                         file, key, type);
    v->length = v->type.size;
    if ((uint64_t)start + v->length > (uint64_t)UINT32_MAX + 1)
        return gb_errorf("%s: %s.%s: expected %u bytes to fit below 2^32, found "
                         "%s 0x%X",
                         file, key, start_name, v->length, start_name, start);
    const json_t *mask = json_object_get(obj, "mask");
    if (mask) {
        snprintf(sub, sizeof sub, "%s.mask", key);
        GB_TRY(game_read_mask(file, sub, mask, &v->mask));
    }
    return NULL;
}

/* info.NAME: where the variable is, then what it is ("type"). */
static gb_error *read_var(const char *file, const char *name, const json_t *obj, bool strict,
                          game_var *v)
{
    static const char *const allowed[] = {"address", "pointer", "offset", "type",
                                          "mask",    "end",     "xor",    NULL};
    char key[320], sub[352];
    snprintf(key, sizeof key, "info.%s", name);
    GB_TRY(check_object(file, key, obj, allowed, strict));
    v->mask = UINT64_MAX;
    v->xor_var = -1;
    GB_TRY(read_var_place(file, key, obj, v));
    /* where the value starts: an address, or for a pointer variable an offset */
    uint32_t start = v->pointer ? v->offset : v->address;
    const char *start_name = v->pointer ? "offset" : "address";

    const json_t *type = json_object_get(obj, "type");
    snprintf(sub, sizeof sub, "%s.type", key);
    if (!type) return game_missing_key(file, sub, "a type string such as \"|u1\" or \"bits\"");
    if (!json_is_string(type))
        return game_key_error(file, sub, "a type string such as \"|u1\" or \"bits\"", type);
    if (!strcmp(json_string_value(type), "bits"))
        GB_TRY(read_bits_range(file, key, obj, start, start_name, v));
    else
        GB_TRY(read_value_type(file, key, obj, json_string_value(type), start, start_name, v));
    v->name = game_strdup(name);
    return v->name ? NULL : gb_errorf("%s: out of memory", file);
}

gb_error *game_parse_info(game_vars *gv, const char *file, const json_t *info, bool strict)
{
    gb_error *err;
    if (!(gv->vars = game_alloc_entries(file, "info", info, sizeof *gv->vars, &err))) return err;
    const char *name;
    json_t *obj;
    json_object_foreach((json_t *)info, name, obj)
    {
        GB_TRY(read_var(file, name, obj, strict, &gv->vars[gv->n_vars]));
        gv->n_vars++;
    }
    for (int i = 0; i < gv->n_vars; i++)
        GB_TRY(read_xor(gv, file, info, gv->vars[i].name, &gv->vars[i]));
    return NULL;
}

/* KEY.NAME when present: one of n words (else "expected EXPECTED"); *index is its place in
 * words, left as it is when absent. */
static gb_error *read_word(const char *file, const char *key, const json_t *obj, const char *name,
                           const char *const *words, int n, const char *expected, int *index)
{
    const json_t *v = json_object_get(obj, name);
    if (!v) return NULL;
    const char *s = json_is_string(v) ? json_string_value(v) : "";
    for (int i = 0; i < n; i++)
        if (!strcmp(s, words[i])) {
            *index = i;
            return NULL;
        }
    char sub[400];
    snprintf(sub, sizeof sub, "%s.%s", key, name);
    return game_key_error(file, sub, expected, v);
}

/* measurement, op, reference and (reward terms) reward / penalty of one term. */
static gb_error *parse_term(const char *file, const char *key, const json_t *obj, bool reward,
                            bool strict, game_term *t)
{
    static const char *const reward_keys[] = {"measurement", "op",      "reference",
                                              "reward",      "penalty", NULL};
    static const char *const done_keys[] = {"measurement", "op", "reference", NULL};
    static const char *const measurements[] = {"absolute", "delta"};
    char sub[400];
    GB_TRY(check_object(file, key, obj, reward ? reward_keys : done_keys, strict));
    int delta = reward, op = (int)t->op - OP_EQUAL; /* op: its place in op_names after OP_NONE */
    GB_TRY(read_word(file, key, obj, "measurement", measurements, 2, "\"delta\" or \"absolute\"",
                     &delta));
    GB_TRY(read_word(file, key, obj, "op", op_names + OP_EQUAL, OP_SIGN - OP_EQUAL + 1, op_expected,
                     &op));
    t->delta = delta;
    t->op = (game_op)(OP_EQUAL + op);
    const json_t *ref = json_object_get(obj, "reference");
    if (ref) {
        snprintf(sub, sizeof sub, "%s.reference", key);
        GB_TRY(game_read_int(file, sub, ref, INT64_MIN, INT64_MAX, &t->reference));
    }
    if (reward) {
        double x;
        const json_t *r = json_object_get(obj, "reward");
        if (r) {
            snprintf(sub, sizeof sub, "%s.reward", key);
            GB_TRY(game_read_number(file, sub, r, &x));
            t->reward = (float)x;
        }
        const json_t *p = json_object_get(obj, "penalty");
        if (p) {
            snprintf(sub, sizeof sub, "%s.penalty", key);
            GB_TRY(game_read_number(file, sub, p, &x));
            t->penalty = (float)x;
        }
    }
    return NULL;
}

/* KEY (reward.variables, or a done node's variables): a term per entry, named by the info
 * variable it measures. */
static gb_error *parse_terms(game_vars *gv, const char *file, const char *info_file,
                             const char *key, const json_t *vars, bool reward, bool strict,
                             game_term **terms, int *n_terms)
{
    gb_error *err;
    if (!(*terms = game_alloc_entries(file, key, vars, sizeof **terms, &err))) return err;
    const char *name;
    json_t *obj;
    json_object_foreach((json_t *)vars, name, obj)
    {
        char sub[400];
        snprintf(sub, sizeof sub, "%s.%s", key, name);
        game_term *t = &(*terms)[*n_terms];
        GB_TRY(find_var(gv, file, sub, info_file, name, &t->var));
        GB_TRY(parse_term(file, sub, obj, reward, strict, t));
        (*n_terms)++;
    }
    return NULL;
}

static gb_error *no_script(const char *file, const char *where, const json_t *obj)
{
    const json_t *s = json_object_get(obj, "script");
    if (!s) return NULL;
    return gb_errorf("%s: %s.script: expected reward and done terms, found a Lua script "
                     "(gbfarm does not run stable-retro scripts)",
                     file, where);
}

static gb_error *parse_explore(game_vars *gv, const char *file, const char *info_file,
                               const json_t *obj, bool strict)
{
    static const char *const allowed[] = {"variables", "reward", "unless", NULL};
    GB_TRY(check_object(file, "reward.explore", obj, allowed, strict));
    const json_t *vars = json_object_get(obj, "variables");
    if (!vars) return game_missing_key(file, "reward.explore.variables", "a list of variables");
    gb_error *err;
    gv->explore_vars =
        game_alloc_list(file, "reward.explore.variables", vars,
                        "a non-empty list of variable names", sizeof *gv->explore_vars, &err);
    if (!gv->explore_vars) return err;
    for (size_t i = 0; i < json_array_size(vars); i++) {
        char key[64];
        const char *name;
        GB_TRY(game_list_string(file, "reward.explore.variables", vars, i, "a variable name", key,
                                sizeof key, &name));
        GB_TRY(find_var(gv, file, key, info_file, name, &gv->explore_vars[gv->n_explore_vars]));
        gv->n_explore_vars++;
    }
    const json_t *r = json_object_get(obj, "reward");
    if (!r) return game_missing_key(file, "reward.explore.reward", "the bonus per new tuple");
    double x;
    GB_TRY(game_read_number(file, "reward.explore.reward", r, &x));
    gv->explore_reward = (float)x;
    const json_t *unless = json_object_get(obj, "unless");
    if (unless) {
        if (!json_is_string(unless))
            return game_key_error(file, "reward.explore.unless", "a variable name", unless);
        GB_TRY(find_var(gv, file, "reward.explore.unless", info_file, json_string_value(unless),
                        &gv->explore_unless));
    }
    return NULL;
}

gb_error *game_parse_reward(game_vars *gv, const char *file, const char *info_file,
                            const json_t *reward, bool strict)
{
    static const char *const allowed[] = {"variables", "time", "explore", NULL};
    GB_TRY(check_object(file, "reward", reward, allowed, strict));
    GB_TRY(no_script(file, "reward", reward));
    const json_t *vars = json_object_get(reward, "variables");
    if (vars)
        GB_TRY(parse_terms(gv, file, info_file, "reward.variables", vars, true, strict,
                           &gv->reward_terms, &gv->n_reward_terms));
    const json_t *time = json_object_get(reward, "time");
    if (time) {
        GB_TRY(parse_term(file, "reward.time", time, true, strict, &gv->time));
        gv->time.var = -1;
        gv->has_time = true;
    }
    const json_t *explore = json_object_get(reward, "explore");
    if (explore) GB_TRY(parse_explore(gv, file, info_file, explore, strict));
    return NULL;
}

static gb_error *parse_node(game_vars *gv, const char *file, const char *info_file,
                            const char *where, const json_t *obj, bool strict, game_done_node *node)
{
    static const char *const allowed[] = {"condition", "variables", "nodes", NULL};
    static const char *const conditions[] = {"any", "all"};
    GB_TRY(check_object(file, where, obj, allowed, strict));
    GB_TRY(no_script(file, where, obj));
    int all = node->all;
    GB_TRY(read_word(file, where, obj, "condition", conditions, 2, "\"any\" or \"all\"", &all));
    node->all = all;
    char key[400];
    const json_t *vars = json_object_get(obj, "variables");
    if (vars) {
        snprintf(key, sizeof key, "%s.variables", where);
        GB_TRY(parse_terms(gv, file, info_file, key, vars, false, strict, &node->terms,
                           &node->n_terms));
    }
    const json_t *nodes = json_object_get(obj, "nodes");
    if (nodes) {
        snprintf(key, sizeof key, "%s.nodes", where);
        gb_error *err;
        if (!(node->nodes = game_alloc_entries(file, key, nodes, sizeof *node->nodes, &err)))
            return err;
        const char *name;
        json_t *sub;
        json_object_foreach((json_t *)nodes, name, sub)
        {
            snprintf(key, sizeof key, "%s.nodes.%s", where, name);
            game_done_node *child = &node->nodes[node->n_nodes++];
            GB_TRY(parse_node(gv, file, info_file, key, sub, strict, child));
        }
    }
    /* stable-retro calls an empty "all" node done at every step; that is never meant. */
    if (node->all && node->n_terms == 0 && node->n_nodes == 0)
        return gb_errorf("%s: %s.condition: expected \"all\" over at least one variable or node, "
                         "found none",
                         file, where);
    return NULL;
}

gb_error *game_parse_done(game_vars *gv, const char *file, const char *info_file,
                          const json_t *done, bool strict)
{
    return parse_node(gv, file, info_file, "done", done, strict, &gv->done);
}

static void free_node(game_done_node *node)
{
    for (int i = 0; i < node->n_nodes; i++) free_node(&node->nodes[i]);
    free(node->nodes);
    free(node->terms);
}

void game_vars_free(game_vars *gv)
{
    if (!gv) return;
    for (int i = 0; i < gv->n_vars; i++) free(gv->vars[i].name);
    free(gv->vars);
    free(gv->info_file);
    free(gv->reward_terms);
    free(gv->explore_vars);
    free_node(&gv->done);
    free(gv->rom_sha1_alt);
    free(gv);
}
