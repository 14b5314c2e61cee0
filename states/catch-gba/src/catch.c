/* Catch for the Game Boy Advance, built with arm-none-eabi-gcc, no devkitPro.
 * The playfield is drawn in mode 3 (240x160, 15-bit colour); each 16x16 cell is painted
 * from its picture in art.h. The game logic is in logic.h: the GB build's
 * own file (states/catch-gb/src/), as are state.h and art.h. */
#include <stdint.h>

#define GRID_W 15
#define GRID_H 10

#define REG16(a) (*(volatile uint16_t *)(a))
#define DISPCNT  REG16(0x04000000)
#define VCOUNT   REG16(0x04000006)
#define KEYINPUT REG16(0x04000130)
#define IME      REG16(0x04000208)
#define VRAM     ((volatile uint16_t *)0x06000000)

#include "state.h"

/* The state block lives at a fixed address: 0x03000000, the start of IWRAM (the linker
 * script places section .gamestate there). */
struct catch_state G __attribute__((section(".gamestate")));

static uint8_t read_pad(void)
{
    /* KEYINPUT is active low; bits 4..7 are right, left, up, down */
    return (uint8_t)((~KEYINPUT >> 4) & 0x0F);
}

#include "logic.h"
#include "art.h"

/* the GB palette: white, light grey, dark grey, black */
static const uint16_t colours[4] = { 0x7FFF, 0x56B5, 0x294A, 0x0000 };

static void draw_cell(uint8_t x, uint8_t y, uint8_t kind)
{
    volatile uint16_t *dst = VRAM + (unsigned)y * 16 * 240 + (unsigned)x * 16;
    unsigned r, c;
    for (r = 0; r < 16; r++) {
        const char *row = art[kind][r];
        for (c = 0; c < 16; c++) {
            uint16_t v;
            switch (row[c]) {
            case 'o': v = colours[1]; break;
            case '+': v = colours[2]; break;
            case '#': v = colours[3]; break;
            default: v = colours[0]; break;
            }
            dst[c] = v;
        }
        dst += 240;
    }
}

static void wait_vblank(void)
{
    while (VCOUNT >= 160) {}
    while (VCOUNT < 160) {}
}

int main(void)
{
    uint8_t i, x, y;
    IME = 0;
    dirty_n = 0;
    game_init();
    dirty_n = 0;
    wait_vblank();
    DISPCNT = 0x0080;             /* forced blank while drawing the first screen */
    for (y = 0; y < GRID_H; y++)
        for (x = 0; x < GRID_W; x++)
            draw_cell(x, y, cell_at(x, y));
    DISPCNT = 0x0403;             /* mode 3, BG2 on */
    for (;;) {
        wait_vblank();
        for (i = 0; i < dirty_n; i++)
            draw_cell(dirty_x[i], dirty_y[i], cell_at(dirty_x[i], dirty_y[i]));
        dirty_n = 0;
        game_frame();
    }
}
