/* script_parse on arbitrary text: every line it accepts holds known buttons and 1..10^7 frames,
 * and the total is their sum. */
#include "fuzz_file.h"
#include "gbfarm/game.h"
#include "gbfarm/script.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *text = fuzz_cstring(data, size);
    script s;
    gb_error *err = script_parse(&s, text, "fuzz.txt");
    if (err) {
        FUZZ_ASSERT(s.lines == NULL && s.n_lines == 0 && s.total_frames == 0);
        FUZZ_ASSERT(!strncmp(gb_error_msg(err), "fuzz.txt:", 9));
        gb_error_free(err);
    } else {
        const uint16_t known = (1u << (CORE_BUTTON_R + 1)) - 1;
        uint64_t total = 0;
        for (int i = 0; i < s.n_lines; i++) {
            FUZZ_ASSERT(s.lines[i].frames >= 1 && s.lines[i].frames <= 10000000);
            FUZZ_ASSERT((s.lines[i].buttons & ~known) == 0);
            total += s.lines[i].frames;
        }
        FUZZ_ASSERT(total == s.total_frames);
        script_free(&s);
    }
    /* the button-name lookup on the same bytes, any length */
    int bit = script_button(text, (int)strlen(text));
    FUZZ_ASSERT(bit >= -1 && bit <= CORE_BUTTON_R);
    free(text);
    return 0;
}
