#include "gbfarm/progress.h"

#include <inttypes.h>
#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "gbfarm/clock.h"

enum { TTY_MIN_INTERVAL_MS = 250 };

void progress_init(progress *p, FILE *out, double log_interval_seconds)
{
    memset(p, 0, sizeof *p);
    p->out = out;
    p->tty = isatty(fileno(out));
    p->log_interval = log_interval_seconds;
    p->last_print = -1;
}

static void format_duration(char *buf, size_t n, double seconds)
{
    if (!isfinite(seconds) || seconds < 0) {
        snprintf(buf, n, "--:--:--");
        return;
    }
    long long s = (long long)(seconds + 0.5);
    snprintf(buf, n, "%lld:%02lld:%02lld", s / 3600, s / 60 % 60, s % 60);
}

/* What both lines say about time: elapsed and ETA as h:mm:ss; returns the fraction done. */
static double format_times(const progress_stats *s, char elapsed[32], char eta[32])
{
    double frac = s->total_steps > 0 ? (double)s->steps / (double)s->total_steps : 0;
    double left = (double)(s->total_steps - s->steps);
    double eta_s = left <= 0 ? 0 : s->steps_per_sec > 0 ? left / s->steps_per_sec : NAN;
    format_duration(elapsed, 32, s->elapsed_seconds);
    format_duration(eta, 32, eta_s);
    return frac;
}

/* 1234567 -> "1.23M": terminals have no room for every digit. */
static void format_si(char *buf, size_t n, double v)
{
    if (!isfinite(v))
        snprintf(buf, n, "-");
    else if (fabs(v) >= 1e9)
        snprintf(buf, n, "%.2fG", v / 1e9);
    else if (fabs(v) >= 1e6)
        snprintf(buf, n, "%.2fM", v / 1e6);
    else if (fabs(v) >= 1e4)
        snprintf(buf, n, "%.1fk", v / 1e3);
    else
        snprintf(buf, n, "%.0f", v);
}

/* snprintf that appends at *len and never overruns buf; *len counts what would be written. */
#define APPEND(...)                                                                                \
    do {                                                                                           \
        size_t at_ = (size_t)len < n - 1 ? (size_t)len : n - 1;                                    \
        len += snprintf(buf + at_, n - at_, __VA_ARGS__);                                          \
    } while (0)

/* One field of the terminal line. */
typedef struct field {
    char text[64];
} field;

/* The terminal line's fields, most useful first: progress, ETA, rate, mean return, elapsed
 * time, episodes, losses, frames/s. Returns how many. */
static int tty_fields(field *f, const progress_stats *s, double frac, const char *elapsed,
                      const char *eta)
{
    char done[16], total[16], sps[16], fps[16];
    format_si(done, sizeof done, (double)s->steps);
    format_si(total, sizeof total, (double)s->total_steps);
    format_si(sps, sizeof sps, s->steps_per_sec);
    format_si(fps, sizeof fps, s->frames_per_sec);
    int n = 0;
    snprintf(f[n++].text, sizeof f->text, "%s/%s %.1f%%", done, total, 100 * frac);
    snprintf(f[n++].text, sizeof f->text, "ETA %s", eta);
    snprintf(f[n++].text, sizeof f->text, "%s sps", sps);
    if (isfinite(s->mean_return)) snprintf(f[n++].text, sizeof f->text, "ret %.2f", s->mean_return);
    snprintf(f[n++].text, sizeof f->text, "elapsed %s", elapsed);
    snprintf(f[n++].text, sizeof f->text, "%" PRId64 " ep", s->episodes);
    char pg[21] = "", vf[21] = "", ent[21] = "";
    if (isfinite(s->pg_loss)) snprintf(pg, sizeof pg, " pg %.3f", s->pg_loss);
    if (isfinite(s->v_loss)) snprintf(vf, sizeof vf, " vf %.3f", s->v_loss);
    if (isfinite(s->entropy)) snprintf(ent, sizeof ent, " ent %.2f", s->entropy);
    char *losses = f[n].text;
    snprintf(losses, sizeof f->text, "%s%s%s", pg, vf, ent);
    if (losses[0]) memmove(losses, losses + 1, strlen(losses)), n++; /* no leading space */
    if (isfinite(s->frames_per_sec) && s->frames_per_sec > 0)
        snprintf(f[n++].text, sizeof f->text, "%s fps", fps);
    return n;
}

