/* TensorBoard event files: CRC32C against its check value, the exact bytes of a scalar
 * record, and a write/parse-back round trip in which every record's two CRCs are verified
 * and the protobuf fields decoded. A flipped byte must be caught. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "check.h"
#include "gbfarm/tensorboard.h"

static char dir[] = "/tmp/gbfarm-test-tensorboard-XXXXXX";

static uint8_t *slurp(const char *path, long *n)
{
    FILE *fp = fopen(path, "rb");
    if (!fp) return NULL;
    fseek(fp, 0, SEEK_END);
    *n = ftell(fp);
    fseek(fp, 0, SEEK_SET);
    uint8_t *s = malloc((size_t)*n + 1);
    if (fread(s, 1, (size_t)*n, fp) != (size_t)*n) *n = 0;
    fclose(fp);
    return s;
}

static void spit(const char *path, const uint8_t *data, long n)
{
    FILE *fp = fopen(path, "wb");
    REQUIRE(fp && fwrite(data, 1, (size_t)n, fp) == (size_t)n);
    fclose(fp);
}

static void test_crc(void)
{
    CHECK(tb_crc32c("123456789", 9) == 0xE3069283u);
    CHECK(tb_crc32c("", 0) == 0);
    uint8_t zeros[32] = {0}; /* RFC 3720 B.4: 32 bytes of zeros */
    CHECK(tb_crc32c(zeros, 32) == 0x8A9136AAu);
}

static void test_round_trip(void)
{
    double before = (double)time(NULL);
    tb_writer *tb;
    REQUIRE_OK(tb_open(&tb, dir));
    char host[256] = "";
    gethostname(host, sizeof host - 1);
    const char *path = tb_file(tb);
    CHECKF(strstr(path, "/events.out.tfevents.") && strstr(path, host), "%s", path);

    static const char *tags[] = {"charts/episodic_return", "losses/value_loss", "charts/SPS"};
    enum { N_STEPS = 3000 }; /* > 64 KiB of records: the buffer flushes on its own too */
    for (int s = 0; s < N_STEPS; s++)
        for (int k = 0; k < 3; k++)
            CHECK_OK(tb_scalar(tb, tags[k], (int64_t)s * 1024, (float)s * 0.5f - (float)k));
    CHECK_OK(tb_scalar(tb, "big/step", INT64_C(1) << 40, -1e30f));
    CHECK_OK(tb_scalar(tb, "neg/step", -5, 0.0f));
    char long_tag[300];
    memset(long_tag, 'x', sizeof long_tag - 1);
    long_tag[sizeof long_tag - 1] = '\0';
    CHECK_OK(tb_scalar(tb, long_tag, 7, 3.25f)); /* a tag over 127 bytes: 2-byte varint */
    CHECK_OK(tb_restart(tb, 4097));              /* a resumed run: SessionLog { status: START } */

    char *saved = strdup(path);
    CHECK_OK(tb_close(tb));
    tb_events ev;
    REQUIRE_OK(tb_read(saved, &ev));
    CHECK(ev.file_version && strcmp(ev.file_version, "brain.Event:2") == 0);
    CHECKF(ev.n_records == 1 + N_STEPS * 3 + 4, "%zu records", ev.n_records);
    CHECK(ev.n == N_STEPS * 3 + 3);
    CHECK(ev.n_restarts == 1 && ev.restarts[0] == 4097);
    int ok = 1;
    for (int s = 0; ok && s < N_STEPS; s++)
        for (int k = 0; ok && k < 3; k++) {
            const tb_scalar_event *e = &ev.scalars[s * 3 + k];
            ok = strcmp(e->tag, tags[k]) == 0 && e->step == (int64_t)s * 1024 &&
                 e->value == (float)s * 0.5f - (float)k && e->wall_time >= before - 1 &&
                 e->wall_time < before + 3600;
            CHECKF(ok, "scalar %d: %s step %lld value %g", s * 3 + k, e->tag, (long long)e->step,
                   e->value);
        }
    const tb_scalar_event *e = &ev.scalars[N_STEPS * 3];
    CHECK(strcmp(e[0].tag, "big/step") == 0 && e[0].step == INT64_C(1) << 40 &&
          e[0].value == -1e30f);
    CHECK(strcmp(e[1].tag, "neg/step") == 0 && e[1].step == -5 && e[1].value == 0.0f);
    CHECK(strcmp(e[2].tag, long_tag) == 0 && e[2].step == 7 && e[2].value == 3.25f);
    tb_events_free(&ev);

    /* Corruption anywhere is caught: a flipped byte in a record's data, and in a length. */
    long n;
    uint8_t *bytes = slurp(saved, &n);
    REQUIRE(bytes && n > 200);
    /* The last record's Event ends in field 6 (LEN 2) holding field 1 = 1, then its CRC. */
    CHECK(!memcmp(bytes + n - 8, "\x32\x02\x08\x01", 4));
    char bad[600];
    snprintf(bad, sizeof bad, "%s/corrupt", dir);
    bytes[n - 10] ^= 0x40;
    spit(bad, bytes, n);
    gb_error *err = tb_read(bad, &ev);
    CHECKF(err && strstr(gb_error_msg(err), "data CRC mismatch") &&
               strstr(gb_error_msg(err), "corrupt"),
           "%s", err ? gb_error_msg(err) : "(no error)");
    gb_error_free(err);
    bytes[n - 10] ^= 0x40;
    bytes[0] ^= 1;
    spit(bad, bytes, n);
    err = tb_read(bad, &ev);
    CHECK(err && strstr(gb_error_msg(err), "length CRC mismatch"));
    gb_error_free(err);
    bytes[0] ^= 1;
    spit(bad, bytes, n - 3);
    err = tb_read(bad, &ev);
    CHECK(err && strstr(gb_error_msg(err), "truncated"));
    gb_error_free(err);
    free(bytes);
    free(saved);
}

