/* The SDL2 viewer: env 0's screen in a resizable window, scaled by an integer factor, above a
 * status strip that repeats the title's text (title bars are invisible under Xvfb and in many
 * tiling window managers). Built only when CMake finds SDL2 (viewer_none.c stands in otherwise). */
#include <SDL.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "font.h"
#include "gbfarm/clock.h"
#include "gbfarm/game.h"
#include "gbfarm/viewer.h"

/* The paces + and - step through: real time x1, x2, x4, x8, then uncapped (0). */
static const int speeds[] = {1, 2, 4, 8, 0};
#define N_SPEEDS ((int)(sizeof speeds / sizeof speeds[0]))

/* Redraw at most this often: an uncapped env 0 steps far faster than a screen refreshes. */
#define DRAW_INTERVAL  0.012
#define TITLE_INTERVAL 0.1

/* The status strip, in font pixels (each drawn as zoom x zoom screen pixels). */
#define STRIP_PAD_X  3
#define STRIP_PAD_Y  3
#define STRIP_BG     0x202028u /* XRGB8888 */
#define STRIP_TEXT   0xE8E8E8u
#define STRIP_PAUSED 0xFFC040u
#define FIELD_GAP    (2 * FONT_CELL_W)
#define FIELD_CHARS  48
#define N_FIELDS     6

struct viewer {
    SDL_Window *window;
    SDL_Renderer *renderer;
    SDL_Texture *texture; /* the last frame, in the core's pixel format */
    int tex_w, tex_h;     /* the picture's native size (before the first frame: cfg's) */
    core_pixel_format tex_format;
    SDL_Texture *strip; /* the status strip's text, redrawn with the title */
    uint32_t *strip_pixels;
    int strip_w, strip_h; /* in font pixels; strip_w follows the window's width */
    int zoom, strip_lines;
    char title[128];
    double fps;
    int speed_index;
    bool paused, keyboard;
    double deadline; /* when the next paced call may return (monotonic seconds) */
    double last_draw, last_title;
};

static void sleep_until(double t)
{
    struct timespec ts = gb_timespec(t);
    while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) == EINTR) {
    }
}

bool viewer_available(void)
{
    return true;
}

/* SDL_VIDEODRIVER names the driver(s) to try; an explicit offscreen or dummy is the user's
 * choice (tests, screenshots), not a fallback. */
static const char *driver_request(void)
{
    const char *d = getenv("SDL_VIDEODRIVER");
    return d && *d ? d : NULL;
}

static bool env_set(const char *name)
{
    const char *v = getenv(name);
    return v && *v;
}

gb_error *viewer_check_display(void)
{
    if (driver_request() || env_set("DISPLAY") || env_set("WAYLAND_DISPLAY")) return NULL;
    return gb_errorf("no display: DISPLAY and WAYLAND_DISPLAY are not set (run it in a desktop "
                     "session or under xvfb-run; SDL_VIDEODRIVER=NAME picks SDL's video driver)");
}

/* Without SDL_VIDEODRIVER, try only the window systems the environment names: otherwise SDL
 * falls back to its offscreen driver and "shows" the game in no window at all. */
static void choose_drivers(void)
{
    if (driver_request()) return;
    bool x11 = env_set("DISPLAY"), wayland = env_set("WAYLAND_DISPLAY");
    SDL_SetHint(SDL_HINT_VIDEODRIVER, x11 && wayland ? "x11,wayland" : x11 ? "x11" : "wayland");
}

/* The driver SDL started must show a window, unless the user asked for a windowless one. */
static gb_error *check_driver(void)
{
    const char *d = SDL_GetCurrentVideoDriver();
    if (!d) return gb_errorf("viewer: SDL started no video driver");
    bool windowless = !strcmp(d, "offscreen") || !strcmp(d, "dummy") || !strcmp(d, "evdev");
    const char *asked = driver_request();
    if (windowless && !(asked && strstr(asked, d)))
        return gb_errorf("viewer: SDL fell back to its %s video driver, which shows no window "
                         "(is the display reachable? SDL_VIDEODRIVER=%s runs without one)",
                         d, d);
    return NULL;
}

