/* gbfarm info: what a core makes of a ROM. */
#include <libretro.h>
#include <stdio.h>
#include <string.h>

#include "commands.h"
#include "gbfarm/nn.h"
#include "gbfarm/game_args.h"

static const char help[] =
    "usage: gbfarm info [--rom FILE] [--core NAME|PATH] [--game DIR]\n"
    "Loads the ROM in the core and prints the core's name and version and\n"
    "why that core, the platform, screen geometry, frame rate, pixel format,\n"
    "memory regions and save-state size.\n\n";

static const char *platform_name(core_platform p)
{
    return p == CORE_PLATFORM_GBA   ? "Game Boy Advance"
           : p == CORE_PLATFORM_GBC ? "Game Boy Color"
                                    : "Game Boy";
}

/* Which core, and why: --core, the game folder's, or the default for a bare ROM. */
static void print_core_choice(const game_setup *s, const game_args *a)
{
    if (a->core && s->game)
        printf("core from     --core (game %s names %s)\n", s->game->dir, s->game->core);
    else if (a->core)
        printf("core from     --core\n");
    else if (s->game)
        printf("core from     game %s (game.json)\n", s->game->dir);
    else
        printf("core from     the default for a ROM outside a game folder (--core to choose)\n");
}

/* What the core says about itself and the ROM; ctx is the command's game_args. */
static gb_error *describe(void *ctx, core *c, const game_setup *s)
{
    core_platform platform = CORE_PLATFORM_GB;
    core_detect_platform(s->rom, &platform);
    core_run(c, true); /* one frame, so the pixel format and picture are known */
    core_info in;
    core_get_info(c, &in);
    const core_frame *f = core_frame_get(c);
    printf("core          %s %s (%s)\n", in.name, in.version, core_path(c));
    print_core_choice(s, ctx);
    printf("extensions    %s\n", in.extensions);
    printf("rom           %s\n", s->rom);
    printf("platform      %s\n", platform_name(platform));
    printf("geometry      %ux%u (max %ux%u), first frame %ux%u\n", in.base_width, in.base_height,
           in.max_width, in.max_height, f->width, f->height);
    printf("timing        %.4f fps, audio %.0f Hz\n", in.fps, in.sample_rate);
    printf("pixel format  %s\n", core_pixel_format_name(in.format));
    printf("state size    %zu bytes\n", core_state_size(c));
    printf("blas          %s, %d cores\n", nn_blas_kernels(), nn_cpu_count());
    printf("convolutions  gbfarm's %s kernels; bf16 multiplies (--precision bf16): %s\n",
           nn_gemm_isa(), nn_bf16_supported() ? "yes" : "no (no AVX512_BF16)");
    printf("memory        %s, %d regions:\n",
           in.memory_map ? "memory map (SET_MEMORY_MAPS)" : "fallback (retro_get_memory_data)",
           in.n_regions);
    for (int i = 0; i < in.n_regions; i++) {
        const core_region *r = &in.regions[i];
        printf("  0x%08X-0x%08X %8u bytes  %-8s%s%s%s\n", r->start, r->start + r->length - 1,
               r->length, r->name, r->flags & RETRO_MEMDESC_SYSTEM_RAM ? " system-ram" : "",
               r->flags & RETRO_MEMDESC_SAVE_RAM ? " save-ram" : "",
               r->flags & RETRO_MEMDESC_CONST ? " const" : "");
    }
    return NULL;
}

int cmd_info(int argc, char **argv)
{
    game_args a;
    game_args_init(&a);
    gb_error *err = NULL;
    for (int i = 1; i < argc && !err; i++) {
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            printf("%s%s", help, rom_core_args_help);
            return 0;
        }
        if (!rom_core_args_parse(&a, argc, argv, &i, &err))
            err = gb_errorf("info: unknown option '%s' (see gbfarm info --help)", argv[i]);
    }
    return cli_rom_core_run(&a, err, describe, &a);
}
