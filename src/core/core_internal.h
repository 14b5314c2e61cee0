/* The core object, shared by the files of src/core only. */
#ifndef GBFARM_CORE_INTERNAL_H
#define GBFARM_CORE_INTERNAL_H

#include <libretro.h>
#include <stdio.h>

#include "gbfarm/core.h"

typedef struct core_option_slot {
    char *key, *value;
    bool user; /* set by the user: neither gbfarm's table nor the core overrides it */
} core_option_slot;

typedef struct core_desc {
    void *ptr;
    size_t offset, start, select, disconnect, len;
    uint64_t flags;
    char name[16];
} core_desc;

struct core {
    void *dl;
    struct {
        void (*set_environment)(retro_environment_t);
        void (*set_video_refresh)(retro_video_refresh_t);
        void (*set_audio_sample)(retro_audio_sample_t);
        void (*set_audio_sample_batch)(retro_audio_sample_batch_t);
        void (*set_input_poll)(retro_input_poll_t);
        void (*set_input_state)(retro_input_state_t);
        void (*init)(void);
        void (*deinit)(void);
        unsigned (*api_version)(void);
        void (*get_system_info)(struct retro_system_info *);
        void (*get_system_av_info)(struct retro_system_av_info *);
        void (*set_controller_port_device)(unsigned, unsigned);
        void (*reset)(void);
        void (*run)(void);
        size_t (*serialize_size)(void);
        bool (*serialize)(void *, size_t);
        bool (*unserialize)(const void *, size_t);
        bool (*load_game)(const struct retro_game_info *);
        void (*unload_game)(void);
        void *(*get_memory_data)(unsigned);
        size_t (*get_memory_size)(unsigned);
    } api;
    bool initialized, loaded;

    char *so_path, *name, *version, *extensions;
    char library[32]; /* library name, lower-cased: the key of the option defaults */
    char system_dir[4096];
    core_platform platform;
    struct rom_copy *rom_copy; /* the process's copy of the ROM file (core.c) */
    uint8_t *rom;              /* its bytes */
    size_t rom_size;
    FILE *log;

    core_option_slot *opts;
    int n_opts, cap_opts;
    bool options_dirty;

    struct retro_system_av_info av;
    core_desc *descs;
    int n_descs;
    unsigned map_generation; /* bumped each time the core registers its memory map */
    bool memory_map;
    uint64_t serialization_quirks;

    uint16_t buttons;
    bool capture, asked_av_enable;
    core_frame frame;
    uint8_t *frame_buf;
    size_t frame_cap;
    uint64_t frames_run, frames_presented;
};

#endif
