/* The training progress display. On a terminal: one live line, redrawn in place (carriage
 * return, clear to end of line) at most 4 times a second, fitted to the terminal's width.
 * Elsewhere (a log file, a pipe): a plain line every log_interval seconds, so logs stay
 * readable. Independent of the trainer: the caller fills a progress_stats from whatever it has. */
#ifndef GBFARM_PROGRESS_H
#define GBFARM_PROGRESS_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

typedef struct progress_stats {
    int64_t steps, total_steps;      /* env steps done and planned, over all envs */
    double steps_per_sec;            /* recent rate (the caller's choice of window) */
    double frames_per_sec;           /* emulated frames/s; <= 0 or NAN: not shown */
    int64_t episodes;                /* finished so far */
    double mean_return;              /* of the last N episodes; NAN before the first */
    double pg_loss, v_loss, entropy; /* the last update's; NAN: not shown */
    double elapsed_seconds;
} progress_stats;

/* Plain data so it can live on the stack; fill with progress_init. */
typedef struct progress {
    FILE *out;
    int tty;             /* redraw one line in place; set by progress_init from isatty */
    double log_interval; /* seconds between plain lines when not a tty */
    double last_print;   /* monotonic seconds; negative: never printed */
    int line_open;       /* tty: a live line is on screen without its newline */
} progress;

void progress_init(progress *p, FILE *out, double log_interval_seconds);
/* Shows s if enough time has passed since the last line; cheap to call every update. */
void progress_update(progress *p, const progress_stats *s);
/* Shows s now and ends the line: the run's last word. */
void progress_finish(progress *p, const progress_stats *s);
/* Before printing anything else (a warning, a checkpoint note) while a live line is up:
 * clears it so the message starts on a clean line; the next update redraws it. */
void progress_clear(progress *p);

/* The text of one line, without '\r' or '\n' (n > 0); compact: the terminal line (as
 * progress_format_fit with no width limit). Returns the length snprintf would write.
 * ETA = steps left / steps_per_sec. */
int progress_format(char *buf, size_t n, const progress_stats *s, int compact);

/* The terminal line in at most columns characters: short units (1.23M, sps), fields most useful
 * first (progress, ETA, steps/s, mean return, elapsed, episodes, losses, frames/s), whole fields
 * left out where they would not fit. Returns the line's length. */
int progress_format_fit(char *buf, size_t n, const progress_stats *s, int columns);

#endif