gb_error *viewer_open(viewer **out, const viewer_config *cfg)
{
    *out = NULL;
    if (cfg->width <= 0 || cfg->height <= 0 || cfg->scale < 0 || cfg->scale > 16)
        return gb_errorf("viewer: expected a screen size and a scale of 0..16, found %dx%d x%d",
                         cfg->width, cfg->height, cfg->scale);
    if (SDL_WasInit(SDL_INIT_VIDEO))
        return gb_errorf("viewer: a viewer is already open (one window per process)");
    GB_TRY(viewer_check_display());
    /* gbfarm handles SIGINT/SIGTERM itself; nearest-neighbour scaling keeps pixels sharp. A
     * 160x144 picture needs no GPU: the software renderer loads no GL/EGL driver (those fail on
     * headless machines and leak at exit); SDL_RENDER_DRIVER in the environment still wins. */
    SDL_SetHint(SDL_HINT_NO_SIGNAL_HANDLERS, "1");
    SDL_SetHint(SDL_HINT_RENDER_DRIVER, "software");
    SDL_SetHint(SDL_HINT_RENDER_SCALE_QUALITY, "0");
    choose_drivers();
    gb_error *init_err = NULL;
    if (SDL_Init(SDL_INIT_VIDEO) != 0)
        init_err = gb_errorf("viewer: cannot start SDL's video (%s): is the display reachable?",
                             SDL_GetError());
    else
        init_err = check_driver();
    if (init_err) {
        SDL_Quit();
        return init_err;
    }
    viewer *v = calloc(1, sizeof *v);
    if (!v) {
        SDL_Quit();
        return gb_errorf("viewer: out of memory");
    }
    int scale = cfg->scale ? cfg->scale : 3;
    snprintf(v->title, sizeof v->title, "%s", cfg->title ? cfg->title : "gbfarm");
    v->fps = cfg->fps > 0 ? cfg->fps : 59.7275;
    v->keyboard = cfg->keyboard;
    v->speed_index = N_SPEEDS - 1;
    for (int i = 0; i < N_SPEEDS; i++)
        if (speeds[i] == cfg->speed) v->speed_index = i;
    v->last_draw = v->last_title = -1.0;
    v->tex_w = cfg->width, v->tex_h = cfg->height;
    /* The text grows with the picture; a narrow window wraps it onto more lines. */
    v->zoom = (scale + 1) / 2;
    int columns = cfg->width * scale / (v->zoom * FONT_CELL_W);
    v->strip_lines = columns >= 60 ? 1 : columns >= 30 ? 2 : 3;
    v->strip_h = 2 * STRIP_PAD_Y + v->strip_lines * FONT_CELL_H - (FONT_CELL_H - FONT_GLYPH_H);
    int window_w = cfg->width * scale, window_h = cfg->height * scale + v->strip_h * v->zoom;

    gb_error *err = NULL;
    v->window = SDL_CreateWindow(v->title, SDL_WINDOWPOS_UNDEFINED, SDL_WINDOWPOS_UNDEFINED,
                                 window_w, window_h, SDL_WINDOW_RESIZABLE);
    if (!v->window) {
        err = gb_errorf("viewer: cannot create a %dx%d window: %s", window_w, window_h,
                        SDL_GetError());
    } else {
        /* No vsync: the pace is the viewer's own, and an uncapped env 0 must not wait on it. */
        v->renderer = SDL_CreateRenderer(v->window, -1, 0);
        if (!v->renderer) v->renderer = SDL_CreateRenderer(v->window, -1, SDL_RENDERER_SOFTWARE);
        if (!v->renderer) err = gb_errorf("viewer: cannot create a renderer: %s", SDL_GetError());
    }
    if (!err) {
        SDL_SetRenderDrawColor(v->renderer, 0, 0, 0, 255);
        SDL_RenderClear(v->renderer);
        SDL_RenderPresent(v->renderer);
    }
    if (err) {
        viewer_close(v);
        return err;
    }
    v->deadline = gb_now();
    *out = v;
    return NULL;
}

