#include "gbfarm/tensorboard.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

enum { TB_FLUSH_BYTES = 64 * 1024 };

struct tb_writer {
    FILE *fp;
    uint8_t *buf;
    size_t len, cap;
    char path[];
};

/* ---- CRC-32C: reflected polynomial 0x82F63B78, one table lookup per byte ---- */

static uint32_t crc_table[256];
static pthread_once_t crc_once = PTHREAD_ONCE_INIT;

static void crc_init(void)
{
    for (uint32_t i = 0; i < 256; i++) {
        uint32_t c = i;
        for (int k = 0; k < 8; k++) c = (c >> 1) ^ (0x82F63B78u & (0u - (c & 1u)));
        crc_table[i] = c;
    }
}

uint32_t tb_crc32c(const void *data, size_t n)
{
    pthread_once(&crc_once, crc_init);
    const uint8_t *p = data;
    uint32_t c = 0xFFFFFFFFu;
    for (size_t i = 0; i < n; i++) c = crc_table[(c ^ p[i]) & 0xFF] ^ (c >> 8);
    return c ^ 0xFFFFFFFFu;
}

/* TFRecord masks its CRCs so a CRC of data holding CRCs stays well-distributed. */
static uint32_t masked_crc(const void *data, size_t n)
{
    uint32_t c = tb_crc32c(data, n);
    return ((c >> 15) | (c << 17)) + 0xa282ead8u;
}

/* ---- protobuf encoding, just the wire types an Event needs ---- */

enum { WIRE_VARINT = 0, WIRE_I64 = 1, WIRE_LEN = 2, WIRE_I32 = 5 };

static size_t put_varint(uint8_t *p, uint64_t v)
{
    size_t n = 0;
    while (v >= 0x80) {
        p[n++] = (uint8_t)(v | 0x80);
        v >>= 7;
    }
    p[n++] = (uint8_t)v;
    return n;
}

static size_t put_le(uint8_t *p, uint64_t v, int bytes)
{
    for (int i = 0; i < bytes; i++) p[i] = (uint8_t)(v >> (8 * i));
    return (size_t)bytes;
}

static size_t put_key(uint8_t *p, int field, int wire)
{
    return put_varint(p, ((uint64_t)field << 3) | (uint64_t)wire);
}

static size_t put_bytes(uint8_t *p, int field, const void *data, size_t n)
{
    size_t k = put_key(p, field, WIRE_LEN);
    k += put_varint(p + k, n);
    memcpy(p + k, data, n);
    return k + n;
}

static size_t varint_size(uint64_t v)
{
    size_t n = 1;
    while (v >= 0x80) v >>= 7, n++;
    return n;
}

/* Event { double wall_time = 1; int64 step = 2; oneof { string file_version = 3;
 *         Summary summary = 5; SessionLog session_log = 6; } };
 * Summary { repeated Value value = 1; }; Value { string tag = 1; float simple_value = 2; };
 * SessionLog { SessionStatus status = 1; } with START = 1. The version record has a
 * file_version, a restart neither file_version nor tag, a scalar a tag. */
static size_t encode_event(uint8_t *p, double wall_time, int64_t step, const char *file_version,
                           const char *tag, float value)
{
    uint64_t bits;
    memcpy(&bits, &wall_time, 8);
    size_t k = put_key(p, 1, WIRE_I64);
    k += put_le(p + k, bits, 8);
    k += put_key(p + k, 2, WIRE_VARINT);
    k += put_varint(p + k, (uint64_t)step);
    if (file_version) return k + put_bytes(p + k, 3, file_version, strlen(file_version));
    if (!tag) {
        static const uint8_t start[2] = {(1 << 3) | WIRE_VARINT, 1};
        return k + put_bytes(p + k, 6, start, sizeof start);
    }

    size_t tag_len = strlen(tag);
    size_t value_len = 1 + varint_size(tag_len) + tag_len + 1 + 4;
    size_t summary_len = 1 + varint_size(value_len) + value_len;
    k += put_key(p + k, 5, WIRE_LEN);
    k += put_varint(p + k, summary_len);
    k += put_key(p + k, 1, WIRE_LEN);
    k += put_varint(p + k, value_len);
    k += put_bytes(p + k, 1, tag, tag_len);
    uint32_t fbits;
    memcpy(&fbits, &value, 4);
    k += put_key(p + k, 2, WIRE_I32);
    return k + put_le(p + k, fbits, 4);
}

