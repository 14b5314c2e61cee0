/* The libretro frontend: private .so copies, callbacks, options, memory map, save states. */
#include "gbfarm/core.h"

#include <ctype.h>
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <libretro.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core_internal.h"

/* The instance whose callbacks run on this thread: set on entry to every call into a core. */
static _Thread_local core *current;

/* Loading is serialised: it briefly points fd 1 at /dev/null because Gambatte prints
 * there, and dlopen is serialised by libc anyway. The ROM copies below are under it too. */
static pthread_mutex_t load_mutex = PTHREAD_MUTEX_INITIALIZER;

/* A ROM's bytes: one sealed in-memory copy (a memfd) of each ROM file per process, mapped
 * read-only once and shared by every core that loads that file. A core gets this mapping as
 * data, or its /proc/self/fd path to map the copy itself: either way no env holds a copy of its
 * own, and a ROM file rewritten on disk changes no running core. */
typedef struct rom_copy {
    struct rom_copy *next;
    struct stat file; /* the file copied: device, inode, size and time of its last change */
    int fd;
    uint8_t *bytes; /* the mapping; a 1-byte allocation for an empty file */
    size_t size;
    int users;
    char path[32]; /* "/proc/self/fd/N"; empty where that cannot be opened */
} rom_copy;

static rom_copy *rom_copies;

/* Cores that, given the ROM's path and no data, open and map the file themselves instead of
 * copying data: each env then maps the process's one copy. (mGBA copies any data it is given
 * into a mapping of its own; Gambatte and SameBoy load only from data.) */
static const char *const path_loaders[] = {"mgba"};

static const struct {
    const char *library; /* retro_system_info.library_name, lower-cased */
    const char *key, *value;
} option_defaults[] = {
    /* The plain 160x144 screen, not the Super Game Boy border at 256x224. */
    {"mgba", "mgba_sgb_borders", "OFF"},
    /* No BIOS file is shipped; boot straight into the game. */
    {"mgba", "mgba_skip_bios", "ON"},
    {"mgba", "mgba_use_bios", "OFF"},
    {"sameboy", "sameboy_border", "never"},
};

const char *core_pixel_format_name(core_pixel_format f)
{
    switch (f) {
    case CORE_PIXEL_0RGB1555:
        return "0RGB1555";
    case CORE_PIXEL_XRGB8888:
        return "XRGB8888";
    case CORE_PIXEL_RGB565:
        return "RGB565";
    }
    return "unknown";
}

static void log_line(core *c, const char *fmt, va_list ap)
{
    if (!c || !c->log) return;
    vfprintf(c->log, fmt, ap);
}

static void RETRO_CALLCONV on_log(enum retro_log_level level, const char *fmt, ...)
{
    (void)level;
    va_list ap;
    va_start(ap, fmt);
    log_line(current, fmt, ap);
    va_end(ap);
}

static void log_msg(core *c, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    log_line(c, fmt, ap);
    va_end(ap);
}

/* "Description; first|second|third" -> "first" (the core's own default). */
static char *variable_default(const char *spec)
{
    const char *p = strstr(spec, "; ");
    p = p ? p + 2 : spec;
    size_t n = strcspn(p, "|");
    return strndup(p, n);
}

static core_option_slot *option_find(core *c, const char *key)
{
    for (int i = 0; i < c->n_opts; i++)
        if (!strcmp(c->opts[i].key, key)) return &c->opts[i];
    return NULL;
}

/* Sets key to value unless the user already chose it. */
static void option_set(core *c, const char *key, const char *value, bool user)
{
    core_option_slot *o = option_find(c, key);
    if (o) {
        if (o->user && !user) return;
        free(o->value);
        o->value = strdup(value);
        o->user = user;
        return;
    }
    if (c->n_opts == c->cap_opts) {
        int cap = c->cap_opts ? c->cap_opts * 2 : 32;
        core_option_slot *grown = realloc(c->opts, (size_t)cap * sizeof *grown);
        if (!grown) return;
        c->opts = grown;
        c->cap_opts = cap;
    }
    c->opts[c->n_opts++] = (core_option_slot){strdup(key), strdup(value), user};
}

