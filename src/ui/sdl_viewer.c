/* The SDL2 viewer: env 0's screen in a resizable window, scaled by an integer factor.
 * Built only when CMake finds SDL2 (viewer_none.c stands in otherwise). */
#include <SDL.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "gbfarm/game.h"
#include "gbfarm/viewer.h"

/* The paces + and - step through: real time x1, x2, x4, x8, then uncapped (0). */
static const int speeds[] = {1, 2, 4, 8, 0};
#define N_SPEEDS ((int)(sizeof speeds / sizeof speeds[0]))

/* Redraw at most this often: an uncapped env 0 steps far faster than a screen refreshes. */
#define DRAW_INTERVAL  0.012
#define TITLE_INTERVAL 0.1

struct viewer {
    SDL_Window *window;
    SDL_Renderer *renderer;
    SDL_Texture *texture; /* the last frame, in the core's pixel format */
    int tex_w, tex_h;
    int logical_w, logical_h; /* the picture's size in screen pixels */
    core_pixel_format tex_format;
    char title[128];
    double fps;
    int speed_index;
    bool paused, keyboard;
    double deadline; /* when the next paced call may return (monotonic seconds) */
    double last_draw, last_title;
};

static double now_seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static void sleep_until(double t)
{
    struct timespec ts = {(time_t)t, (long)((t - (double)(time_t)t) * 1e9)};
    while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) == EINTR) {
    }
}

bool viewer_available(void) { return true; }

