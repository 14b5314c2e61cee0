/* Catch for the Game Boy (DMG), built with SDCC (-msm83), no GBDK.
 * The playfield is the background map: each 16x16 cell is 2x2 tiles. Tiles 4k..4k+3 are
 * the four quarters of picture k (art.h). The game logic is in logic.h. */
#include <stdint.h>

#define GRID_W 10
#define GRID_H 9

#define REG(a) (*(volatile uint8_t *)(a))
#define P1   REG(0xFF00)
#define LCDC REG(0xFF40)
#define SCY  REG(0xFF42)
#define SCX  REG(0xFF43)
#define LY   REG(0xFF44)
#define BGP  REG(0xFF47)
#define IE   REG(0xFFFF)

#include "state.h"

/* The state block lives at a fixed address: 0xC000, the start of work RAM. */
__at(0xC000) struct catch_state G;

static uint8_t read_pad(void)
{
    uint8_t v;
    P1 = 0x20;          /* select the d-pad */
    v = P1; v = P1; v = P1; v = P1;
    P1 = 0x30;
    return (uint8_t)(~v) & 0x0F; /* bit 0 right, 1 left, 2 up, 3 down */
}

#include "logic.h"
#include "art.h"

/* VRAM write queue: address low, address high, tile; flushed in VBlank by flush(). */
uint8_t q_n;
uint8_t q_buf[3 * 4 * 8];

static void queue_cell(uint8_t x, uint8_t y, uint8_t kind)
{
    uint16_t addr = 0x9800 + ((uint16_t)y << 6) + ((uint16_t)x << 1);
    uint8_t t = kind << 2;
    uint8_t *p = &q_buf[q_n * 3];
    p[0] = (uint8_t)addr;        p[1] = (uint8_t)(addr >> 8);        p[2] = t;
    p[3] = (uint8_t)(addr + 1);  p[4] = (uint8_t)((addr + 1) >> 8);  p[5] = t + 1;
    p[6] = (uint8_t)(addr + 32); p[7] = (uint8_t)((addr + 32) >> 8); p[8] = t + 2;
    p[9] = (uint8_t)(addr + 33); p[10] = (uint8_t)((addr + 33) >> 8); p[11] = t + 3;
    q_n += 4;
}

/* Write the queued tiles; called right at the start of VBlank. */
static void flush(void) __naked
{
    __asm
        ld  hl, #_q_n
        ld  a, (hl)
        or  a, a
        ret z
        ld  b, a
        xor a, a
        ld  (hl), a
        ld  hl, #_q_buf
    00001$:
        ld  a, (hl+)
        ld  e, a
        ld  a, (hl+)
        ld  d, a
        ld  a, (hl+)
        ld  (de), a
        dec b
        jr  nz, 00001$
        ret
    __endasm;
}

static void wait_vblank(void)
{
    while (LY >= 144) {}
    while (LY < 144) {}
}

static void load_tiles(void)
{
    uint8_t k, r, half, c;
    volatile uint8_t *dst;
    for (k = 0; k < 4; k++) {
        for (half = 0; half < 4; half++) {          /* TL, TR, BL, BR */
            dst = (volatile uint8_t *)(0x8000 + ((uint16_t)(k * 4 + half) << 4));
            for (r = 0; r < 8; r++) {
                const char *row = art[k][r + ((half & 2) ? 8 : 0)] + ((half & 1) ? 8 : 0);
                uint8_t lo = 0, hi = 0;
                for (c = 0; c < 8; c++) {
                    uint8_t v;
                    switch (row[c]) {
                    case 'o': v = 1; break;
                    case '+': v = 2; break;
                    case '#': v = 3; break;
                    default: v = 0; break;
                    }
                    lo = (uint8_t)(lo << 1) | (v & 1);
                    hi = (uint8_t)(hi << 1) | (v >> 1);
                }
                *dst++ = lo;
                *dst++ = hi;
            }
        }
    }
}

static void draw_all(void)
{
    uint8_t x, y;
    uint16_t i;
    for (i = 0; i < 1024; i++) ((volatile uint8_t *)0x9800)[i] = 0;
    for (y = 0; y < GRID_H; y++)
        for (x = 0; x < GRID_W; x++) {
            q_n = 0;
            queue_cell(x, y, cell_at(x, y));
            flush();
        }
}

void main(void)
{
    uint8_t i;
    IE = 0;
    wait_vblank();
    LCDC = 0;                 /* LCD off: VRAM is free */
    BGP = 0xE4;               /* 0 white, 1 light grey, 2 dark grey, 3 black */
    SCX = 0;
    SCY = 0;
    load_tiles();
    dirty_n = 0;
    game_init();
    draw_all();
    q_n = 0;
    dirty_n = 0;
    LCDC = 0x91;              /* LCD on, tiles at 0x8000, map at 0x9800, BG on */
    for (;;) {
        wait_vblank();
        flush();
        game_frame();
        for (i = 0; i < dirty_n; i++)
            queue_cell(dirty_x[i], dirty_y[i], cell_at(dirty_x[i], dirty_y[i]));
        dirty_n = 0;
    }
}