/* Whether descriptor d is read-only memory holding the ROM's bytes at its own offset: gbfarm
 * then reads them from the process's copy, which outlives the core's. A core may drop its
 * mapping while it runs (mGBA unmaps the file when a game writes to the cartridge, as FireRed
 * does at power-on), and the descriptor would point at nothing. */
static bool rom_alias(const core *c, const struct retro_memory_descriptor *d)
{
    const uint8_t *p = d->ptr;
    return p && p != c->rom && (d->flags & RETRO_MEMDESC_CONST) && d->len &&
           d->offset < c->rom_size && d->len <= c->rom_size - d->offset &&
           !memcmp(p + d->offset, c->rom + d->offset, d->len);
}

static void memory_maps_set(core *c, const struct retro_memory_map *map)
{
    c->map_generation++;
    free(c->descs);
    c->descs = calloc(map->num_descriptors ? map->num_descriptors : 1, sizeof *c->descs);
    c->n_descs = 0;
    if (!c->descs) return;
    for (unsigned i = 0; i < map->num_descriptors; i++) {
        const struct retro_memory_descriptor *d = &map->descriptors[i];
        core_desc *o = &c->descs[c->n_descs++];
        o->ptr = rom_alias(c, d) ? c->rom : d->ptr;
        o->offset = d->offset;
        o->start = d->start;
        o->select = d->select;
        o->disconnect = d->disconnect;
        o->len = d->len;
        o->flags = d->flags;
        snprintf(o->name, sizeof o->name, "%s", d->addrspace ? d->addrspace : "");
    }
}

/* The environment callback's commands, by topic. Each handler returns whether cmd is one of
 * its own, and then its answer to the core in *ok. */

/* The picture: its pixel format and geometry, and whether to draw it at all. */
static bool env_video(core *c, unsigned cmd, void *data, bool *ok)
{
    *ok = true;
    switch (cmd) {
    case RETRO_ENVIRONMENT_SET_PIXEL_FORMAT: {
        enum retro_pixel_format f = *(const enum retro_pixel_format *)data;
        *ok = f == RETRO_PIXEL_FORMAT_0RGB1555 || f == RETRO_PIXEL_FORMAT_XRGB8888 ||
              f == RETRO_PIXEL_FORMAT_RGB565;
        if (*ok) c->frame.format = (core_pixel_format)f;
        return true;
    }
    case RETRO_ENVIRONMENT_SET_SYSTEM_AV_INFO:
        c->av = *(const struct retro_system_av_info *)data;
        return true;
    case RETRO_ENVIRONMENT_SET_GEOMETRY:
        c->av.geometry = *(const struct retro_game_geometry *)data;
        return true;
    case RETRO_ENVIRONMENT_GET_AUDIO_VIDEO_ENABLE:
        /* bit 0 video, bit 1 audio: the picture only when the frame is captured, never sound */
        *(int *)data = c->capture ? 1 : 0;
        c->asked_av_enable = true;
        return true;
    case RETRO_ENVIRONMENT_GET_CAN_DUPE:
        *(bool *)data = true;
        return true;
    default:
        return false;
    }
}

/* Core options: the core declares them with their defaults, gbfarm's table and the user's
 * choices go over those, and the core reads them back. */
static bool env_options(core *c, unsigned cmd, void *data, bool *ok)
{
    *ok = true;
    switch (cmd) {
    case RETRO_ENVIRONMENT_GET_CORE_OPTIONS_VERSION:
        *(unsigned *)data = 0; /* cores then describe their options with SET_VARIABLES */
        return true;
    case RETRO_ENVIRONMENT_SET_VARIABLES:
        for (const struct retro_variable *v = data; v && v->key; v++) {
            char *def = variable_default(v->value ? v->value : "");
            if (def) option_set(c, v->key, def, false);
            free(def);
        }
        for (size_t i = 0; i < sizeof option_defaults / sizeof option_defaults[0]; i++)
            if (!strcmp(option_defaults[i].library, c->library))
                option_set(c, option_defaults[i].key, option_defaults[i].value, false);
        return true;
    case RETRO_ENVIRONMENT_SET_VARIABLE: {
        const struct retro_variable *v = data;
        if (v && v->key && v->value) option_set(c, v->key, v->value, false);
        return true;
    }
    case RETRO_ENVIRONMENT_GET_VARIABLE: {
        struct retro_variable *v = data;
        core_option_slot *o = v && v->key ? option_find(c, v->key) : NULL;
        if (v) v->value = o ? o->value : NULL;
        *ok = o != NULL;
        return true;
    }
    case RETRO_ENVIRONMENT_GET_VARIABLE_UPDATE:
        *(bool *)data = c->options_dirty;
        c->options_dirty = false;
        return true;
    default:
        return false;
    }
}