gb_error *viewer_open(viewer **out, const viewer_config *cfg)
{
    *out = NULL;
    if (cfg->width <= 0 || cfg->height <= 0 || cfg->scale < 0 || cfg->scale > 16)
        return gb_errorf("viewer: expected a screen size and a scale of 0..16, found %dx%d x%d",
                         cfg->width, cfg->height, cfg->scale);
    if (SDL_WasInit(SDL_INIT_VIDEO))
        return gb_errorf("viewer: a viewer is already open (one window per process)");
    /* gbfarm handles SIGINT/SIGTERM itself; nearest-neighbour scaling keeps pixels sharp. A
     * 160x144 picture needs no GPU: the software renderer loads no GL/EGL driver (those fail on
     * headless machines and leak at exit); SDL_RENDER_DRIVER in the environment still wins. */
    SDL_SetHint(SDL_HINT_NO_SIGNAL_HANDLERS, "1");
    SDL_SetHint(SDL_HINT_RENDER_DRIVER, "software");
    SDL_SetHint(SDL_HINT_RENDER_SCALE_QUALITY, "0");
    if (SDL_Init(SDL_INIT_VIDEO) != 0) {
        gb_error *err = gb_errorf("viewer: cannot start SDL's video (%s): is a display "
                                  "available (DISPLAY, or SDL_VIDEODRIVER=offscreen)?",
                                  SDL_GetError());
        SDL_Quit();
        return err;
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

    gb_error *err = NULL;
    v->window = SDL_CreateWindow(v->title, SDL_WINDOWPOS_UNDEFINED, SDL_WINDOWPOS_UNDEFINED,
                                 cfg->width * scale, cfg->height * scale, SDL_WINDOW_RESIZABLE);
    if (!v->window) {
        err = gb_errorf("viewer: cannot create a %dx%d window: %s", cfg->width * scale,
                        cfg->height * scale, SDL_GetError());
    } else {
        /* No vsync: the pace is the viewer's own, and an uncapped env 0 must not wait on it. */
        v->renderer = SDL_CreateRenderer(v->window, -1, 0);
        if (!v->renderer) v->renderer = SDL_CreateRenderer(v->window, -1, SDL_RENDERER_SOFTWARE);
        if (!v->renderer) err = gb_errorf("viewer: cannot create a renderer: %s", SDL_GetError());
    }
    if (!err) {
        v->logical_w = cfg->width, v->logical_h = cfg->height;
        SDL_RenderSetLogicalSize(v->renderer, cfg->width, cfg->height);
        SDL_RenderSetIntegerScale(v->renderer, SDL_TRUE);
        SDL_SetRenderDrawColor(v->renderer, 0, 0, 0, 255);
        SDL_RenderClear(v->renderer);
        SDL_RenderPresent(v->renderer);
    }
    if (err) {
        viewer_close(v);
        return err;
    }
    v->deadline = now_seconds();
    *out = v;
    return NULL;
}

void viewer_close(viewer *v)
{
    if (!v) return;
    if (v->texture) SDL_DestroyTexture(v->texture);
    if (v->renderer) SDL_DestroyRenderer(v->renderer);
    if (v->window) SDL_DestroyWindow(v->window);
    free(v);
    SDL_Quit();
}

static Uint32 sdl_format(core_pixel_format f)
{
    switch (f) {
    case CORE_PIXEL_XRGB8888: return SDL_PIXELFORMAT_RGB888; /* SDL's name for XRGB8888 */
    case CORE_PIXEL_RGB565: return SDL_PIXELFORMAT_RGB565;
    default: return SDL_PIXELFORMAT_RGB555; /* XRGB1555 */
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
        v->logical_w = v->tex_w, v->logical_h = v->tex_h;
        SDL_RenderSetLogicalSize(v->renderer, v->tex_w, v->tex_h);
    }
    SDL_UpdateTexture(v->texture, NULL, f->data, (int)f->pitch);
}

static void render(viewer *v)
{
    SDL_RenderClear(v->renderer);
    if (v->texture) SDL_RenderCopy(v->renderer, v->texture, NULL, NULL);
}

static void update_title(viewer *v, const viewer_overlay *o)
{
    char pace[16], text[320];
    int speed = speeds[v->speed_index];
    if (v->paused) snprintf(pace, sizeof pace, "paused");
    else if (speed == 0) snprintf(pace, sizeof pace, "uncapped");
    else snprintf(pace, sizeof pace, "%dx", speed);
    if (o)
        snprintf(text, sizeof text, "%s | step %lld | episode %lld | return %.2f | reward %+.2f | %s | %s",
                 v->title, (long long)o->step, (long long)o->episode, o->episode_return,
                 (double)o->last_reward, o->action && o->action[0] ? o->action : "-", pace);
    else
        snprintf(text, sizeof text, "%s | %s", v->title, pace);
    SDL_SetWindowTitle(v->window, text);
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
            case SDLK_SPACE: v->paused = !v->paused; break;
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
            case SDLK_F12: ev->save_state = true; break;
            case SDLK_ESCAPE: ev->closed = true; break;
            case SDLK_r: ev->reset = v->keyboard; break;
            default: break;
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
        {SDL_SCANCODE_UP, BUTTON_UP},        {SDL_SCANCODE_DOWN, BUTTON_DOWN},
        {SDL_SCANCODE_LEFT, BUTTON_LEFT},    {SDL_SCANCODE_RIGHT, BUTTON_RIGHT},
        {SDL_SCANCODE_Z, BUTTON_A},          {SDL_SCANCODE_X, BUTTON_B},
        {SDL_SCANCODE_RETURN, BUTTON_START}, {SDL_SCANCODE_BACKSPACE, BUTTON_SELECT},
        {SDL_SCANCODE_A, BUTTON_L},          {SDL_SCANCODE_S, BUTTON_R},
    };
    for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++)
        if (k[keys[i].key]) ev->buttons |= (uint16_t)(1u << keys[i].button);
}

void viewer_frame(viewer *v, const core_frame *f, const viewer_overlay *o, viewer_events *ev)
{
    memset(ev, 0, sizeof *ev);
    poll(v, ev);
    double now = now_seconds();
    if (!v->paused) {
        if (f && f->data) upload(v, f);
        if (now - v->last_draw >= DRAW_INTERVAL) {
            render(v);
            SDL_RenderPresent(v->renderer);
            v->last_draw = now;
        }
    }
    if (now - v->last_title >= TITLE_INTERVAL) {
        update_title(v, o);
        v->last_title = now;
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
    /* A logical size's viewport would clip the read to the picture: read the whole output. */
    SDL_RenderSetLogicalSize(v->renderer, 0, 0);
    int rc = SDL_RenderReadPixels(v->renderer, NULL, SDL_PIXELFORMAT_RGB24, buf, w * 3);
    SDL_RenderSetLogicalSize(v->renderer, v->logical_w, v->logical_h);
    if (rc != 0) {
        free(buf);
        return gb_errorf("viewer: cannot read the window's pixels: %s", SDL_GetError());
    }
    *rgb = buf, *width = w, *height = h;
    return NULL;
}
