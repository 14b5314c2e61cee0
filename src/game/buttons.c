/* Joypad button names, one table for game.json, input scripts and the viewer. */
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "gbfarm/game.h"

static const struct {
    const char *name;
    int bit;
} buttons[] = {
    /* In display order: face buttons, shoulders, START, SELECT, then the d-pad. */
    {"A", CORE_BUTTON_A},         {"B", CORE_BUTTON_B},           {"X", CORE_BUTTON_X},
    {"Y", CORE_BUTTON_Y},         {"L", CORE_BUTTON_L},           {"R", CORE_BUTTON_R},
    {"START", CORE_BUTTON_START}, {"SELECT", CORE_BUTTON_SELECT}, {"UP", CORE_BUTTON_UP},
    {"DOWN", CORE_BUTTON_DOWN},   {"LEFT", CORE_BUTTON_LEFT},     {"RIGHT", CORE_BUTTON_RIGHT},
};

int game_button_bit(const char *name, size_t len, bool any_case)
{
    for (size_t i = 0; i < sizeof buttons / sizeof buttons[0]; i++)
        if (strlen(buttons[i].name) == len &&
            !(any_case ? strncasecmp : strncmp)(buttons[i].name, name, len))
            return buttons[i].bit;
    return -1;
}

void game_buttons_name(uint16_t mask, char *out, size_t size)
{
    size_t n = 0;
    out[0] = '\0';
    for (size_t i = 0; i < sizeof buttons / sizeof buttons[0]; i++)
        if (mask & (1u << buttons[i].bit))
            n += (size_t)snprintf(out + n, n < size ? size - n : 0, "%s%s", n ? "+" : "",
                                  buttons[i].name);
    if (!n) snprintf(out, size, "-");
}