/* The exact bytes of one record, worked out by hand from the wire format. */
static void test_record_bytes(void)
{
    char sub[600];
    snprintf(sub, sizeof sub, "%s/bytes", dir);
    REQUIRE(mkdir(sub, 0755) == 0);
    tb_writer *tb;
    REQUIRE_OK(tb_open(&tb, sub));
    CHECK_OK(tb_scalar(tb, "a", 3, 1.0f));
    char *path = strdup(tb_file(tb));
    CHECK_OK(tb_close(tb));
    long n;
    uint8_t *b = slurp(path, &n);
    REQUIRE(b);
    /* Version record: 9 (wall_time) + 2 (step 0) + 2 + 13 ("brain.Event:2") = 26 bytes. */
    REQUIRE(n == 12 + 26 + 4 + 12 + 23 + 4);
    CHECK(b[0] == 26 && b[12] == 0x09 && b[21] == 0x10 && b[22] == 0 && b[23] == 0x1a &&
          b[24] == 13 && memcmp(b + 25, "brain.Event:2", 13) == 0);
    /* Scalar: 09 <8> 10 03 2a 0a 0a 08 0a 01 'a' 15 00 00 80 3f */
    const uint8_t *r = b + 42, *d = r + 12;
    static const uint8_t tail[] = {0x10, 0x03, 0x2a, 0x0a, 0x0a, 0x08, 0x0a,
                                   0x01, 'a',  0x15, 0x00, 0x00, 0x80, 0x3f};
    CHECK(r[0] == 23 && r[1] == 0 && d[0] == 0x09 && memcmp(d + 9, tail, sizeof tail) == 0);
    uint32_t c = tb_crc32c(d, 23), masked = ((c >> 15) | (c << 17)) + 0xa282ead8u;
    uint32_t stored =
        (uint32_t)d[23] | (uint32_t)d[24] << 8 | (uint32_t)d[25] << 16 | (uint32_t)d[26] << 24;
    CHECK(stored == masked);
    free(b);
    free(path);

    /* Two writers in the same second get two files. */
    tb_writer *t1, *t2;
    REQUIRE_OK(tb_open(&t1, sub));
    REQUIRE_OK(tb_open(&t2, sub));
    CHECK(strcmp(tb_file(t1), tb_file(t2)) != 0);
    CHECK_OK(tb_close(t1));
    CHECK_OK(tb_close(t2));
    CHECK_OK(tb_close(NULL));

    gb_error *err = tb_open(&t1, "/nonexistent-gbfarm-dir");
    CHECK(err && strstr(gb_error_msg(err), "/nonexistent-gbfarm-dir/events.out.tfevents."));
    gb_error_free(err);
}

int main(void)
{
    REQUIRE(mkdtemp(dir));
    test_crc();
    test_round_trip();
    test_record_bytes();
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", dir);
    return check_summary();
}
