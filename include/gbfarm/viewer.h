/* The viewer: one optional SDL2 window that shows environment 0's screen.
 *
 * Threading: SDL is initialised by viewer_open and used only from the thread that called it;
 * every viewer_* call on a viewer must come from that same thread (during training, env 0's
 * worker thread; in `gbfarm play`, the main thread). SDL_Init off the main thread works on
 * Linux with the X11, offscreen and dummy video drivers. Only one viewer may be open per
 * process (SDL's video subsystem is process-wide).
 *
 * The viewer draws the frame the env already captured (core_frame_get): it never runs the
 * core itself, so the other envs and env 0's results are unchanged by watching. When gbfarm
 * is built without SDL2, viewer_open returns an error saying so. */
#ifndef GBFARM_VIEWER_H
#define GBFARM_VIEWER_H

#include <stdbool.h>
#include <stdint.h>

#include "gbfarm/core.h"
#include "gbfarm/error.h"

typedef struct viewer viewer;

typedef struct viewer_config {
    const char *title; /* window title prefix, e.g. "gbfarm catch-gb env 0" */
    int width, height; /* the native screen: 160x144 (GB) or 240x160 (GBA) */
    int scale;         /* integer window scale; 0: 3 */
    double fps;        /* the core's frame rate (core_info.fps), for real-time pacing; 0: 59.73 */
    int speed;         /* initial pace: 1 real time, 2/4/8 times faster, 0 uncapped */
    bool keyboard;     /* report the joypad keys (play); false: training view */
} viewer_config;

/* What env 0 is doing, shown in the window title and in a status strip below the picture
 * (both updated at most 10 times a second). */
typedef struct viewer_overlay {
    int64_t step;          /* env 0's steps since the start */
    int64_t episode;       /* env 0's episodes finished */
    double episode_return; /* of the running episode */
    float last_reward;     /* of the last step */
    const char *action;    /* the buttons held, e.g. "A+RIGHT"; NULL or "" shows "-" */
    int frames;            /* emulated frames since the last viewer_frame (frame_skip); the pace */
} viewer_overlay;

/* Requests from the window, filled by every viewer_frame. */
typedef struct viewer_events {
    bool paused;      /* space toggles it: the display is frozen (no drawing, no pacing) */
    int speed;        /* current pace (+ / - change it): 1, 2, 4, 8 = real time x N; 0 uncapped */
    bool save_state;  /* F12 or F2 was pressed since the last call: save env 0's state now */
    bool closed;      /* the window was closed, or Escape pressed: call viewer_close (training
                       * goes on without it; play stops) */
    bool reset;       /* R was pressed: reset env 0 (play) */
    uint16_t buttons; /* with cfg.keyboard: held joypad keys, mask of 1 << CORE_BUTTON_*:
                       * arrows, Z = A, X = B, Enter = Start, Backspace = Select, A/S = L/R */
} viewer_events;

/* Whether a window can be shown, without starting SDL (call it before anything else starts):
 * an error when DISPLAY, WAYLAND_DISPLAY and SDL_VIDEODRIVER are all unset, or in a build
 * without SDL2. SDL_VIDEODRIVER=offscreen or dummy is an explicit request for no window. */
gb_error *viewer_check_display(void);

/* Opens the window. The error is one line: the missing SDL2 build, no display (as
 * viewer_check_display), SDL's own reason, or SDL falling back to a driver that shows no window
 * (offscreen, dummy) that SDL_VIDEODRIVER did not ask for. */
gb_error *viewer_open(viewer **out, const viewer_config *cfg);

/* Draws f (scaled by an integer factor into the window; NULL or a frame with no data redraws
 * the last one), updates the title from o (may be NULL), polls the window's events into ev and,
 * at a real-time pace, sleeps until o->frames frames at cfg.fps x speed have passed since the
 * previous call. While paused the picture stays frozen and nothing sleeps, so the caller runs
 * at full speed; only the status strip is refreshed. */
void viewer_frame(viewer *v, const core_frame *f, const viewer_overlay *o, viewer_events *ev);

/* Reads back what the viewer shows (the last frame, drawn as viewer_frame draws it, in the top
 * height x scale rows, and the status strip below) as packed RGB24 rows, *width x *height =
 * the window's drawable size; free() the buffer. For tests and screenshots. */
gb_error *viewer_read_rgb(viewer *v, uint8_t **rgb, int *width, int *height);

/* Closes the window and shuts SDL's video down; NULL is fine. Same thread as viewer_open. */
void viewer_close(viewer *v);

/* Whether this build has the SDL2 viewer. */
bool viewer_available(void);

#endif
