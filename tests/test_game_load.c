/* Loading game folders: every game.json key, defaults, stable-retro folders, the ROM check, and
 * one error per kind of bad input, each naming the file and the key. */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "gbfarm/game.h"

#define DIR "tests/data/games/"

static bool has(const char *s, const char *part)
{
    return s && part && strstr(s, part);
}

static void full_game_json(void)
{
    game_spec *s;
    REQUIRE_OK(game_load(&s, DIR "ok"));
    CHECK(!strcmp(s->name, "catch-test"));
    CHECK(s->platform == CORE_PLATFORM_GBC);
    CHECK(!strcmp(s->rom_sha1, "15b4f1134f2223b491e0e0ff2ae151376e84791c")); /* lower-cased */
    CHECK(s->rom && !strcmp(s->rom, DIR "ok/tiny.gb"));
    CHECK(!strcmp(s->core, "gambatte"));
    CHECK(s->n_core_options == 2);
    CHECK(s->n_core_options == 2 && !strcmp(s->core_options[1].key, "mgba_sgb_borders") &&
          !strcmp(s->core_options[1].value, "OFF"));
    CHECK(s->n_states == 2 && !strcmp(s->states[0], DIR "ok/start.state"));
    CHECK(s->n_actions == 5);
    if (s->n_actions == 5) {
        CHECK(s->actions[0] == 0);
        CHECK(s->actions[1] == 1 << CORE_BUTTON_UP);
        CHECK(s->actions[3] == ((1 << CORE_BUTTON_A) | (1 << CORE_BUTTON_B)));
        CHECK(s->actions[4] == ((1 << CORE_BUTTON_START) | (1 << CORE_BUTTON_SELECT) |
                                (1 << CORE_BUTTON_LEFT) | (1 << CORE_BUTTON_RIGHT)));
    }
    CHECK(s->frame_skip == 6 && s->press_frames == 2);
    CHECK(s->max_episode_steps == 1000 && s->noop_max == 30);
    CHECK(s->obs_stack == 3 && s->obs_downsample == 1);
    const game_follow *f = &s->obs_follow;
    CHECK(f->x == game_var_index(s, "player_x") && f->y == game_var_index(s, "lives"));
    CHECK(f->scale == 8 && f->offset_x == 4 && f->offset_y == -2);
    CHECK(f->width == 96 && f->height == 80);
    CHECK(game_var_count(s) == 4);
    CHECK(game_var_index(s, "score") == 0 && game_var_index(s, "flags") == 3); /* file order */
    CHECK(!strcmp(game_var_name(s, 1), "player_x"));
    CHECK(game_var_name(s, 4) == NULL);
    game_free(s);
}

static void defaults(void)
{
    game_spec *s;
    REQUIRE_OK(game_load(&s, DIR "minimal/"));
    CHECK(!strcmp(s->name, "minimal"));
    CHECK(s->platform == CORE_PLATFORM_GB);
    CHECK(s->rom_sha1[0] == '\0' && s->rom == NULL);
    CHECK(!strcmp(s->core, "mgba"));
    CHECK(s->n_core_options == 0);
    CHECK(s->frame_skip == 4 && s->press_frames == 4);
    CHECK(s->max_episode_steps == 0 && s->noop_max == 0);
    CHECK(s->obs_stack == 4 && s->obs_downsample == 2 && s->obs_follow.x == -1);
    CHECK(s->n_actions == 1 && s->actions[0] == 0);
    CHECK(game_var_count(s) == 0);
    game_free(s);
}

static void stable_retro(void)
{
    game_spec *s;
    REQUIRE_OK(game_load(&s, DIR "Fixture-Gb"));
    CHECK(!strcmp(s->name, "Fixture-Gb"));
    CHECK(s->platform == CORE_PLATFORM_GB);
    CHECK(!strcmp(s->core, "gambatte"));
    CHECK(!strcmp(s->rom_sha1, "15b4f1134f2223b491e0e0ff2ae151376e84791c"));
    CHECK(s->n_states == 1 && !strcmp(s->states[0], DIR "Fixture-Gb/Level1.state"));
    CHECK(s->n_actions == 9);                          /* no-op + 8 buttons */
    CHECK(s->frame_skip == 4 && s->press_frames == 4); /* buttons held the whole step */
    CHECK(game_var_count(s) == 4 && game_var_index(s, "timer") == 3);
    CHECK_OK(game_check_rom(s, DIR "ok/tiny.gb"));
    game_free(s);

    REQUIRE_OK(game_load(&s, DIR "Fixture-GameBoy")); /* stable-retro's own GB suffix */
    CHECK(s->platform == CORE_PLATFORM_GB && !strcmp(s->core, "gambatte"));
    CHECK(s->rom_sha1[0] == '\0'); /* no rom.sha */
    CHECK(s->n_states == 1 && has(s->states[0], "Start.state"));
    game_free(s);
    REQUIRE_OK(game_load(&s, DIR "Fixture-GbColor"));
    CHECK(s->platform == CORE_PLATFORM_GBC && !strcmp(s->core, "gambatte") && s->n_actions == 9);
    game_free(s);

    REQUIRE_OK(game_load(&s, DIR "Fixture-GbAdvance/"));
    CHECK(s->platform == CORE_PLATFORM_GBA);
    CHECK(!strcmp(s->core, "mgba"));
    CHECK(s->n_actions == 11 && s->actions[9] == 1 << CORE_BUTTON_L); /* + L, R */
    /* no metadata.json: every .state, in name order */
    CHECK(s->n_states == 2 && has(s->states[0], "a.state") && has(s->states[1], "b.state"));
    /* rom.sha lists two dumps: both pass */
    CHECK_OK(game_check_rom(s, DIR "ok/tiny.gb"));
    CHECK_OK(game_check_rom(s, DIR "ok/other.gb"));
    CHECK(game_var_count(s) == 1);
    game_free(s);
}