void viewer_close(viewer *v)
{
    if (!v) return;
    if (v->texture) SDL_DestroyTexture(v->texture);
    if (v->strip) SDL_DestroyTexture(v->strip);
    free(v->strip_pixels);
    if (v->renderer) SDL_DestroyRenderer(v->renderer);
    if (v->window) SDL_DestroyWindow(v->window);
    free(v);
    SDL_Quit();
}

static Uint32 sdl_format(core_pixel_format f)
{
    switch (f) {
    case CORE_PIXEL_XRGB8888:
        return SDL_PIXELFORMAT_RGB888; /* SDL's name for XRGB8888 */
    case CORE_PIXEL_RGB565:
        return SDL_PIXELFORMAT_RGB565;
    default:
        return SDL_PIXELFORMAT_RGB555; /* XRGB1555 */
    }
}

/* Copies f into the texture, remaking it when the size or format changes (mGBA's SGB border). */
static void upload(viewer *v, const core_frame *f)
{
    if (!v->texture || v->tex_w != (int)f->width || v->tex_h != (int)f->height ||
        v->tex_format != f->format) {
        if (v->texture) SDL_DestroyTexture(v->texture);
        v->texture = SDL_CreateTexture(v->renderer, sdl_format(f->format),
                                       SDL_TEXTUREACCESS_STREAMING, (int)f->width, (int)f->height);
        if (!v->texture) return; /* nothing to draw; the next frame tries again */
        v->tex_w = (int)f->width, v->tex_h = (int)f->height, v->tex_format = f->format;
    }
    SDL_UpdateTexture(v->texture, NULL, f->data, (int)f->pitch);
}

/* The strip fills the window's bottom; the picture, at the largest integer scale that fits
 * above it, is centred in the rest (at the opening size: exactly, with no border). */
static void render(viewer *v)
{
    int out_w, out_h;
    if (SDL_GetRendererOutputSize(v->renderer, &out_w, &out_h) != 0) return;
    int strip_h = v->strip_h * v->zoom, area_h = out_h - strip_h;
    SDL_SetRenderDrawColor(v->renderer, 0, 0, 0, 255);
    SDL_RenderClear(v->renderer);
    if (v->texture) {
        int sx = out_w / v->tex_w, sy = area_h / v->tex_h;
        int s = sx < sy ? sx : sy;
        if (s < 1) s = 1;
        SDL_Rect pic = {(out_w - v->tex_w * s) / 2, (area_h - v->tex_h * s) / 2, v->tex_w * s,
                        v->tex_h * s};
        if (pic.x < 0) pic.x = 0;
        if (pic.y < 0) pic.y = 0;
        SDL_RenderCopy(v->renderer, v->texture, NULL, &pic);
    }
    SDL_Rect bar = {0, area_h, out_w, strip_h};
    SDL_SetRenderDrawColor(v->renderer, (STRIP_BG >> 16) & 255, (STRIP_BG >> 8) & 255,
                           STRIP_BG & 255, 255);
    SDL_RenderFillRect(v->renderer, &bar);
    if (v->strip) {
        bar.w = v->strip_w * v->zoom;
        SDL_RenderCopy(v->renderer, v->strip, NULL, &bar);
    }
}

/* Lays the fields out left to right, wrapping between fields, with the pace (or PAUSED)
 * right-aligned on the first line; fields that find no line left are dropped. Runs with the
 * title (at most 10 times a second), so the per-frame cost is one texture copy. */
