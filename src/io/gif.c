#include "gbfarm/gif.h"

#include <errno.h>
#include <fcntl.h>
#include <gif_lib.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct gif_recorder {
    GifFileType *gif;
    char path[1024];
    unsigned width, height;
    int delay_cs;
    uint32_t *rgb;    /* one frame as 0xRRGGBB */
    GifByteType *idx; /* palette indices */
};

static uint32_t pixel_rgb(const core_frame *f, unsigned x, unsigned y)
{
    const uint8_t *row = f->data + (size_t)y * f->pitch;
    if (f->format == CORE_PIXEL_XRGB8888) {
        uint32_t p;
        memcpy(&p, row + 4 * x, 4);
        return p & 0xFFFFFF;
    }
    uint16_t p;
    memcpy(&p, row + 2 * x, 2);
    unsigned r, g, b;
    if (f->format == CORE_PIXEL_RGB565)
        r = (p >> 11) & 31, g = ((p >> 5) & 63) >> 1, b = p & 31;
    else
        r = (p >> 10) & 31, g = (p >> 5) & 31, b = p & 31;
    r = (r << 3) | (r >> 2), g = (g << 3) | (g >> 2), b = (b << 3) | (b >> 2);
    return (r << 16) | (g << 8) | b;
}

gb_error *gif_open(gif_recorder **out, const char *path, unsigned width, unsigned height,
                   int delay_cs)
{
    *out = NULL;
    gif_recorder *g = calloc(1, sizeof *g);
    if (!g) return gb_errorf("%s: out of memory", path);
    snprintf(g->path, sizeof g->path, "%s", path);
    g->width = width, g->height = height, g->delay_cs = delay_cs;
    g->rgb = malloc(sizeof *g->rgb * width * height);
    g->idx = malloc(width * height);
    int code = 0;
    const char *why = "out of memory";
    /* Opened here, not by EGifOpenFileName (mode 0600): 0666 less the umask, as fopen does. */
    int fd = g->rgb && g->idx ? open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0666) : -1;
    if (g->rgb && g->idx && fd < 0) why = strerror(errno);
    g->gif = fd >= 0 ? EGifOpenFileHandle(fd, &code) : NULL;
    if (fd >= 0 && !g->gif) {
        why = GifErrorString(code);
        close(fd);
    }
    if (!g->gif) {
        gb_error *err = gb_errorf("%s: cannot write GIF: %s", path, why);
        free(g->rgb);
        free(g->idx);
        free(g);
        return err;
    }
    EGifSetGifVersion(g->gif, true);
    /* No global palette: each frame carries its own. Loop forever (NETSCAPE2.0). */
    static const GifByteType loop_app[] = "NETSCAPE2.0", loop_forever[] = {1, 0, 0};
    if (EGifPutScreenDesc(g->gif, (int)width, (int)height, 8, 0, NULL) == GIF_ERROR ||
        EGifPutExtensionLeader(g->gif, APPLICATION_EXT_FUNC_CODE) == GIF_ERROR ||
        EGifPutExtensionBlock(g->gif, 11, loop_app) == GIF_ERROR ||
        EGifPutExtensionBlock(g->gif, 3, loop_forever) == GIF_ERROR ||
        EGifPutExtensionTrailer(g->gif) == GIF_ERROR) {
        gb_error *err = gb_errorf("%s: cannot write GIF: %s", path, GifErrorString(g->gif->Error));
        gif_close(g);
        return err;
    }
    *out = g;
    return NULL;
}

/* Exact palette of up to 256 colours, else RGB 3-3-2. */
static int palette_for(gif_recorder *g, size_t n, GifColorType colors[256])
{
    int count = 0;
    for (size_t i = 0; i < n; i++) {
        uint32_t c = g->rgb[i];
        int k = 0;
        /* Frames have few colours and long runs: try the previous pixel's index first. */
        if (i > 0 && g->rgb[i - 1] == c) {
            g->idx[i] = g->idx[i - 1];
            continue;
        }
        for (; k < count; k++)
            if (colors[k].Red == (c >> 16) && colors[k].Green == ((c >> 8) & 0xFF) &&
                colors[k].Blue == (c & 0xFF))
                break;
        if (k == count) {
            if (count == 256) return -1;
            colors[count++] = (GifColorType){c >> 16, (c >> 8) & 0xFF, c & 0xFF};
        }
        g->idx[i] = (GifByteType)k;
    }
    return count;
}

gb_error *gif_frame(gif_recorder *g, const core_frame *f)
{
    if (!f->data || f->width != g->width || f->height != g->height)
        return gb_errorf("%s: frame is %ux%u, the recording %ux%u", g->path, f->width, f->height,
                         g->width, g->height);
    size_t n = (size_t)g->width * g->height;
    for (unsigned y = 0; y < g->height; y++)
        for (unsigned x = 0; x < g->width; x++) g->rgb[y * g->width + x] = pixel_rgb(f, x, y);
    GifColorType colors[256];
    int count = palette_for(g, n, colors);
    if (count < 0) {
        count = 256;
        for (int k = 0; k < 256; k++)
            colors[k] =
                (GifColorType){(k >> 5) * 255 / 7, ((k >> 2) & 7) * 255 / 7, (k & 3) * 255 / 3};
        for (size_t i = 0; i < n; i++) {
            uint32_t c = g->rgb[i];
            g->idx[i] = (GifByteType)(((c >> 21) << 5) | (((c >> 13) & 7) << 2) | ((c >> 6) & 3));
        }
    }
    int size = 2;
    while (size < count) size *= 2;
    ColorMapObject *map = GifMakeMapObject(size, NULL);
    if (!map) return gb_errorf("%s: out of memory", g->path);
    memset(map->Colors, 0, sizeof(GifColorType) * (size_t)size);
    memcpy(map->Colors, colors, sizeof(GifColorType) * (size_t)count);
    GraphicsControlBlock gcb = {DISPOSAL_UNSPECIFIED, false, g->delay_cs, NO_TRANSPARENT_COLOR};
    GifByteType ext[4];
    size_t ext_len = EGifGCBToExtension(&gcb, ext);
    int rc = EGifPutExtension(g->gif, GRAPHICS_EXT_FUNC_CODE, (int)ext_len, ext);
    if (rc != GIF_ERROR)
        rc = EGifPutImageDesc(g->gif, 0, 0, (int)g->width, (int)g->height, false, map);
    for (unsigned y = 0; rc != GIF_ERROR && y < g->height; y++)
        rc = EGifPutLine(g->gif, g->idx + (size_t)y * g->width, (int)g->width);
    GifFreeMapObject(map);
    if (rc == GIF_ERROR)
        return gb_errorf("%s: cannot write GIF frame: %s", g->path, GifErrorString(g->gif->Error));
    return NULL;
}

gb_error *gif_close(gif_recorder *g)
{
    if (!g) return NULL;
    int code = 0;
    gb_error *err = NULL;
    if (g->gif && EGifCloseFile(g->gif, &code) == GIF_ERROR)
        err = gb_errorf("%s: cannot finish GIF: %s", g->path, GifErrorString(code));
    free(g->rgb);
    free(g->idx);
    free(g);
    return err;
}
