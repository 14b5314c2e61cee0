/* The viewer when gbfarm is built without SDL2: every entry point says so. */
#include "gbfarm/viewer.h"

#ifndef GBFARM_HAVE_SDL2

#include <stddef.h>
#include <string.h>

#define NO_SDL2                                                                                    \
    "gbfarm was built without SDL2: --visualize and play need it (apt-get install libsdl2-dev, "   \
    "rebuild)"

bool viewer_available(void)
{
    return false;
}

gb_error *viewer_check_display(void)
{
    return gb_errorf(NO_SDL2);
}

gb_error *viewer_open(viewer **out, const viewer_config *cfg)
{
    *out = NULL;
    return gb_errorf(NO_SDL2);
}

void viewer_frame(viewer *v, const core_frame *f, const viewer_overlay *o, viewer_events *ev)
{
    memset(ev, 0, sizeof *ev);
    ev->closed = true;
}

gb_error *viewer_read_rgb(viewer *v, uint8_t **rgb, int *width, int *height)
{
    *rgb = NULL;
    return gb_errorf(NO_SDL2);
}

void viewer_close(viewer *v) {}

#endif
