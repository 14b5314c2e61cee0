/* romfix: fill in the header checksums of the bundled homebrew ROMs, and check the
 * fixed header bytes a real boot ROM / BIOS compares.
 *
 *   romfix gb  FILE   Game Boy: header checksum at 0x14D, global checksum at 0x14E
 *   romfix gba FILE   Game Boy Advance: complement check at 0xBD (fixed 0x96 at 0xB2)
 *
 * The logo bytes themselves come from the games' own start-up sources; romfix only
 * verifies them (by their well-known checksums) so a typo cannot go unnoticed. Built by
 * tools/build-roms with the host cc; needs nothing but the C library. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static unsigned char *load(const char *path, long *size)
{
    FILE *f = fopen(path, "rb");
    unsigned char *buf;
    if (!f) {
        perror(path);
        exit(1);
    }
    fseek(f, 0, SEEK_END);
    *size = ftell(f);
    fseek(f, 0, SEEK_SET);
    buf = malloc(*size ? *size : 1);
    if (!buf || fread(buf, 1, *size, f) != (size_t)*size) {
        fprintf(stderr, "%s: read failed\n", path);
        exit(1);
    }
    fclose(f);
    return buf;
}

static void save(const char *path, const unsigned char *buf, long size)
{
    FILE *f = fopen(path, "wb");
    if (!f || fwrite(buf, 1, size, f) != (size_t)size || fclose(f) != 0) {
        perror(path);
        exit(1);
    }
}

/* sum and xor of a byte range, a cheap fingerprint for the logo check */
static void fingerprint(const unsigned char *p, int n, unsigned *sum, unsigned *x)
{
    int i;
    *sum = 0;
    *x = 0;
    for (i = 0; i < n; i++) {
        *sum += p[i];
        *x = ((*x << 1) | (*x >> 31)) ^ p[i];
    }
}

int main(int argc, char **argv)
{
    long size, i;
    unsigned char *rom;
    unsigned sum, x;
    if (argc != 3 || (strcmp(argv[1], "gb") && strcmp(argv[1], "gba"))) {
        fprintf(stderr, "usage: romfix gb|gba FILE\n");
        return 2;
    }
    rom = load(argv[2], &size);
    if (!strcmp(argv[1], "gb")) {
        unsigned char hc = 0;
        unsigned gc = 0;
        if (size < 0x8000 || (size & 0x3FFF)) {
            fprintf(stderr, "%s: size %ld is not a whole number of 16 KiB banks\n", argv[2], size);
            return 1;
        }
        fingerprint(rom + 0x104, 48, &sum, &x);
        if (sum != 5446 || rom[0x104] != 0xCE || rom[0x133] != 0x3E) {
            fprintf(stderr, "%s: the Nintendo logo at 0x104 is wrong (sum %u)\n", argv[2], sum);
            return 1;
        }
        for (i = 0x134; i <= 0x14C; i++) hc = (unsigned char)(hc - rom[i] - 1);
        rom[0x14D] = hc;
        for (i = 0; i < size; i++)
            if (i != 0x14E && i != 0x14F) gc += rom[i];
        rom[0x14E] = (unsigned char)(gc >> 8);
        rom[0x14F] = (unsigned char)gc;
    } else {
        unsigned char c = 0;
        if (size < 0xC0) {
            fprintf(stderr, "%s: too small for a GBA header\n", argv[2]);
            return 1;
        }
        fingerprint(rom + 0x04, 156, &sum, &x);
        if (sum != 19227 || rom[0x04] != 0x24 || rom[0x9F] != 0x07) {
            fprintf(stderr, "%s: the Nintendo logo at 0x04 is wrong (sum %u)\n", argv[2], sum);
            return 1;
        }
        if (rom[0xB2] != 0x96) {
            fprintf(stderr, "%s: byte 0xB2 must be 0x96\n", argv[2]);
            return 1;
        }
        for (i = 0xA0; i <= 0xBC; i++) c = (unsigned char)(c - rom[i]);
        rom[0xBD] = (unsigned char)(c - 0x19);
    }
    save(argv[2], rom, size);
    return 0;
}
