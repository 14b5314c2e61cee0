/* Making start states headlessly: `gbfarm state` plays an input script on the bundled game
 * from power-on and saves a state whose RAM holds what the script did — twice the same — and
 * the state loads back into an env. */
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "check.h"
#include "gbfarm/env_retro.h"
#include "gbfarm/state.h"

static char tmp[64];

/* Runs gbfarm state with the script, returns the --print output in out. */
static int make_state(const char *script_path, const char *out_path, char *out, size_t cap)
{
    char cmd[1024], log[128];
    snprintf(log, sizeof log, "%s/print.txt", tmp);
    snprintf(cmd, sizeof cmd,
             "%s state --game states/catch-gb --script %s --out %s --print >%s 2>&1", GBFARM_BIN,
             script_path, out_path, log);
    int status = system(cmd);
    FILE *f = fopen(log, "r");
    size_t n = f ? fread(out, 1, cap - 1, f) : 0;
    out[n] = '\0';
    if (f) fclose(f);
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128;
}

static long value(const char *text, const char *name)
{
    char key[64];
    snprintf(key, sizeof key, "\n%s=", name);
    const char *p = strstr(text, key);
    return p ? strtol(p + strlen(key), NULL, 10) : -1;
}

int main(void)
{
    snprintf(tmp, sizeof tmp, "/tmp/gbfarm-state-XXXXXX");
    REQUIRE(mkdtemp(tmp));
    char script[256], a[256], b[256], out[8192];
    snprintf(script, sizeof script, "%s/walk.txt", tmp);
    FILE *f = fopen(script, "w");
    REQUIRE(f);
    /* One second of boot, three presses RIGHT and one DOWN (press 2 frames, release 2). */
    fputs("# walk from (4,4) to (7,5)\n- 60\n", f);
    for (int i = 0; i < 3; i++) fputs("RIGHT 2\n- 2\n", f);
    fputs("DOWN 2\n- 2\n", f);
    fclose(f);

    snprintf(a, sizeof a, "%s/a.state", tmp);
    snprintf(b, sizeof b, "%s/b.state", tmp);
    CHECKF(make_state(script, a, out, sizeof out) == 0, "%s", out);
    CHECKF(value(out, "player_x") == 7 && value(out, "player_y") == 5, "%s", out);
    CHECK(value(out, "moves") == 4 && value(out, "game_over") == 0 && value(out, "score") == 0);
    CHECK(value(out, "frames") >= 50 && value(out, "frames") <= 76);
    CHECK(make_state(script, b, out, sizeof out) == 0);

    /* The same script gives the same state. Gambatte stores the wall clock's second in a
     * state (for cartridges with a clock), so two states made a second apart differ in a few
     * bytes; everything else is the same, and the two play the same game. */
    uint8_t *sa, *sb;
    size_t na, nb;
    REQUIRE_OK(state_read(a, &sa, &na));
    REQUIRE_OK(state_read(b, &sb, &nb));
    size_t differ = 0;
    for (size_t i = 0; na == nb && i < na; i++) differ += sa[i] != sb[i];
    CHECKF(na == nb && differ <= 4, "%zu and %zu bytes, %zu of them differ", na, nb, differ);
    free(sa);
    free(sb);

    /* Each state is a start state: an env starting from it has the player at (7,5). From
     * both, the same actions give the same screens and RAM variables, step for step. */
    game_spec *g;
    REQUIRE_OK(game_load(&g, "states/catch-gb"));
    env *e[2];
    uint8_t *obs[2];
    for (int k = 0; k < 2; k++) {
        free(g->states[0]);
        g->states[0] = strdup(k ? b : a);
        g->noop_max = 0;
        char so[4096];
        REQUIRE_OK(core_find(g->core, so, sizeof so));
        env_retro_config cfg = {g, so, g->rom, NULL, 0, NULL, 1, 0, NULL};
        REQUIRE_OK(env_retro_create(&e[k], &cfg));
        obs[k] = malloc(env_obs_bytes(&e[k]->spec));
        REQUIRE(obs[k]);
        e[k]->obs = obs[k];
        REQUIRE_OK(env_reset(e[k]));
        CHECK(game_value(env_retro_binding(e[k]), game_var_index(g, "player_x")) == 7);
        CHECK(game_value(env_retro_binding(e[k]), game_var_index(g, "player_y")) == 5);
    }
    int same = 1;
    for (int step = 0; step < 300 && same; step++) {
        int action = (step * 7 + step / 5) % 5;
        for (int k = 0; k < 2; k++) CHECK_OK(env_step(e[k], action));
        same &= !memcmp(obs[0], obs[1], env_obs_bytes(&e[0]->spec));
        for (int v = 0; v < game_var_count(g); v++)
            same &=
                game_value(env_retro_binding(e[0]), v) == game_value(env_retro_binding(e[1]), v);
    }
    CHECK(same);
    for (int k = 0; k < 2; k++) env_close(e[k]), free(obs[k]);
    game_free(g);

    /* A script with a typo names its line. */
    f = fopen(script, "w");
    fputs("- 60\nRIGTH 2\n", f);
    fclose(f);
    CHECK(make_state(script, a, out, sizeof out) == 1 && strstr(out, "walk.txt:2") &&
          strstr(out, "RIGTH"));

    snprintf(out, sizeof out, "rm -rf %s", tmp);
    CHECK(system(out) == 0);
    return check_summary();
}
