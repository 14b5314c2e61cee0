/* TensorBoard scalar logs: an "events.out.tfevents.<unix time>.<hostname>" file of TFRecords
 * (u64 length, masked CRC32C of it, data, masked CRC32C of the data), each holding a
 * hand-encoded tensorflow.Event protobuf. The first record carries file_version
 * "brain.Event:2"; each tb_scalar is one Event { wall_time, step, Summary { Value { tag,
 * simple_value } } }. Written by one thread (the trainer's main thread). */
#ifndef GBFARM_TENSORBOARD_H
#define GBFARM_TENSORBOARD_H

#include <stddef.h>
#include <stdint.h>

#include "gbfarm/error.h"

typedef struct tb_writer tb_writer;

/* Creates a new event file in dir (which must exist). A resumed run gets a new file beside
 * the old ones; TensorBoard reads them all as one run. */
gb_error *tb_open(tb_writer **out, const char *dir);
/* Appends a scalar to the in-memory buffer (written out at 64 KiB, tb_flush or tb_close). */
gb_error *tb_scalar(tb_writer *tb, const char *tag, int64_t step, float value);
/* A SessionLog START at step: TensorBoard then drops the events of earlier files with a step
 * at or past it, which a resumed run is about to log again. Flushed at once. */
gb_error *tb_restart(tb_writer *tb, int64_t step);
gb_error *tb_flush(tb_writer *tb);
/* Flushes, closes and frees; NULL is fine. An error still frees. */
gb_error *tb_close(tb_writer *tb);
const char *tb_file(const tb_writer *tb);

/* CRC-32C (Castagnoli), as TFRecord uses: tb_crc32c("123456789", 9) == 0xE3069283. */
uint32_t tb_crc32c(const void *data, size_t n);

/* An event file read back, for tests and tooling: every record's CRCs are checked. */
typedef struct tb_scalar_event {
    double wall_time;
    int64_t step;
    char *tag;
    float value;
} tb_scalar_event;

typedef struct tb_events {
    char *file_version; /* from the first record; NULL when it has none */
    size_t n_records;   /* TFRecords in the file */
    size_t n;           /* scalar values, in file order */
    tb_scalar_event *scalars;
    size_t n_restarts; /* SessionLog START records, */
    int64_t *restarts; /* at these steps */
} tb_events;

gb_error *tb_read(const char *path, tb_events *out);
void tb_events_free(tb_events *ev);

#endif
