/* Input scripts: how start states are made without a display.
 *
 * One line per input: a button combo and a frame count, e.g.
 *     # walk right, then press A once
 *     RIGHT 16
 *     -     8        (no button)
 *     A+B   2
 * Buttons: A B SELECT START UP DOWN LEFT RIGHT L R X Y; '-' or NONE is no button. */
#ifndef GBFARM_SCRIPT_H
#define GBFARM_SCRIPT_H

#include <stdint.h>

#include "gbfarm/error.h"

typedef struct script_line {
    uint16_t buttons; /* mask of 1 << CORE_BUTTON_* */
    uint32_t frames;
} script_line;

typedef struct script {
    script_line *lines;
    int n_lines;
    uint64_t total_frames;
} script;

/* Parses text; `name` (the file) is used in error messages, which also give the line. */
gb_error *script_parse(script *out, const char *text, const char *name);
gb_error *script_load(script *out, const char *path);
void script_free(script *s);

typedef struct core core;
/* Plays the script on the core, frame by frame, and releases every button at the end. It
 * drives a core, so it is built with the envs (src/env/script.c), not with the parser. */
void script_play(const script *s, core *c);

/* "UP", "a", ... -> CORE_BUTTON_* bit index, or -1. */
int script_button(const char *name, int len);

#endif
