/* Input script playback: the part of scripts that drives a core, beside the env that plays
 * start scripts (the parser, a file format, is src/io/script.c). */
#include "gbfarm/script.h"

#include "gbfarm/core.h"

void script_play(const script *s, core *c)
{
    for (int i = 0; i < s->n_lines; i++) {
        core_set_buttons(c, s->lines[i].buttons);
        for (uint32_t k = 0; k < s->lines[i].frames; k++) core_run(c, false);
    }
    core_set_buttons(c, 0);
}