static void update_strip(viewer *v, char fields[][FIELD_CHARS], int n_fields, const char *pace)
{
    int out_w, out_h;
    if (SDL_GetRendererOutputSize(v->renderer, &out_w, &out_h) != 0) return;
    int w = (out_w + v->zoom - 1) / v->zoom;
    if (!v->strip || w != v->strip_w) {
        if (v->strip) SDL_DestroyTexture(v->strip);
        free(v->strip_pixels);
        v->strip_pixels = malloc((size_t)w * (size_t)v->strip_h * sizeof *v->strip_pixels);
        v->strip = v->strip_pixels ? SDL_CreateTexture(v->renderer, SDL_PIXELFORMAT_RGB888,
                                                       SDL_TEXTUREACCESS_STREAMING, w, v->strip_h)
                                   : NULL;
        v->strip_w = w;
        if (!v->strip) return; /* the bar stays plain; the next update tries again */
    }
    uint32_t *px = v->strip_pixels;
    int h = v->strip_h;
    for (int i = 0; i < w * h; i++) px[i] = STRIP_BG;
    int pace_x = w - STRIP_PAD_X - (int)strlen(pace) * FONT_CELL_W + 1;
    font_draw(px, w, h, w, pace_x, STRIP_PAD_Y, pace, v->paused ? STRIP_PAUSED : STRIP_TEXT);
    int x = STRIP_PAD_X, line = 0;
    for (int i = 0; i < n_fields && line < v->strip_lines; i++) {
        int width = (int)strlen(fields[i]) * FONT_CELL_W - 1;
        int right = line == 0 ? pace_x - FIELD_GAP : w - STRIP_PAD_X;
        if (x + width > right && x > STRIP_PAD_X) {
            x = STRIP_PAD_X;
            if (++line == v->strip_lines) break;
            right = w - STRIP_PAD_X;
        }
        font_draw(px, w, h, w, x, STRIP_PAD_Y + line * FONT_CELL_H, fields[i], STRIP_TEXT);
        x += width + 1 + FIELD_GAP;
    }
    SDL_UpdateTexture(v->strip, NULL, px, w * (int)sizeof *px);
}

/* The pace, as the title says it ("paused", "2x") or as the strip does ("PAUSED", "x2"). */
static void pace_text(const viewer *v, char *buf, size_t n, bool strip)
{
    int speed = speeds[v->speed_index];
    if (v->paused)
        snprintf(buf, n, strip ? "PAUSED" : "paused");
    else if (speed == 0)
        snprintf(buf, n, "uncapped");
    else
        snprintf(buf, n, strip ? "x%d" : "%dx", speed);
}

/* The title and the status strip: the same information, the strip's spelled shorter. */
static void update_text(viewer *v, const viewer_overlay *o)
{
    char pace[16], text[320];
    pace_text(v, pace, sizeof pace, false);
    const char *action = o && o->action && o->action[0] ? o->action : "-";
    if (o)
        snprintf(text, sizeof text,
                 "%s | step %lld | episode %lld | return %.2f | reward %+.2f | %s | %s", v->title,
                 (long long)o->step, (long long)o->episode, o->episode_return,
                 (double)o->last_reward, action, pace);
    else
        snprintf(text, sizeof text, "%s | %s", v->title, pace);
    SDL_SetWindowTitle(v->window, text);

    char fields[N_FIELDS][FIELD_CHARS];
    int n = 0;
    if (o) {
        snprintf(fields[n++], FIELD_CHARS, "step %lld", (long long)o->step);
        snprintf(fields[n++], FIELD_CHARS, "ep %lld", (long long)o->episode);
        snprintf(fields[n++], FIELD_CHARS, "ret %.2f", o->episode_return);
        snprintf(fields[n++], FIELD_CHARS, "r %+.2f", (double)o->last_reward);
        snprintf(fields[n++], FIELD_CHARS, "%s", action);
    }
    pace_text(v, pace, sizeof pace, true);
    update_strip(v, fields, n, pace);
}

