/* Save-state files: gzip round trip, and clear errors for truncated, corrupt, empty or
 * missing files. */
#include <stdint.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>

#include "check.h"
#include "gbfarm/state.h"

static void write_bytes(const char *path, const void *data, size_t n)
{
    FILE *f = fopen(path, "wb");
    REQUIRE(f && fwrite(data, 1, n, f) == n);
    fclose(f);
}

static void expect_error(const char *path, const char *fragment)
{
    uint8_t *buf = NULL;
    size_t size = 0;
    gb_error *err = state_read(path, &buf, &size);
    CHECKF(err != NULL, "%s: no error", path);
    if (err) {
        CHECKF(strstr(gb_error_msg(err), path) != NULL, "message does not name the file: %s",
               gb_error_msg(err));
        CHECKF(strstr(gb_error_msg(err), fragment) != NULL, "expected '%s' in: %s", fragment,
               gb_error_msg(err));
    }
    CHECK(buf == NULL);
    gb_error_free(err);
}

int main(void)
{
    char dir[] = "/tmp/gbfarm-test-state-XXXXXX";
    REQUIRE(mkdtemp(dir));
    char path[256], bad[256];
    snprintf(path, sizeof path, "%s/a.state", dir);

    /* 300 KB of pseudo-random-ish bytes: larger than the reader's first buffer. */
    size_t n = 300000;
    uint8_t *data = malloc(n);
    for (size_t i = 0; i < n; i++) data[i] = (uint8_t)((i * 2654435761u) >> 13);
    REQUIRE_OK(state_write(path, data, n));

    uint8_t *back = NULL;
    size_t size = 0;
    CHECK_OK(state_read(path, &back, &size));
    CHECK(size == n && back && memcmp(back, data, n) == 0);
    free(back);

    /* It is real gzip (what stable-retro writes and reads). */
    FILE *f = fopen(path, "rb");
    uint8_t magic[2] = {0};
    REQUIRE(f && fread(magic, 1, 2, f) == 2);
    fclose(f);
    CHECK(magic[0] == 0x1f && magic[1] == 0x8b);

    /* Truncated: the first half of the compressed file. */
    f = fopen(path, "rb");
    uint8_t gz[1 << 20];
    size_t gz_len = fread(gz, 1, sizeof gz, f);
    fclose(f);
    snprintf(bad, sizeof bad, "%s/truncated.state", dir);
    write_bytes(bad, gz, gz_len / 2);
    expect_error(bad, "truncated");

    /* Corrupt: flip bytes in the middle of the deflate stream. */
    for (size_t i = gz_len / 3; i < gz_len / 3 + 16; i++) gz[i] ^= 0x5A;
    snprintf(bad, sizeof bad, "%s/corrupt.state", dir);
    write_bytes(bad, gz, gz_len);
    expect_error(bad, "corrupt");

    snprintf(bad, sizeof bad, "%s/empty.state", dir);
    write_bytes(bad, "", 0);
    expect_error(bad, "empty");

    snprintf(bad, sizeof bad, "%s/missing.state", dir);
    expect_error(bad, "cannot open");

    /* Writing into a directory that does not exist fails and names the path. */
    snprintf(bad, sizeof bad, "%s/no/such/dir.state", dir);
    gb_error *err = state_write(bad, data, 10);
    CHECK(err && strstr(gb_error_msg(err), bad));
    gb_error_free(err);

    free(data);
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    CHECK(system(cmd) == 0);
    return check_summary();
}