/* What the frontend is: its directories, log, input, language, messages and memory map. */
static bool env_frontend(core *c, unsigned cmd, void *data, bool *ok)
{
    *ok = true;
    switch (cmd) {
    case RETRO_ENVIRONMENT_GET_SYSTEM_DIRECTORY:
    case RETRO_ENVIRONMENT_GET_SAVE_DIRECTORY:
    case RETRO_ENVIRONMENT_GET_CORE_ASSETS_DIRECTORY:
        *(const char **)data = c->system_dir;
        return true;
    case RETRO_ENVIRONMENT_GET_LIBRETRO_PATH:
        *(const char **)data = c->so_path;
        return true;
    case RETRO_ENVIRONMENT_GET_LOG_INTERFACE:
        ((struct retro_log_callback *)data)->log = on_log;
        return true;
    case RETRO_ENVIRONMENT_SET_MEMORY_MAPS:
        memory_maps_set(c, data);
        return true;
    case RETRO_ENVIRONMENT_GET_INPUT_BITMASKS:
        return true;
    case RETRO_ENVIRONMENT_GET_INPUT_DEVICE_CAPABILITIES:
        *(uint64_t *)data = 1u << RETRO_DEVICE_JOYPAD;
        return true;
    case RETRO_ENVIRONMENT_GET_INPUT_MAX_USERS:
        *(unsigned *)data = 1;
        return true;
    case RETRO_ENVIRONMENT_GET_LANGUAGE:
        *(unsigned *)data = RETRO_LANGUAGE_ENGLISH;
        return true;
    case RETRO_ENVIRONMENT_GET_FASTFORWARDING:
        *(bool *)data = false;
        return true;
    case RETRO_ENVIRONMENT_SET_MESSAGE:
        log_msg(c, "message: %s\n", ((const struct retro_message *)data)->msg);
        return true;
    case RETRO_ENVIRONMENT_SET_MESSAGE_EXT:
        log_msg(c, "message: %s\n", ((const struct retro_message_ext *)data)->msg);
        return true;
    case RETRO_ENVIRONMENT_GET_MESSAGE_INTERFACE_VERSION:
        *(unsigned *)data = 1;
        return true;
    case RETRO_ENVIRONMENT_SET_SERIALIZATION_QUIRKS:
        c->serialization_quirks = *(const uint64_t *)data;
        return true;
    default:
        return false;
    }
}

/* Descriptions gbfarm does not need but accepts, as a frontend should: a plain yes. */
static const unsigned env_accepted[] = {
    RETRO_ENVIRONMENT_SET_PERFORMANCE_LEVEL,     RETRO_ENVIRONMENT_SET_INPUT_DESCRIPTORS,
    RETRO_ENVIRONMENT_SET_CONTROLLER_INFO,       RETRO_ENVIRONMENT_SET_SUBSYSTEM_INFO,
    RETRO_ENVIRONMENT_SET_SUPPORT_NO_GAME,       RETRO_ENVIRONMENT_SET_SUPPORT_ACHIEVEMENTS,
    RETRO_ENVIRONMENT_SET_CORE_OPTIONS_DISPLAY,  RETRO_ENVIRONMENT_SET_CONTENT_INFO_OVERRIDE,
    RETRO_ENVIRONMENT_SET_MINIMUM_AUDIO_LATENCY,
};

