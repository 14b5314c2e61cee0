/* Recording env 0 as an animated GIF (giflib): one frame per call, exact colours when a frame
 * has at most 256 of them (every Game Boy picture), RGB 3-3-2 otherwise. */
#ifndef GBFARM_GIF_H
#define GBFARM_GIF_H

#include "gbfarm/core.h"
#include "gbfarm/error.h"

typedef struct gif_recorder gif_recorder;

/* delay_cs: display time of each frame, in hundredths of a second. */
gb_error *gif_open(gif_recorder **out, const char *path, unsigned width, unsigned height,
                   int delay_cs);
gb_error *gif_frame(gif_recorder *g, const core_frame *f);
gb_error *gif_close(gif_recorder *g); /* writes the trailer; NULL is fine */

#endif