static void rom_check(void)
{
    game_spec *s;
    REQUIRE_OK(game_load(&s, DIR "ok"));
    CHECK_OK(game_check_rom(s, s->rom));
    char sha[41];
    CHECK_OK(game_sha1_file(DIR "ok/other.gb", sha));
    CHECK(!strcmp(sha, "14790c9a0328dd0d95baa0976bbbe168286e483b"));

    gb_error *err = game_check_rom(s, DIR "ok/other.gb");
    const char *m = gb_error_msg(err);
    CHECKF(err && has(m, "other.gb") && has(m, "14790c9a0328dd0d95baa0976bbbe168286e483b") &&
               has(m, "15b4f1134f2223b491e0e0ff2ae151376e84791c"),
           "%s", m);
    gb_error_free(err);

    err = game_check_rom(s, DIR "ok/missing.gb");
    CHECKF(err && has(gb_error_msg(err), "missing.gb"), "%s", gb_error_msg(err));
    gb_error_free(err);

    game_free(s);
    REQUIRE_OK(game_load(&s, DIR "minimal")); /* no sha1: any readable ROM passes */
    CHECK_OK(game_check_rom(s, DIR "ok/other.gb"));
    game_free(s);
}

/* Each folder must fail with a message holding every part. */
static const struct {
    const char *dir;
    const char *parts[3];
} bad[] = {
    {"nope", {"nope", "cannot open"}},
    {"bad/empty", {"bad/empty", "game.json", "data.json"}},
    {"bad/syntax", {"syntax/game.json:4:", "syntax error"}},
    {"bad/duplicate", {"duplicate/game.json:", "platform"}},
    {"bad/not-object", {"not-object/game.json", "object", "array"}},
    {"bad/missing-platform", {"missing-platform/game.json", "'platform'", "gba"}},
    {"bad/bad-platform", {"bad-platform/game.json", "platform", "\"nes\""}},
    {"bad/wrong-type", {"wrong-type/game.json", "frame_skip", "found string \"4\""}},
    {"bad/unknown-type", {"unknown-type/game.json", "info.score.type", "\"<q2\""}},
    {"bad/type-size", {"type-size/game.json", "info.score.type", "size 1..8"}},
    {"bad/unknown-button", {"unknown-button/game.json", "actions[1][0]", "\"JUMP\""}},
    {"bad/gb-shoulder", {"gb-shoulder/game.json", "actions[1][0]", "\"L\""}},
    {"bad/unknown-op", {"unknown-op/game.json", "done.variables.lives.op", "\"eq\""}},
    {"bad/press-frames", {"press-frames/game.json", "press_frames", "found 6"}},
    {"bad/reward-unknown-var",
     {"reward-unknown-var/game.json", "reward.variables.coins", "'coins'"}},
    {"bad/done-unknown-var", {"done-unknown-var/game.json", "done.variables.hp", "'hp'"}},
    {"bad/explore-unknown-var",
     {"explore-unknown-var/game.json", "reward.explore.variables[1]", "'y'"}},
    {"bad/explore-unless", {"explore-unless/game.json", "reward.explore.unless", "'in_battle'"}},
    {"bad/state-missing", {"state-missing/game.json", "states[0]", "nowhere.state"}},
    {"bad/missing-states", {"missing-states/game.json", "'states'"}},
    {"bad/bad-sha1", {"bad-sha1/game.json", "rom_sha1", "\"12345\""}},
    {"bad/unknown-key", {"unknown-key/game.json", "frameskip", "unknown key"}},
    {"bad/bits-no-end", {"bits-no-end/game.json", "info.flags.end"}},
    {"bad/bad-address", {"bad-address/game.json", "info.x.address", "\"0xZZ\""}},
    {"bad/missing-address", {"missing-address/game.json", "info.x.address"}},
    {"bad/bad-measurement",
     {"bad-measurement/game.json", "reward.variables.x.measurement", "\"total\""}},
    {"bad/bad-condition", {"bad-condition/game.json", "done.condition", "\"most\""}},
    {"bad/downsample", {"downsample/game.json", "observation.downsample", "found integer 3"}},
    {"bad/obs-no-range", {"obs-no-range/game.json", "observation.vars[1] (y)", "\"range\""}},
    {"bad/obs-bad-range", {"obs-bad-range/game.json", "observation.vars[0]", "lo < hi"}},
    {"bad/obs-bad-type", {"obs-bad-type/game.json", "observation.type", "\"pixels\""}},
    {"bad/obs-no-vars", {"obs-no-vars/game.json", "screen+vars", "no observation.vars"}},
    {"bad/follow-var", {"follow-var/game.json", "observation.follow.y", "\"row\""}},
    {"bad/follow-size", {"follow-size/game.json", "observation.follow.size", "[98, 96]"}},
    {"bad/follow-key", {"follow-key/game.json", "observation.follow.offset", "a pair of integers"}},
    {"bad/train-key", {"train-key/game.json", "train.learning_rate", "unknown key"}},
    {"bad/train-type", {"train-type/game.json", "train.envs-per-core", "0.5"}},
    {"bad/train-switch",
     {"train-switch/game.json", "train.ent-anneal", "expected true, found integer 1"}},
    {"bad/archive-var", {"archive-var/game.json", "archive.key[1]", "\"room\""}},
    {"bad/archive-p", {"archive-p/game.json", "archive.p_start", "1.5"}},
    {"bad/archive-select", {"archive-select/game.json", "archive.select", "\"newest\""}},
    {"bad/archive-survive", {"archive-survive/game.json", "archive.survive", "-4"}},
    {"bad/archive-patience", {"archive-patience/game.json", "archive.patience", "\"often\""}},
    {"bad/archive-score-weight", {"archive-score-weight/game.json", "archive.score.hp", "0.5"}},
    {"bad/archive-score-var",
     {"archive-score-var/game.json", "archive.score.health", "unknown variable 'health'"}},
    {"bad/archive-key", {"archive-key/game.json", "archive.cell", "unknown key"}},
    {"bad/empty-actions", {"empty-actions/game.json", "actions", "[]"}},
    {"bad/reward-not-number",
     {"reward-not-number/game.json", "reward.variables.x.reward", "\"lots\""}},
    {"bad/NoSuffix", {"NoSuffix", "-GbAdvance"}},
    {"bad/BadSha-Gb", {"BadSha-Gb/rom.sha", "line 1", "\"not-a-sha\""}},
    {"bad/NoInfo-Gb", {"NoInfo-Gb/data.json", "'info'"}},
    {"bad/BadScenario-Gb", {"BadScenario-Gb/scenario.json", "reward.variables.nope", "data.json"}},
    {"bad/BadDefault-Gb", {"BadDefault-Gb/metadata.json", "default_state", "Missing.state"}},
    {"bad/NoState-Gb", {"NoState-Gb", "start state"}},
    {"bad/Script-Gb", {"Script-Gb/scenario.json", "reward.script", "Lua"}},
};