static double unix_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* Frames one encoded Event as a TFRecord at the end of the buffer. */
static gb_error *append_event(tb_writer *tb, double wall_time, int64_t step,
                              const char *file_version, const char *tag, float value)
{
    size_t text = file_version ? strlen(file_version) : tag ? strlen(tag) : 0;
    size_t most = 8 + 4 + 64 + text + 4; /* fixed fields take < 50 bytes */
    if (tb->len + most > tb->cap) {
        size_t cap = tb->cap ? tb->cap : TB_FLUSH_BYTES;
        while (tb->len + most > cap) cap *= 2;
        uint8_t *b = realloc(tb->buf, cap);
        if (!b) return gb_errorf("%s: out of memory", tb->path);
        tb->buf = b, tb->cap = cap;
    }
    uint8_t *rec = tb->buf + tb->len;
    size_t n = encode_event(rec + 12, wall_time, step, file_version, tag, value);
    put_le(rec, n, 8);
    put_le(rec + 8, masked_crc(rec, 8), 4);
    put_le(rec + 12 + n, masked_crc(rec + 12, n), 4);
    tb->len += 12 + n + 4;
    return tb->len >= TB_FLUSH_BYTES ? tb_flush(tb) : NULL;
}

gb_error *tb_open(tb_writer **out, const char *dir)
{
    *out = NULL;
    char host[256] = "localhost";
    if (gethostname(host, sizeof host - 1) != 0) strcpy(host, "localhost");
    host[sizeof host - 1] = '\0';
    double now = unix_now();
    size_t cap = strlen(dir) + strlen(host) + 64;
    tb_writer *tb = calloc(1, sizeof *tb + cap);
    if (!tb) return gb_errorf("%s: out of memory", dir);
    /* O_EXCL: a second writer in the same second (a quick resume) gets a ".1" suffix. */
    int fd = -1;
    for (int i = 0; i < 100 && fd < 0; i++) {
        int len =
            snprintf(tb->path, cap, "%s/events.out.tfevents.%lld.%s", dir, (long long)now, host);
        if (i > 0) snprintf(tb->path + len, cap - (size_t)len, ".%d", i);
        fd = open(tb->path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
        if (fd < 0 && errno != EEXIST) break;
    }
    if (fd < 0 || !(tb->fp = fdopen(fd, "wb"))) {
        gb_error *err = gb_errorf("%s: cannot create: %s (is the run directory writable?)",
                                  tb->path, strerror(errno));
        if (fd >= 0) close(fd);
        free(tb);
        return err;
    }
    gb_error *err = append_event(tb, now, 0, "brain.Event:2", NULL, 0);
    if (!err) err = tb_flush(tb);
    if (err) {
        gb_error_free(tb_close(tb));
        return err;
    }
    *out = tb;
    return NULL;
}

gb_error *tb_scalar(tb_writer *tb, const char *tag, int64_t step, float value)
{
    return append_event(tb, unix_now(), step, NULL, tag, value);
}

gb_error *tb_restart(tb_writer *tb, int64_t step)
{
    GB_TRY(append_event(tb, unix_now(), step, NULL, NULL, 0));
    return tb_flush(tb);
}

gb_error *tb_flush(tb_writer *tb)
{
    if (tb->len && fwrite(tb->buf, 1, tb->len, tb->fp) != tb->len)
        return gb_errorf("%s: write failed: %s (is the disk full?)", tb->path, strerror(errno));
    tb->len = 0;
    if (fflush(tb->fp) != 0)
        return gb_errorf("%s: write failed: %s (is the disk full?)", tb->path, strerror(errno));
    return NULL;
}

gb_error *tb_close(tb_writer *tb)
{
    if (!tb) return NULL;
    gb_error *err = tb_flush(tb);
    if (fclose(tb->fp) != 0 && !err)
        err = gb_errorf("%s: close failed: %s", tb->path, strerror(errno));
    free(tb->buf);
    free(tb);
    return err;
}

const char *tb_file(const tb_writer *tb)
{
    return tb->path;
}

/* ---- reading back ---- */

typedef struct pb_reader {
    const uint8_t *p, *end;
} pb_reader;

static int get_varint(pb_reader *r, uint64_t *v)
{
    *v = 0;
    for (int shift = 0; shift < 64 && r->p < r->end; shift += 7) {
        uint8_t b = *r->p++;
        *v |= (uint64_t)(b & 0x7F) << shift;
        if (!(b & 0x80)) return 1;
    }
    return 0;
}

static uint64_t get_le(const uint8_t *p, int bytes)
{
    uint64_t v = 0;
    for (int i = 0; i < bytes; i++) v |= (uint64_t)p[i] << (8 * i);
    return v;
}

/* One field: its number and wire type, and for LEN fields the bytes, else the value bits. */
typedef struct pb_field {
    int field, wire;
    uint64_t bits;
    pb_reader sub;
} pb_field;

static int next_field(pb_reader *r, pb_field *f)
{
    uint64_t key;
    if (!get_varint(r, &key)) return 0;
    f->field = (int)(key >> 3), f->wire = (int)(key & 7);
    size_t avail = (size_t)(r->end - r->p);
    switch (f->wire) {
    case WIRE_VARINT:
        return get_varint(r, &f->bits);
    case WIRE_I64:
    case WIRE_I32: {
        int n = f->wire == WIRE_I64 ? 8 : 4;
        if (avail < (size_t)n) return 0;
        f->bits = get_le(r->p, n);
        r->p += n;
        return 1;
    }
    case WIRE_LEN: {
        uint64_t n;
        if (!get_varint(r, &n) || n > (uint64_t)(r->end - r->p)) return 0;
        f->sub.p = r->p, f->sub.end = r->p + n;
        r->p += n;
        return 1;
    }
    default:
        return 0;
    }
}

static char *pb_strdup(pb_reader s)
{
    size_t n = (size_t)(s.end - s.p);
    char *c = malloc(n + 1);
    if (c) memcpy(c, s.p, n), c[n] = '\0';
    return c;
}

static gb_error *push_scalar(tb_events *ev, size_t *cap, const tb_scalar_event *s)
{
    if (ev->n == *cap) {
        size_t c = *cap ? *cap * 2 : 64;
        tb_scalar_event *a = realloc(ev->scalars, c * sizeof *a);
        if (!a) return gb_errorf("out of memory");
        ev->scalars = a, *cap = c;
    }
    ev->scalars[ev->n++] = *s;
    return NULL;
}

/* Summary { repeated Value { tag = 1; simple_value = 2 } = 1 }: one scalar per value. */
static gb_error *push_restart(tb_events *ev, int64_t step)
{
    int64_t *r = realloc(ev->restarts, sizeof *r * (ev->n_restarts + 1));
    if (!r) return gb_errorf("out of memory");
    ev->restarts = r;
    r[ev->n_restarts++] = step;
    return NULL;
}

static gb_error *decode_summary(pb_reader r, double wall_time, int64_t step, tb_events *ev,
                                size_t *cap, const char *where)
{
    pb_field f, g;
    while (r.p < r.end) {
        if (!next_field(&r, &f)) return gb_errorf("%s: malformed Summary", where);
        if (f.field != 1 || f.wire != WIRE_LEN) continue;
        tb_scalar_event s = {wall_time, step, NULL, 0};
        int has_value = 0;
        pb_reader v = f.sub;
        while (v.p < v.end) {
            if (!next_field(&v, &g)) {
                free(s.tag);
                return gb_errorf("%s: malformed Summary.Value", where);
            }
            if (g.field == 1 && g.wire == WIRE_LEN) {
                free(s.tag);
                s.tag = pb_strdup(g.sub);
            } else if (g.field == 2 && g.wire == WIRE_I32) {
                uint32_t bits = (uint32_t)g.bits;
                memcpy(&s.value, &bits, 4);
                has_value = 1;
            }
        }
        gb_error *err = NULL;
        if (!s.tag || !has_value)
            err = gb_errorf("%s: a Summary.Value without %s", where,
                            s.tag ? "simple_value (field 2)" : "a tag (field 1)");
        if (!err) err = push_scalar(ev, cap, &s);
        if (err) {
            free(s.tag);
            return err;
        }
    }
    return NULL;
}

static gb_error *decode_event(pb_reader r, tb_events *ev, size_t *cap, const char *where)
{
    double wall_time = 0;
    int64_t step = 0;
    pb_field f;
    pb_reader summary = {NULL, NULL};
    while (r.p < r.end) {
        if (!next_field(&r, &f)) return gb_errorf("%s: malformed Event protobuf", where);
        if (f.field == 1 && f.wire == WIRE_I64) {
            memcpy(&wall_time, &f.bits, 8);
        } else if (f.field == 2 && f.wire == WIRE_VARINT) {
            step = (int64_t)f.bits;
        } else if (f.field == 3 && f.wire == WIRE_LEN) {
            if (ev->n_records != 1)
                return gb_errorf("%s: file_version outside the first record", where);
            free(ev->file_version);
            ev->file_version = pb_strdup(f.sub);
            if (!ev->file_version) return gb_errorf("out of memory");
        } else if (f.field == 5 && f.wire == WIRE_LEN) {
            summary = f.sub;
        } else if (f.field == 6 && f.wire == WIRE_LEN) {
            pb_field g;
            int start = 0;
            while (f.sub.p < f.sub.end) {
                if (!next_field(&f.sub, &g)) return gb_errorf("%s: malformed SessionLog", where);
                if (g.field == 1 && g.wire == WIRE_VARINT) start = g.bits == 1;
            }
            if (start) GB_TRY(push_restart(ev, step));
        }
    }
    return summary.p ? decode_summary(summary, wall_time, step, ev, cap, where) : NULL;
}

gb_error *tb_read(const char *path, tb_events *out)
{
    memset(out, 0, sizeof *out);
    FILE *fp = fopen(path, "rb");
    if (!fp) return gb_errorf("%s: cannot open: %s", path, strerror(errno));
    gb_error *err = NULL;
    uint8_t *data = NULL;
    size_t cap = 0, data_cap = 0;
    long offset = 0;
    char where[64];
    for (;;) {
        uint8_t head[12], foot[4];
        size_t got = fread(head, 1, 12, fp);
        if (got == 0 && feof(fp)) break;
        out->n_records++;
        snprintf(where, sizeof where, "record %zu at byte %ld", out->n_records, offset);
        if (got != 12) {
            err = gb_errorf("%s: %s: truncated length header", path, where);
            break;
        }
        uint64_t n = get_le(head, 8);
        if ((uint32_t)get_le(head + 8, 4) != masked_crc(head, 8)) {
            err = gb_errorf("%s: %s: length CRC mismatch (not a TFRecord file, or corrupt)", path,
                            where);
            break;
        }
        if (n > (64u << 20)) {
            err =
                gb_errorf("%s: %s: length %llu exceeds 64 MiB", path, where, (unsigned long long)n);
            break;
        }
        if (n > data_cap) {
            uint8_t *d = realloc(data, n);
            if (!d) {
                err = gb_errorf("%s: out of memory", path);
                break;
            }
            data = d, data_cap = n;
        }
        if (fread(data, 1, n, fp) != n || fread(foot, 1, 4, fp) != 4) {
            err = gb_errorf("%s: %s: truncated (%llu data bytes expected)", path, where,
                            (unsigned long long)n);
            break;
        }
        if ((uint32_t)get_le(foot, 4) != masked_crc(data, n)) {
            err = gb_errorf("%s: %s: data CRC mismatch", path, where);
            break;
        }
        pb_reader r = {data, data + n};
        err = gb_error_wrap(decode_event(r, out, &cap, where), "%s", path);
        if (err) break;
        offset += 12 + (long)n + 4;
    }
    free(data);
    fclose(fp);
    if (err) tb_events_free(out);
    return err;
}

void tb_events_free(tb_events *ev)
{
    for (size_t i = 0; i < ev->n; i++) free(ev->scalars[i].tag);
    free(ev->scalars);
    free(ev->restarts);
    free(ev->file_version);
    memset(ev, 0, sizeof *ev);
}