static bool RETRO_CALLCONV on_environment(unsigned cmd, void *data)
{
    static bool (*const handlers[])(core *, unsigned, void *, bool *) = {env_video, env_options,
                                                                         env_frontend};
    core *c = current;
    if (!c) return false;
    bool ok;
    for (size_t i = 0; i < sizeof handlers / sizeof handlers[0]; i++)
        if (handlers[i](c, cmd, data, &ok)) return ok;
    for (size_t i = 0; i < sizeof env_accepted / sizeof env_accepted[0]; i++)
        if (cmd == env_accepted[i]) return true;
    /* Interfaces gbfarm does not provide (rumble, camera, hardware rendering, VFS, disk
     * control, ...): "unsupported" is the correct answer for each. */
    return false;
}

static void RETRO_CALLCONV on_video(const void *data, unsigned width, unsigned height, size_t pitch)
{
    core *c = current;
    if (!c || !data) return; /* NULL: the core repeats the previous frame */
    c->frames_presented++;
    if (!c->capture) return;
    size_t bpp = c->frame.format == CORE_PIXEL_XRGB8888 ? 4 : 2;
    size_t row = (size_t)width * bpp, need = row * height;
    if (need > c->frame_cap) {
        uint8_t *grown = realloc(c->frame_buf, need);
        if (!grown) return;
        c->frame_buf = grown;
        c->frame_cap = need;
    }
    for (unsigned y = 0; y < height; y++)
        memcpy(c->frame_buf + y * row, (const uint8_t *)data + y * pitch, row);
    c->frame.data = c->frame_buf;
    c->frame.width = width;
    c->frame.height = height;
    c->frame.pitch = row;
}

static void RETRO_CALLCONV on_audio_sample(int16_t left, int16_t right) {}
static size_t RETRO_CALLCONV on_audio_batch(const int16_t *data, size_t frames)
{
    return frames;
}
static void RETRO_CALLCONV on_input_poll(void) {}

static int16_t RETRO_CALLCONV on_input_state(unsigned port, unsigned device, unsigned index,
                                             unsigned id)
{
    core *c = current;
    if (!c || port != 0 || (device & RETRO_DEVICE_MASK) != RETRO_DEVICE_JOYPAD) return 0;
    if (id == RETRO_DEVICE_ID_JOYPAD_MASK) return (int16_t)c->buttons;
    return id < 16 ? (c->buttons >> id) & 1 : 0;
}

/* Copies the rest of in to out: 0, or the errno of the first read (*in_failed) or write that
 * failed. */
static int copy_fd(int in, int out, bool *in_failed)
{
    char buf[1 << 16];
    ssize_t n;
    while ((n = read(in, buf, sizeof buf)) > 0) {
        ssize_t w = write(out, buf, (size_t)n);
        if (w != n) {
            *in_failed = false;
            return w < 0 ? errno : EIO;
        }
    }
    *in_failed = true;
    return n < 0 ? errno : 0;
}

/* Copies the .so to a private temporary file, so that dlopen gives this instance its own
 * globals; the file is unlinked at once (the mapping keeps it alive). */
static gb_error *open_private_copy(core *c, const char *path)
{
    int in = open(path, O_RDONLY | O_CLOEXEC);
    if (in < 0) return gb_errorf("%s: cannot open core: %s", path, strerror(errno));
    const char *tmp = getenv("TMPDIR");
    char copy[4096];
    snprintf(copy, sizeof copy, "%s/gbfarm-core-XXXXXX.so", tmp && *tmp ? tmp : "/tmp");
    int out = mkstemps(copy, 3);
    if (out < 0) {
        close(in);
        return gb_errorf("%s: cannot create a private copy of the core: %s", copy, strerror(errno));
    }
    bool in_failed;
    int e = copy_fd(in, out, &in_failed);
    gb_error *err = NULL;
    if (e && in_failed) err = gb_errorf("%s: cannot read core: %s", path, strerror(e));
    if (e && !in_failed)
        err = gb_errorf("%s: cannot write a private copy of the core: %s", copy, strerror(e));
    close(in);
    close(out);
    if (!err) {
        c->dl = dlopen(copy, RTLD_NOW | RTLD_LOCAL);
        if (!c->dl) err = gb_errorf("%s: not a loadable libretro core: %s", path, dlerror());
    }
    unlink(copy);
    return err;
}

