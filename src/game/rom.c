/* The ROM check: the user's ROM must be the dump the folder's states and addresses were made
 * for. */
#include <errno.h>
#include <nettle/sha1.h>
#include <stdio.h>
#include <string.h>

#include "vars.h"

gb_error *game_sha1_file(const char *path, char out[41])
{
    FILE *f = fopen(path, "rb");
    if (!f) return gb_errorf("%s: cannot read ROM: %s", path, strerror(errno));
    struct sha1_ctx ctx;
    sha1_init(&ctx);
    uint8_t buf[1 << 16];
    size_t n;
    while ((n = fread(buf, 1, sizeof buf, f)) > 0) sha1_update(&ctx, n, buf);
    bool failed = ferror(f);
    int err = errno;
    fclose(f);
    if (failed) return gb_errorf("%s: cannot read ROM: %s", path, strerror(err));
    uint8_t digest[SHA1_DIGEST_SIZE];
    sha1_digest(&ctx, sizeof digest, digest);
    for (int i = 0; i < SHA1_DIGEST_SIZE; i++) snprintf(out + 2 * i, 3, "%02x", digest[i]);
    return NULL;
}

gb_error *game_check_rom(const game_spec *spec, const char *rom_path)
{
    char sha[41];
    GB_TRY(game_sha1_file(rom_path, sha));
    if (!spec->rom_sha1[0] || !strcmp(sha, spec->rom_sha1)) return NULL;
    const game_vars *gv = spec->vars;
    for (int i = 0; gv && i < gv->n_rom_sha1_alt; i++)
        if (!strcmp(sha, gv->rom_sha1_alt[i])) return NULL;
    return gb_errorf("%s: ROM SHA-1 is %s, but game %s expects %s%s (a different dump or "
                     "revision: states and RAM addresses may not match)",
                     rom_path, sha, spec->dir, spec->rom_sha1,
                     gv && gv->n_rom_sha1_alt ? " or another hash listed in rom.sha" : "");
}
