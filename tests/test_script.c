/* Input scripts parse to button masks and frame counts; mistakes name the file and line. */
#include <string.h>

#include "check.h"
#include "gbfarm/game.h"
#include "gbfarm/script.h"

static void expect_error(const char *text, const char *fragment)
{
    script s;
    gb_error *err = script_parse(&s, text, "walk.txt");
    CHECKF(err != NULL, "no error for: %s", text);
    if (err)
        CHECKF(strstr(gb_error_msg(err), fragment) != NULL, "expected '%s' in: %s", fragment,
               gb_error_msg(err));
    gb_error_free(err);
}

int main(void)
{
    script s;
    CHECK_OK(script_parse(&s,
                          "# boot, then walk\n"
                          "- 60\n"
                          "\n"
                          "RIGHT 16   # a cell\n"
                          "a+b 2\n"
                          "  START   1\n"
                          "NONE 3",
                          "walk.txt"));
    CHECK(s.n_lines == 5);
    CHECK(s.total_frames == 60 + 16 + 2 + 1 + 3);
    CHECK(s.lines[0].buttons == 0 && s.lines[0].frames == 60);
    CHECK(s.lines[1].buttons == 1u << CORE_BUTTON_RIGHT && s.lines[1].frames == 16);
    CHECK(s.lines[2].buttons == ((1u << CORE_BUTTON_A) | (1u << CORE_BUTTON_B)));
    CHECK(s.lines[3].buttons == 1u << CORE_BUTTON_START);
    CHECK(s.lines[4].buttons == 0);
    script_free(&s);

    expect_error("RIGHT 16\nJUMP 4\n", "walk.txt:2: unknown button 'JUMP'");
    expect_error("RIGHT\n", "walk.txt:1: expected 'BUTTONS FRAMES'");
    expect_error("RIGHT 0\n", "walk.txt:1:");
    expect_error("RIGHT 4 5\n", "walk.txt:1:");
    expect_error("A++B 4\n", "unknown button");
    return check_summary();
}
