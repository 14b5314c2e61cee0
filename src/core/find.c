/* Finding a core by name, and telling a ROM's platform from its header. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "gbfarm/core.h"

#ifndef GBFARM_SYSTEM_CORE_DIR
#define GBFARM_SYSTEM_CORE_DIR "/usr/lib/x86_64-linux-gnu/libretro"
#endif

static bool is_file(const char *path)
{
    return access(path, R_OK) == 0;
}

gb_error *core_find(const char *name, char *out, size_t out_size)
{
    if (!name || !*name) return gb_errorf("--core: expected a core name or a path, found nothing");
    if (strchr(name, '/') || strstr(name, ".so")) {
        if (!is_file(name))
            return gb_errorf("%s: core not found or unreadable (%s)", name, strerror(errno));
        snprintf(out, out_size, "%s", name);
        return NULL;
    }
    for (const char *p = name; *p; p++)
        if (!(*p == '_' || *p == '-' || (*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9')))
            return gb_errorf("--core: '%s' is neither a core name (like mgba) nor a path", name);
    const char *env = getenv("GBFARM_CORE_PATH");
    const char *dirs[] = {"cores", env && *env ? env : NULL, GBFARM_SYSTEM_CORE_DIR};
    for (size_t i = 0; i < sizeof dirs / sizeof dirs[0]; i++) {
        if (!dirs[i]) continue;
        snprintf(out, out_size, "%s/%s_libretro.so", dirs[i], name);
        if (is_file(out)) return NULL;
    }
    return gb_errorf("core '%s' not found: looked for %s_libretro.so in ./cores, "
                     "$GBFARM_CORE_PATH%s%s%s and %s (Debian: apt-get install libretro-%s; or "
                     "pass --core /path/to/%s_libretro.so)",
                     name, name, env && *env ? " (" : "", env && *env ? env : "",
                     env && *env ? ")" : "", GBFARM_SYSTEM_CORE_DIR, name, name);
}

gb_error *core_detect_platform(const char *rom_path, core_platform *out)
{
    FILE *f = fopen(rom_path, "rb");
    if (!f) return gb_errorf("%s: cannot open ROM: %s", rom_path, strerror(errno));
    uint8_t h[0x150];
    size_t n = fread(h, 1, sizeof h, f);
    fclose(f);
    /* GBA: the fixed value 0x96 at 0xB2 and an ARM branch at 0 (0xEA in its top byte). */
    if (n >= 0xC0 && h[0xB2] == 0x96 && h[3] == 0xEA) {
        *out = CORE_PLATFORM_GBA;
        return NULL;
    }
    /* GB: the boot logo's first bytes at 0x104; 0x143 bit 7 marks Color support. */
    static const uint8_t logo[4] = {0xCE, 0xED, 0x66, 0x66};
    if (n >= 0x150 && !memcmp(h + 0x104, logo, sizeof logo)) {
        *out = (h[0x143] & 0x80) ? CORE_PLATFORM_GBC : CORE_PLATFORM_GB;
        return NULL;
    }
    return gb_errorf("%s: not a Game Boy, Game Boy Color or Game Boy Advance ROM (no valid "
                     "cartridge header)",
                     rom_path);
}
