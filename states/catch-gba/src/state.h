/* Catch: the state block, identical on both platforms (see README.md). */
#ifndef CATCH_STATE_H
#define CATCH_STATE_H
/* The state block, at a fixed address (see README.md). Offsets are identical on both
 * platforms: no padding arises because every field sits at a multiple of its size. */
struct catch_state {
    uint8_t  frame;        /* 0x00 frames since power-on, wraps */
    uint8_t  player_x;     /* 0x01 cells */
    uint8_t  player_y;     /* 0x02 */
    uint8_t  coin_x;       /* 0x03 */
    uint8_t  coin_y;       /* 0x04 */
    uint8_t  enemy_x;      /* 0x05 */
    uint8_t  enemy_y;      /* 0x06 */
    uint8_t  game_over;    /* 0x07 1 once the enemy touched the player; the game freezes */
    uint16_t score;        /* 0x08 little-endian */
    uint8_t  score_bcd_hi; /* 0x0A score as big-endian BCD: 123 -> 0x01 0x23 */
    uint8_t  score_bcd_lo; /* 0x0B */
    uint16_t moves;        /* 0x0C player moves made, little-endian */
    uint16_t rng;          /* 0x0E xorshift16 state, advanced every frame */
    uint8_t  enemy_timer;  /* 0x10 frames until the enemy's next move */
    uint8_t  enemy_period; /* 0x11 frames between enemy moves (16, down to 8 with score) */
    uint8_t  pad;          /* 0x12 d-pad this frame (bit 0 R, 1 L, 2 U, 3 D) */
    uint8_t  pad_prev;     /* 0x13 d-pad last frame */
    uint32_t frames;       /* 0x14 frames since power-on, little-endian */
    uint8_t  coin_near;    /* 0x18 (GRID_W + GRID_H) - manhattan distance player..coin; a shaping signal */
    uint8_t  reserved[3];  /* 0x19 zero */
    uint8_t  magic[4];     /* 0x1C "CTCH" once initialised */
};
#endif
