/* Catch: the game rules, shared verbatim by the Game Boy and Game Boy Advance builds.
 *
 * The including file defines: GRID_W, GRID_H (cells), the `G` state struct instance,
 * read_pad() (bit 0 right, 1 left, 2 up, 3 down; 1 = pressed) and uses the dirty-cell list
 * (dirty_x/dirty_y/dirty_n) to redraw after each frame. No division or modulo is used, so
 * neither target needs a runtime division helper. */

#define PAD_RIGHT 1
#define PAD_LEFT  2
#define PAD_UP    4
#define PAD_DOWN  8

#define CELL_BG     0
#define CELL_PLAYER 1
#define CELL_COIN   2
#define CELL_ENEMY  3

#define ENEMY_PERIOD_START 20
#define ENEMY_PERIOD_MIN    8

static uint8_t dirty_x[8], dirty_y[8], dirty_n;

static void mark(uint8_t x, uint8_t y)
{
    dirty_x[dirty_n] = x;
    dirty_y[dirty_n] = y;
    dirty_n++;
}

static uint8_t cell_at(uint8_t x, uint8_t y)
{
    if (x == G.enemy_x && y == G.enemy_y) return CELL_ENEMY;
    if (x == G.player_x && y == G.player_y) return CELL_PLAYER;
    if (x == G.coin_x && y == G.coin_y) return CELL_COIN;
    return CELL_BG;
}

static uint8_t rnd(void)
{
    uint16_t x = G.rng;
    x ^= (uint16_t)(x << 7);
    x ^= (uint16_t)(x >> 9);
    x ^= (uint16_t)(x << 8);
    G.rng = x;
    return (uint8_t)(x ^ (x >> 8));
}

/* uniform-ish in 0..n-1 without division */
static uint8_t rnd_below(uint8_t n)
{
    return (uint8_t)(((uint16_t)rnd() * n) >> 8);
}

static void new_coin(void)
{
    uint8_t x, y;
    for (;;) {
        x = rnd_below(GRID_W);
        y = rnd_below(GRID_H);
        if (x == G.player_x && y == G.player_y) continue;
        if (x == G.enemy_x && y == G.enemy_y) continue;
        if (x == G.coin_x && y == G.coin_y) continue;
        break;
    }
    G.coin_x = x;
    G.coin_y = y;
    mark(x, y);
}

static void update_near(void)
{
    uint8_t dx = G.player_x > G.coin_x ? G.player_x - G.coin_x : G.coin_x - G.player_x;
    uint8_t dy = G.player_y > G.coin_y ? G.player_y - G.coin_y : G.coin_y - G.player_y;
    G.coin_near = (uint8_t)(GRID_W + GRID_H - dx - dy);
}

static void game_init(void)
{
    G.frame = 0;
    G.frames = 0;
    G.player_x = GRID_W / 2 - 1;
    G.player_y = GRID_H / 2;
    G.enemy_x = 0;
    G.enemy_y = 0;
    G.coin_x = GRID_W - 1; /* replaced at once by new_coin() */
    G.coin_y = GRID_H - 1;
    G.game_over = 0;
    G.score = 0;
    G.score_bcd_hi = 0;
    G.score_bcd_lo = 0;
    G.moves = 0;
    G.rng = 0xACE1;
    G.enemy_period = ENEMY_PERIOD_START;
    G.enemy_timer = ENEMY_PERIOD_START;
    G.pad = 0;
    G.pad_prev = 0;
    new_coin();
    update_near();
    G.magic[0] = 'C'; G.magic[1] = 'T'; G.magic[2] = 'C'; G.magic[3] = 'H';
}

static uint8_t bcd_inc(uint8_t b)
{
    b++;
    if ((b & 0x0F) == 0x0A) b += 6;
    if (b >= 0xA0) b = 0x00;
    return b;
}

static void got_coin(void)
{
    G.score++;
    if (G.score <= 9999) {
        G.score_bcd_lo = bcd_inc(G.score_bcd_lo);
        if (G.score_bcd_lo == 0) G.score_bcd_hi = bcd_inc(G.score_bcd_hi);
    }
    /* every 4 coins the enemy gets one frame faster, down to ENEMY_PERIOD_MIN */
    if ((G.score & 3) == 0 && G.enemy_period > ENEMY_PERIOD_MIN) G.enemy_period--;
    new_coin();
}

static void move_enemy(void)
{
    uint8_t r = rnd();
    uint8_t x = G.enemy_x, y = G.enemy_y;
    uint8_t dir; /* 0 right, 1 left, 2 up, 3 down */
    mark(x, y);
    if (r < 96) {
        /* toward the player: along x or y, picked at random among the useful axes */
        uint8_t want_x = (x != G.player_x), want_y = (y != G.player_y);
        if (want_x && want_y) {
            if (r & 1) want_y = 0; else want_x = 0;
        }
        if (want_x) dir = (G.player_x > x) ? 0 : 1;
        else if (want_y) dir = (G.player_y > y) ? 3 : 2;
        else dir = r & 3;
    } else {
        dir = r & 3;
    }
    if (dir == 0 && x < GRID_W - 1) x++;
    else if (dir == 1 && x > 0) x--;
    else if (dir == 2 && y > 0) y--;
    else if (dir == 3 && y < GRID_H - 1) y++;
    G.enemy_x = x;
    G.enemy_y = y;
    mark(x, y);
    if (x == G.player_x && y == G.player_y) G.game_over = 1;
}

/* One frame of the game. */
static void game_frame(void)
{
    uint8_t pad, edge;
    G.frame++;
    G.frames++;
    rnd();
    pad = read_pad();
    edge = pad & (uint8_t)~G.pad_prev;
    G.pad = pad;
    G.pad_prev = pad;
    if (G.game_over) return;
    if (edge) {
        uint8_t x = G.player_x, y = G.player_y;
        G.rng ^= (uint16_t)edge << 4; /* the player's timing feeds the randomness */
        if (G.rng == 0) G.rng = 0xACE1;
        if (edge & PAD_RIGHT) { if (x < GRID_W - 1) x++; }
        else if (edge & PAD_LEFT) { if (x > 0) x--; }
        else if (edge & PAD_UP) { if (y > 0) y--; }
        else if (edge & PAD_DOWN) { if (y < GRID_H - 1) y++; }
        if (x != G.player_x || y != G.player_y) {
            mark(G.player_x, G.player_y);
            G.player_x = x;
            G.player_y = y;
            G.moves++;
            mark(x, y);
            if (x == G.enemy_x && y == G.enemy_y) { G.game_over = 1; return; }
            if (x == G.coin_x && y == G.coin_y) got_coin();
        }
    }
    if (--G.enemy_timer == 0) {
        G.enemy_timer = G.enemy_period;
        move_enemy();
    }
    update_near();
}
