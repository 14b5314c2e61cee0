/* state_read on arbitrary bytes: gzip members, truncated or corrupt streams, plain files. */
#include "fuzz_file.h"
#include "gbfarm/state.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *path = fuzz_path("input.state");
    fuzz_write(path, data, size);
    uint8_t *bytes = NULL;
    size_t len = 123;
    gb_error *err = state_read(path, &bytes, &len);
    if (err) {
        FUZZ_ASSERT(!bytes && len == 0 && gb_error_msg(err)[0]);
        gb_error_free(err);
        return 0;
    }
    FUZZ_ASSERT(bytes && len > 0);
    /* an uncompressed file reads back as it is */
    if (size < 2 || data[0] != 0x1f || data[1] != 0x8b)
        FUZZ_ASSERT(len == size && !memcmp(bytes, data, size));
    volatile uint8_t sink = bytes[0] ^ bytes[len - 1]; /* ASan: the whole length is ours */
    (void)sink;
    free(bytes);
    return 0;
}