int progress_format_fit(char *buf, size_t n, const progress_stats *s, int columns)
{
    if (n == 0) return 0;
    char elapsed[32], eta_s[32];
    double frac = format_times(s, elapsed, eta_s);
    field f[8];
    int n_fields = tty_fields(f, s, frac, elapsed, eta_s);
    /* Whole fields, in order, skipping any that would pass the width; the first always (cut). */
    int len = 0;
    buf[0] = '\0';
    for (int i = 0; i < n_fields; i++) {
        int want = (len ? 3 : 0) + (int)strlen(f[i].text);
        if (len && len + want > columns) continue;
        APPEND("%s%s", len ? " | " : "", f[i].text);
    }
    if (columns >= 0 && (size_t)columns < n && len > columns) buf[columns] = '\0', len = columns;
    return len;
}

int progress_format(char *buf, size_t n, const progress_stats *s, int compact)
{
    if (compact) return progress_format_fit(buf, n, s, INT_MAX);
    int len = 0;
    if (n == 0) return 0;
    buf[0] = '\0';
    char elapsed[32], eta_s[32];
    double frac = format_times(s, elapsed, eta_s);
    int show_fps = isfinite(s->frames_per_sec) && s->frames_per_sec > 0;

    APPEND("step %" PRId64 "/%" PRId64 " (%.1f%%) | %.0f steps/s", s->steps, s->total_steps,
           100 * frac, s->steps_per_sec);
    if (show_fps) APPEND(" | %.0f frames/s", s->frames_per_sec);
    APPEND(" | %" PRId64 " episodes", s->episodes);
    if (isfinite(s->mean_return)) APPEND(" | mean return %.3f", s->mean_return);
    if (isfinite(s->pg_loss)) APPEND(" | pg_loss %.4f", s->pg_loss);
    if (isfinite(s->v_loss)) APPEND(" v_loss %.4f", s->v_loss);
    if (isfinite(s->entropy)) APPEND(" entropy %.4f", s->entropy);
    APPEND(" | elapsed %s | ETA %s", elapsed, eta_s);
    return len;
}

/* The terminal's width (the window's, else $COLUMNS, else 80), so the live line never wraps
 * (a wrapped line cannot be redrawn). */
static int tty_columns(FILE *out)
{
    struct winsize ws;
    if (ioctl(fileno(out), TIOCGWINSZ, &ws) == 0 && ws.ws_col > 10) return ws.ws_col;
    const char *env = getenv("COLUMNS");
    long cols = env ? strtol(env, NULL, 10) : 0;
    return cols > 10 && cols < 10000 ? (int)cols : 80;
}

static void show(progress *p, const progress_stats *s, int final)
{
    char line[512];
    if (p->tty) {
        /* One column spare: a line that fills the last one wraps on some terminals. */
        progress_format_fit(line, sizeof line, s, tty_columns(p->out) - 1);
        fprintf(p->out, "\r%s\033[K%s", line, final ? "\n" : "");
        p->line_open = !final;
    } else {
        progress_format(line, sizeof line, s, 0);
        fprintf(p->out, "%s\n", line);
    }
    fflush(p->out);
}

void progress_update(progress *p, const progress_stats *s)
{
    double now = gb_now();
    double every = p->tty ? TTY_MIN_INTERVAL_MS / 1000.0 : p->log_interval;
    if (p->last_print >= 0 && now - p->last_print < every) return;
    p->last_print = now;
    show(p, s, 0);
}

void progress_finish(progress *p, const progress_stats *s)
{
    p->last_print = gb_now();
    show(p, s, 1);
}

void progress_clear(progress *p)
{
    if (!p->tty || !p->line_open) return;
    fputs("\r\033[K", p->out);
    fflush(p->out);
    p->line_open = 0;
    p->last_print = -1;
}
