/* The libretro frontend: one emulator instance per `core`, driven by one thread.
 *
 * libretro cores keep global state, so each instance dlopens a private copy of the core's
 * .so. Callbacks find their instance through a thread-local pointer that every core_*
 * call sets, so an instance must be driven by one thread at a time. */
#ifndef GBFARM_CORE_H
#define GBFARM_CORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "gbfarm/error.h"

/* The consoles gbfarm runs; the platform decides the fallback memory map's addresses. */
typedef enum core_platform { CORE_PLATFORM_GB, CORE_PLATFORM_GBC, CORE_PLATFORM_GBA } core_platform;

/* Joypad buttons as bit positions, equal to libretro's RETRO_DEVICE_ID_JOYPAD_* ids. */
enum {
    CORE_BUTTON_B = 0,
    CORE_BUTTON_Y = 1,
    CORE_BUTTON_SELECT = 2,
    CORE_BUTTON_START = 3,
    CORE_BUTTON_UP = 4,
    CORE_BUTTON_DOWN = 5,
    CORE_BUTTON_LEFT = 6,
    CORE_BUTTON_RIGHT = 7,
    CORE_BUTTON_A = 8,
    CORE_BUTTON_X = 9,
    CORE_BUTTON_L = 10,
    CORE_BUTTON_R = 11,
};

/* A libretro core option ("mgba_sgb_borders" = "OFF"). core_open copies what it keeps, so
 * the strings stay the caller's. */
typedef struct core_option {
    char *key, *value;
} core_option;

typedef enum core_pixel_format {
    CORE_PIXEL_0RGB1555 = 0, /* libretro's enum values */
    CORE_PIXEL_XRGB8888 = 1,
    CORE_PIXEL_RGB565 = 2,
} core_pixel_format;

typedef struct core_frame {
    const uint8_t *data; /* NULL until the first captured frame */
    unsigned width, height;
    size_t pitch; /* bytes per row */
    core_pixel_format format;
} core_frame;

typedef struct core_region {
    uint32_t start, length; /* bus address range [start, start + length) */
    uint64_t flags;         /* RETRO_MEMDESC_* */
    const char *name;       /* the core's addrspace name, or a gbfarm name for fallbacks */
} core_region;

typedef struct core_config {
    const char *core_path; /* a resolved .so path (core_find) */
    const char *rom_path;
    core_platform platform;
    const core_option *options; /* over gbfarm's per-core defaults */
    int n_options;
    const char *log_path; /* where the core's log lines go; NULL drops them */
} core_config;

typedef struct core core;

/* Resolves a core name ("mgba", "gambatte", "sameboy") through ./cores, $GBFARM_CORE_PATH
 * and the system libretro directory, or checks a path (anything containing '/' or ".so"). */
gb_error *core_find(const char *name_or_path, char *out, size_t out_size);

/* Reads a ROM's header to tell GB, GBC and GBA apart. */
gb_error *core_detect_platform(const char *rom_path, core_platform *out);

gb_error *core_open(core **out, const core_config *cfg);
void core_close(core *c);

void core_set_buttons(core *c, uint16_t buttons); /* mask of 1 << CORE_BUTTON_* */
void core_reset(core *c);                         /* power-cycle the console */
/* Runs one frame. With capture set, the frame's picture is kept for core_frame_get. */
void core_run(core *c, bool capture);
const core_frame *core_frame_get(const core *c);

/* Maps a bus address range to host memory, ctx being the core (the shape of a resolver the
 * layers above take, game_resolve_fn). The error says why not ("it is not in any RAM region of
 * core X"); the caller names the address. */
gb_error *core_resolve(void *c, uint32_t address, uint32_t length, uint8_t **out);

/* Changes whenever the core registers its memory map anew (some do on reset): host pointers
 * from core_resolve are valid only within one generation. */
unsigned core_memory_generation(const core *c);
uint64_t core_frames_run(const core *c);

size_t core_state_size(core *c);
gb_error *core_save_state(core *c, void *buf, size_t size);
gb_error *core_load_state(core *c, const void *buf, size_t size, const char *what);

typedef struct core_info {
    const char *name, *version, *extensions;
    unsigned base_width, base_height, max_width, max_height;
    double fps, sample_rate;
    core_pixel_format format;
    const core_region *regions;
    int n_regions;
    bool memory_map; /* regions came from SET_MEMORY_MAPS (else the fallback) */
} core_info;

void core_get_info(const core *c, core_info *out);
const char *core_path(const core *c);
const char *core_pixel_format_name(core_pixel_format f);

#endif