static void poll(viewer *v, viewer_events *ev)
{
    SDL_Event e;
    while (SDL_PollEvent(&e)) {
        if (e.type == SDL_QUIT ||
            (e.type == SDL_WINDOWEVENT && e.window.event == SDL_WINDOWEVENT_CLOSE)) {
            ev->closed = true;
        } else if (e.type == SDL_WINDOWEVENT && e.window.event == SDL_WINDOWEVENT_EXPOSED) {
            v->last_draw = -1.0; /* redraw at once */
        } else if (e.type == SDL_KEYDOWN && !e.key.repeat) {
            switch (e.key.keysym.sym) {
            case SDLK_SPACE:
                v->paused = !v->paused;
                break;
            case SDLK_PLUS:
            case SDLK_EQUALS:
            case SDLK_KP_PLUS:
                if (v->speed_index < N_SPEEDS - 1) v->speed_index++;
                break;
            case SDLK_MINUS:
            case SDLK_KP_MINUS:
                if (v->speed_index > 0) v->speed_index--;
                break;
            case SDLK_F2:
            case SDLK_F12:
                ev->save_state = true;
                break;
            case SDLK_ESCAPE:
                ev->closed = true;
                break;
            case SDLK_r:
                ev->reset = v->keyboard;
                break;
            default:
                break;
            }
            v->last_title = -1.0;
        }
    }
    if (!v->keyboard) return;
    const Uint8 *k = SDL_GetKeyboardState(NULL);
    static const struct {
        SDL_Scancode key;
        int button;
    } keys[] = {
        {SDL_SCANCODE_UP, CORE_BUTTON_UP},        {SDL_SCANCODE_DOWN, CORE_BUTTON_DOWN},
        {SDL_SCANCODE_LEFT, CORE_BUTTON_LEFT},    {SDL_SCANCODE_RIGHT, CORE_BUTTON_RIGHT},
        {SDL_SCANCODE_Z, CORE_BUTTON_A},          {SDL_SCANCODE_X, CORE_BUTTON_B},
        {SDL_SCANCODE_RETURN, CORE_BUTTON_START}, {SDL_SCANCODE_BACKSPACE, CORE_BUTTON_SELECT},
        {SDL_SCANCODE_A, CORE_BUTTON_L},          {SDL_SCANCODE_S, CORE_BUTTON_R},
    };
    for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++)
        if (k[keys[i].key]) ev->buttons |= (uint16_t)(1u << keys[i].button);
}

void viewer_frame(viewer *v, const core_frame *f, const viewer_overlay *o, viewer_events *ev)
{
    memset(ev, 0, sizeof *ev);
    poll(v, ev);
    double now = gb_now();
    bool text_redrawn = now - v->last_title >= TITLE_INTERVAL;
    if (text_redrawn) {
        update_text(v, o);
        v->last_title = now;
    }
    if (!v->paused && f && f->data) upload(v, f);
    /* Paused, the picture stays frozen but the strip still follows env 0 (and says PAUSED). */
    if (text_redrawn || (!v->paused && now - v->last_draw >= DRAW_INTERVAL)) {
        render(v);
        SDL_RenderPresent(v->renderer);
        v->last_draw = now;
    }
    int speed = speeds[v->speed_index];
    if (!v->paused && speed > 0 && o && o->frames > 0) {
        /* After a stall (a PPO update, a slow frame) start afresh rather than rush to catch up. */
        if (v->deadline < now - 0.1) v->deadline = now;
        v->deadline += (double)o->frames / (v->fps * speed);
        if (v->deadline > now) sleep_until(v->deadline);
    } else {
        v->deadline = now;
    }
    ev->paused = v->paused;
    ev->speed = speed;
}

gb_error *viewer_read_rgb(viewer *v, uint8_t **rgb, int *width, int *height)
{
    *rgb = NULL;
    int w, h;
    if (SDL_GetRendererOutputSize(v->renderer, &w, &h) != 0)
        return gb_errorf("viewer: cannot read the window's size: %s", SDL_GetError());
    uint8_t *buf = malloc((size_t)w * (size_t)h * 3);
    if (!buf) return gb_errorf("viewer: out of memory for a %dx%d picture", w, h);
    render(v);
    if (SDL_RenderReadPixels(v->renderer, NULL, SDL_PIXELFORMAT_RGB24, buf, w * 3) != 0) {
        free(buf);
        return gb_errorf("viewer: cannot read the window's pixels: %s", SDL_GetError());
    }
    *rgb = buf, *width = w, *height = h;
    return NULL;
}