static void bad_inputs(void)
{
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char dir[256];
        snprintf(dir, sizeof dir, DIR "%s", bad[i].dir);
        game_spec *s = (game_spec *)1;
        gb_error *err = game_load(&s, dir);
        CHECKF(err != NULL, "%s loaded", dir);
        CHECK(s == NULL);
        const char *m = gb_error_msg(err);
        CHECKF(!strchr(m, '\n'), "%s: not one line: %s", dir, m);
        for (int k = 0; k < 3 && bad[i].parts[k]; k++)
            CHECKF(has(m, bad[i].parts[k]), "%s: \"%s\" not in: %s", dir, bad[i].parts[k], m);
        gb_error_free(err);
    }
}

/* The example in docs/game-format.md must load: the doc stays true. */
static void doc_example(void)
{
    FILE *f = fopen("docs/game-format.md", "rb");
    if (!f) {
        CHECKF(false, "docs/game-format.md not found (run from the repo root)");
        return;
    }
    static char doc[1 << 16];
    size_t n = fread(doc, 1, sizeof doc - 1, f);
    fclose(f);
    doc[n] = '\0';
    char *start = strstr(doc, "```json\n");
    char *end = start ? strstr(start + 8, "```") : NULL;
    REQUIRE(start && end);
    start += 8;
    char dir[] = "/tmp/gbfarm-doc-XXXXXX";
    REQUIRE(mkdtemp(dir));
    char path[256];
    snprintf(path, sizeof path, "%s/game.json", dir);
    FILE *g = fopen(path, "wb");
    REQUIRE(g);
    fwrite(start, 1, (size_t)(end - start), g);
    fclose(g);
    char state[256];
    snprintf(state, sizeof state, "%s/start.state", dir);
    g = fopen(state, "wb");
    REQUIRE(g);
    fclose(g);
    game_spec *s = NULL;
    CHECK_OK(game_load(&s, dir));
    remove(state);
    remove(path);
    rmdir(dir);
    if (s) game_free(s);
}

int main(void)
{
    doc_example();
    full_game_json();
    defaults();
    stable_retro();
    rom_check();
    bad_inputs();
    return check_summary();
}