static gb_error *bind_symbols(core *c, const char *path)
{
#define SYM(name)                                                                                  \
    do {                                                                                           \
        *(void **)&c->api.name = dlsym(c->dl, "retro_" #name);                                     \
        if (!c->api.name)                                                                          \
            return gb_errorf("%s: not a libretro core: symbol retro_%s is missing", path, #name);  \
    } while (0)
    SYM(set_environment);
    SYM(set_video_refresh);
    SYM(set_audio_sample);
    SYM(set_audio_sample_batch);
    SYM(set_input_poll);
    SYM(set_input_state);
    SYM(init);
    SYM(deinit);
    SYM(api_version);
    SYM(get_system_info);
    SYM(get_system_av_info);
    SYM(set_controller_port_device);
    SYM(reset);
    SYM(run);
    SYM(serialize_size);
    SYM(serialize);
    SYM(unserialize);
    SYM(load_game);
    SYM(unload_game);
    SYM(get_memory_data);
    SYM(get_memory_size);
#undef SYM
    return NULL;
}

static void rom_copy_free(rom_copy *r)
{
    if (r->bytes && r->size)
        munmap(r->bytes, r->size);
    else
        free(r->bytes);
    if (r->fd >= 0) close(r->fd);
    free(r);
}

/* A new copy of the open ROM file in (st: its fstat), path naming it in errors. */
static gb_error *rom_copy_new(rom_copy **out, int in, const struct stat *st, const char *path)
{
    rom_copy *r = calloc(1, sizeof *r);
    if (!r) return gb_errorf("%s: out of memory for the ROM", path);
    r->file = *st;
    r->fd = memfd_create("gbfarm-rom", MFD_CLOEXEC | MFD_ALLOW_SEALING);
    bool in_failed = false;
    int e = r->fd < 0 ? errno : copy_fd(in, r->fd, &in_failed);
    struct stat copied;
    if (!e && fstat(r->fd, &copied) != 0) e = errno;
    if (!e) {
        /* Sealed: nothing can write, shrink or grow it (a failure here loses only that). */
        fcntl(r->fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE | F_SEAL_SEAL);
        r->size = (size_t)copied.st_size;
        r->bytes = r->size ? mmap(NULL, r->size, PROT_READ, MAP_SHARED, r->fd, 0) : malloc(1);
        if (r->bytes == MAP_FAILED) r->bytes = NULL;
        if (!r->bytes) e = r->size ? errno : ENOMEM;
    }
    if (e) {
        rom_copy_free(r);
        if (in_failed) return gb_errorf("%s: cannot read ROM", path);
        return gb_errorf("%s: cannot hold the ROM in memory: %s", path, strerror(e));
    }
    snprintf(r->path, sizeof r->path, "/proc/self/fd/%d", r->fd);
    if (access(r->path, R_OK) != 0) r->path[0] = '\0';
    *out = r;
    return NULL;
}

/* Points c->rom at the process's copy of the ROM file at path, making the copy if the file is
 * new or has changed since. */
static gb_error *rom_acquire(core *c, const char *path)
{
    int in = open(path, O_RDONLY | O_CLOEXEC);
    if (in < 0) return gb_errorf("%s: cannot open ROM: %s", path, strerror(errno));
    struct stat st;
    if (fstat(in, &st) != 0 || !S_ISREG(st.st_mode)) {
        close(in);
        return gb_errorf("%s: ROM is not a regular file", path);
    }
    pthread_mutex_lock(&load_mutex);
    rom_copy *r = rom_copies;
    while (r && !(r->file.st_dev == st.st_dev && r->file.st_ino == st.st_ino &&
                  r->file.st_size == st.st_size && r->file.st_mtim.tv_sec == st.st_mtim.tv_sec &&
                  r->file.st_mtim.tv_nsec == st.st_mtim.tv_nsec))
        r = r->next;
    gb_error *err = NULL;
    if (!r) {
        err = rom_copy_new(&r, in, &st, path);
        if (!err) {
            r->next = rom_copies;
            rom_copies = r;
        }
    }
    if (!err) {
        r->users++;
        c->rom_copy = r;
        c->rom = r->bytes;
        c->rom_size = r->size;
    }
    pthread_mutex_unlock(&load_mutex);
    close(in);
    return err;
}

static void rom_release(core *c)
{
    rom_copy *r = c->rom_copy;
    if (!r) return;
    pthread_mutex_lock(&load_mutex);
    if (--r->users == 0) {
        rom_copy **p = &rom_copies;
        while (*p != r) p = &(*p)->next;
        *p = r->next;
        rom_copy_free(r);
    }
    pthread_mutex_unlock(&load_mutex);
    c->rom_copy = NULL, c->rom = NULL;
}

/* Regions for cores that register no memory map: the RAM blocks at the platform's bases. */
static void memory_fallback(core *c, core_platform platform)
{
    static const struct {
        unsigned id;
        uint32_t gb, gba;
        const char *name;
    } blocks[] = {
        {RETRO_MEMORY_SYSTEM_RAM, 0xC000, 0x02000000, "WRAM"},
        {RETRO_MEMORY_SAVE_RAM, 0xA000, 0x0E000000, "SRAM"},
        {RETRO_MEMORY_VIDEO_RAM, 0x8000, 0x06000000, "VRAM"},
    };
    c->descs = calloc(3, sizeof *c->descs);
    c->n_descs = 0;
    if (!c->descs) return;
    for (int i = 0; i < 3; i++) {
        void *p = c->api.get_memory_data(blocks[i].id);
        size_t n = c->api.get_memory_size(blocks[i].id);
        if (!p || !n) continue;
        core_desc *d = &c->descs[c->n_descs++];
        d->ptr = p;
        d->start = platform == CORE_PLATFORM_GBA ? blocks[i].gba : blocks[i].gb;
        d->len = n;
        snprintf(d->name, sizeof d->name, "%s", blocks[i].name);
    }
}

static void library_key(char *out, size_t n, const char *library_name)
{
    size_t i = 0;
    for (; library_name[i] && i + 1 < n; i++)
        out[i] = (char)tolower((unsigned char)library_name[i]);
    out[i] = '\0';
}

/* What needs no core code: paths, the log, the user's options and the ROM's bytes. */
static gb_error *core_prepare(core *c, const core_config *cfg)
{
    c->so_path = strdup(cfg->core_path);
    c->platform = cfg->platform;
    snprintf(c->system_dir, sizeof c->system_dir, "%s",
             getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
    if (cfg->log_path) {
        c->log = fopen(cfg->log_path, "a");
        if (!c->log)
            return gb_errorf("%s: cannot open core log: %s", cfg->log_path, strerror(errno));
        setvbuf(c->log, NULL, _IOLBF, 0);
    }
    for (int i = 0; i < cfg->n_options; i++)
        option_set(c, cfg->options[i].key, cfg->options[i].value, true);
    return rom_acquire(c, cfg->rom_path);
}

/* Names the core, hands it gbfarm's callbacks and initialises it. */
static void core_init(core *c)
{
    struct retro_system_info si = {0};
    c->api.get_system_info(&si);
    library_key(c->library, sizeof c->library, si.library_name ? si.library_name : "");
    c->name = strdup(si.library_name ? si.library_name : "?");
    c->version = strdup(si.library_version ? si.library_version : "?");
    c->extensions = strdup(si.valid_extensions ? si.valid_extensions : "");
    c->frame.format = CORE_PIXEL_0RGB1555; /* libretro's default until the core says */
    c->api.set_environment(on_environment);
    c->api.set_video_refresh(on_video);
    c->api.set_audio_sample(on_audio_sample);
    c->api.set_audio_sample_batch(on_audio_batch);
    c->api.set_input_poll(on_input_poll);
    c->api.set_input_state(on_input_state);
    c->api.init();
    c->initialized = true;
}

static bool loads_path(const core *c)
{
    for (size_t i = 0; i < sizeof path_loaders / sizeof path_loaders[0]; i++)
        if (!strcmp(path_loaders[i], c->library)) return true;
    return false;
}

/* Loads the ROM into the core with fd 1 pointed at /dev/null: Gambatte prints there. A core
 * that needs the full path gets the file's path alone, as libretro says; one of path_loaders
 * the path of the process's copy alone; any other the copy's bytes, with the file's path. */
static gb_error *core_load_game(core *c, const char *rom_path)
{
    struct retro_system_info si = {0};
    c->api.get_system_info(&si);
    struct retro_game_info game = {rom_path, c->rom, c->rom_size, NULL};
    const rom_copy *r = c->rom_copy;
    if (si.need_fullpath)
        game.data = NULL, game.size = 0;
    else if (loads_path(c) && r && r->path[0])
        game = (struct retro_game_info){r->path, NULL, 0, NULL};
    fflush(stdout);
    int saved_stdout = dup(STDOUT_FILENO);
    int devnull = open("/dev/null", O_WRONLY | O_CLOEXEC);
    if (saved_stdout >= 0 && devnull >= 0) dup2(devnull, STDOUT_FILENO);
    bool loaded = c->api.load_game(&game);
    fflush(stdout);
    if (saved_stdout >= 0) {
        dup2(saved_stdout, STDOUT_FILENO);
        close(saved_stdout);
    }
    if (devnull >= 0) close(devnull);
    if (!loaded)
        return gb_errorf("%s: core %s could not load this ROM (expected one of: %s)", rom_path,
                         c->name, c->extensions);
    c->loaded = true;
    return NULL;
}

/* The part under load_mutex: the private copy, its symbols, init and the ROM. */
static gb_error *core_load(core *c, const core_config *cfg)
{
    pthread_mutex_lock(&load_mutex);
    gb_error *err = open_private_copy(c, cfg->core_path);
    if (!err) err = bind_symbols(c, cfg->core_path);
    if (!err && c->api.api_version() != RETRO_API_VERSION)
        err = gb_errorf("%s: libretro API version %u, expected %u", cfg->core_path,
                        c->api.api_version(), RETRO_API_VERSION);
    if (!err) {
        core_init(c);
        err = core_load_game(c, cfg->rom_path);
    }
    pthread_mutex_unlock(&load_mutex);
    return err;
}

gb_error *core_open(core **out, const core_config *cfg)
{
    *out = NULL;
    core *c = calloc(1, sizeof *c);
    if (!c) return gb_errorf("out of memory for a core");
    gb_error *err = core_prepare(c, cfg);
    if (err) {
        core_close(c);
        return err;
    }
    core *saved = current;
    current = c;
    err = core_load(c, cfg);
    if (!err) {
        c->api.set_controller_port_device(0, RETRO_DEVICE_JOYPAD);
        c->api.get_system_av_info(&c->av);
        if (c->n_descs == 0)
            memory_fallback(c, cfg->platform);
        else
            c->memory_map = true;
    }
    current = saved;
    if (err) {
        core_close(c);
        return err;
    }
    *out = c;
    return NULL;
}

void core_close(core *c)
{
    if (!c) return;
    core *saved = current;
    current = c;
    if (c->loaded) c->api.unload_game();
    if (c->initialized) c->api.deinit();
    current = saved;
    if (c->dl) { /* serialised like dlopen: ThreadSanitizer cannot see the loader's own lock */
        pthread_mutex_lock(&load_mutex);
        dlclose(c->dl);
        pthread_mutex_unlock(&load_mutex);
    }
    for (int i = 0; i < c->n_opts; i++) {
        free(c->opts[i].key);
        free(c->opts[i].value);
    }
    free(c->opts);
    free(c->descs);
    free(c->frame_buf);
    rom_release(c);
    free(c->so_path);
    free(c->name);
    free(c->version);
    free(c->extensions);
    if (c->log) fclose(c->log);
    free(c);
}

void core_set_buttons(core *c, uint16_t buttons)
{
    c->buttons = buttons;
}

void core_reset(core *c)
{
    current = c;
    c->api.reset();
}

void core_run(core *c, bool capture)
{
    current = c;
    c->capture = capture;
    c->api.run();
    c->frames_run++;
}

const core_frame *core_frame_get(const core *c)
{
    return &c->frame;
}

/* Removes the bits set in mask from x, closing the gaps (the memory map's "disconnect"). */
static uint64_t squeeze_out(uint64_t x, uint64_t mask)
{
    while (mask) {
        uint64_t low = mask & -mask;
        x = (x & (low - 1)) | ((x >> 1) & ~(low - 1));
        mask = (mask & ~low) >> 1;
    }
    return x;
}

/* Host pointer for one bus address, following libretro.h's order: subtract start, pick off
 * disconnect, apply len, add offset. The first descriptor to claim the address applies. */
static uint8_t *address_to_host(const core *c, uint32_t address, int *which)
{
    for (int i = 0; i < c->n_descs; i++) {
        const core_desc *d = &c->descs[i];
        if (d->select ? ((address ^ d->start) & d->select) != 0
                      : (address < d->start || address - d->start >= d->len))
            continue;
        if (!d->ptr) return NULL; /* claimed, but not memory (registers, open bus) */
        uint64_t off = squeeze_out(address - d->start, d->disconnect);
        if (d->len)
            while (off >= d->len) {
                uint64_t top = 1;
                while (top <= off >> 1) top <<= 1;
                off &= ~top;
            }
        *which = i;
        return (uint8_t *)d->ptr + d->offset + off;
    }
    return NULL;
}

gb_error *core_resolve(void *ctx, uint32_t address, uint32_t length, uint8_t **out)
{
    const core *c = ctx;
    int first = -1, last = -1;
    uint8_t *p = address_to_host(c, address, &first);
    uint8_t *q = length > 1 ? address_to_host(c, address + length - 1, &last) : p;
    /* The caller names the address (game_bind: "info.NAME: address 0x... is not mapped"). */
    if (!p || !q) return gb_errorf("it is not in any RAM region of core %s", c->name);
    if (length > 1 && (first != last || q != p + length - 1))
        return gb_errorf("it crosses the end of a RAM region of core %s", c->name);
    *out = p;
    return NULL;
}

size_t core_state_size(core *c)
{
    current = c;
    return c->api.serialize_size();
}

gb_error *core_save_state(core *c, void *buf, size_t size)
{
    current = c;
    if (!c->api.serialize(buf, size))
        return gb_errorf("core %s could not save its state (%zu bytes)", c->name, size);
    return NULL;
}

gb_error *core_load_state(core *c, const void *buf, size_t size, const char *what)
{
    current = c;
    size_t expected = c->api.serialize_size();
    if (size != expected)
        return gb_errorf("%s: state is %zu bytes but core %s with this ROM makes %zu-byte states: "
                         "it was made by another core or for another ROM",
                         what, size, c->name, expected);
    if (!c->api.unserialize(buf, size))
        return gb_errorf("%s: core %s rejected the state (corrupt, or another core's)", what,
                         c->name);
    return NULL;
}

void core_get_info(const core *c, core_info *out)
{
    static _Thread_local core_region regions[64];
    int n = c->n_descs < 64 ? c->n_descs : 64;
    for (int i = 0; i < n; i++) {
        const core_desc *d = &c->descs[i];
        uint32_t extent = d->len ? (uint32_t)d->len : (uint32_t)(~d->select & 0xFFFFFFFFu) + 1;
        if (d->select && d->len && (~d->select & 0xFFFFFFFFu) + 1 < d->len)
            extent = (uint32_t)(~d->select & 0xFFFFFFFFu) + 1;
        regions[i] = (core_region){(uint32_t)d->start, extent, d->flags, d->name};
    }
    *out = (core_info){
        .name = c->name,
        .version = c->version,
        .extensions = c->extensions,
        .base_width = c->av.geometry.base_width,
        .base_height = c->av.geometry.base_height,
        .max_width = c->av.geometry.max_width,
        .max_height = c->av.geometry.max_height,
        .fps = c->av.timing.fps,
        .sample_rate = c->av.timing.sample_rate,
        .format = c->frame.format,
        .regions = regions,
        .n_regions = n,
        .memory_map = c->memory_map,
    };
}

const char *core_path(const core *c)
{
    return c->so_path;
}

unsigned core_memory_generation(const core *c)
{
    return c->map_generation;
}
uint64_t core_frames_run(const core *c)
{
    return c->frames_run;
}
