/* A 5x7 bitmap font for printable ASCII (32..126), drawn into 32-bit pixel buffers: the
 * viewer's status strip. Each glyph sits in a 6x9 cell (one column and two rows of spacing). */
#ifndef GBFARM_UI_FONT_H
#define GBFARM_UI_FONT_H

#include <stdint.h>

#define FONT_GLYPH_W 5
#define FONT_GLYPH_H 7
#define FONT_CELL_W  6
#define FONT_CELL_H  9

/* The glyph's 7 rows, top first; bit 4 of a row is its leftmost pixel. Characters outside
 * 32..126 draw as '?'. */
const uint8_t *font_glyph(char c);

/* Writes text's lit pixels as colour into pixels (w x h, pitch in pixels), the first glyph's
 * top-left at (x, y); pixels outside the buffer are skipped. Returns the x after the text. */
int font_draw(uint32_t *pixels, int w, int h, int pitch, int x, int y, const char *text,
              uint32_t colour);

#endif
