/* make_seeds.c — writes the fuzzers' seed corpus: small valid EXR files
 * (several compressions, a non-zero data window, Blender-style names) and
 * PNG files (several colour types). Usage: make_seeds fuzz/corpus */
#include "blendarray.h"
#include "check.h"
#include "fixtures.h"

static int write_exr_seed(const char *dir, const char *name, const struct fx_exr *s)
{
    char *path = fx_join(dir, name);
    int rc = fx_write_exr(path, s);
    if (rc) fprintf(stderr, "%s: %s\n", path, exr_get_default_error_message(rc));
    free(path);
    return rc ? 1 : 0;
}

static int write_png_seed(const char *dir, const char *name, const struct fx_png *p)
{
    size_t size;
    uint8_t *data = fx_write_png(p, &size);
    char *path = fx_join(dir, name);
    int rc = data ? fx_write_file(path, data, size) : -1;
    if (rc) fprintf(stderr, "%s: failed\n", path);
    free(path);
    free(data);
    return rc ? 1 : 0;
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: %s CORPUS_DIR\n", argv[0]);
        return 2;
    }
    char *exr_dir = fx_join(argv[1], "exr_fuzzer");
    char *png_dir = fx_join(argv[1], "png_fuzzer");
    mkdir(exr_dir, 0755);
    mkdir(png_dir, 0755);
    int bad = 0;

    static const struct fx_chan rgba_half[] = {
        {"A", EXR_PIXEL_HALF}, {"B", EXR_PIXEL_HALF}, {"G", EXR_PIXEL_HALF}, {"R", EXR_PIXEL_HALF}};
    static const struct fx_chan mixed[] = {
        {"ViewLayer.Combined.B", EXR_PIXEL_FLOAT},
        {"ViewLayer.Combined.R", EXR_PIXEL_HALF},
        {"ViewLayer.Depth.Z", EXR_PIXEL_FLOAT},
        {"id", EXR_PIXEL_UINT}};
    /* no HALF channel: the fuzzer also compares read_many with read on these
     * (Blender's own EXRs are 32-bit float) */
    static const struct fx_chan rgba_float[] = {
        {"ViewLayer.Combined.A", EXR_PIXEL_FLOAT}, {"ViewLayer.Combined.B", EXR_PIXEL_FLOAT},
        {"ViewLayer.Combined.G", EXR_PIXEL_FLOAT}, {"ViewLayer.Combined.R", EXR_PIXEL_FLOAT}};
    static const struct fx_chan float_uint[] = {
        {"ViewLayer.Depth.Z", EXR_PIXEL_FLOAT}, {"ViewLayer.Normal.X", EXR_PIXEL_FLOAT},
        {"ViewLayer.Normal.Y", EXR_PIXEL_FLOAT}, {"id", EXR_PIXEL_UINT}};
    const struct {
        const char *name;
        exr_compression_t comp;
        int32_t x, y, w, h;
        const struct fx_chan *chans;
    } exrs[] = {
        {"none_half.exr", EXR_COMPRESSION_NONE, 0, 0, 4, 3, rgba_half},
        {"zip_mixed.exr", EXR_COMPRESSION_ZIP, 3, -2, 5, 18, mixed},
        {"zips_mixed.exr", EXR_COMPRESSION_ZIPS, 0, 0, 3, 3, mixed},
        {"rle_half.exr", EXR_COMPRESSION_RLE, -1, -1, 6, 2, rgba_half},
        {"piz_mixed.exr", EXR_COMPRESSION_PIZ, 0, 0, 8, 4, mixed},
        {"pxr24_mixed.exr", EXR_COMPRESSION_PXR24, 0, 0, 5, 5, mixed},
        {"b44_half.exr", EXR_COMPRESSION_B44, 0, 0, 8, 8, rgba_half},
        {"none_float.exr", EXR_COMPRESSION_NONE, 0, 0, 4, 3, rgba_float},
        {"zip_float.exr", EXR_COMPRESSION_ZIP, 2, -1, 7, 19, rgba_float},
        {"piz_float_uint.exr", EXR_COMPRESSION_PIZ, 0, 0, 8, 4, float_uint},
        {"rle_float_uint.exr", EXR_COMPRESSION_RLE, -1, 0, 5, 6, float_uint},
    };
    for (size_t i = 0; i < sizeof exrs / sizeof exrs[0]; ++i) {
        struct fx_exr s = {exrs[i].x, exrs[i].y, exrs[i].w, exrs[i].h, exrs[i].comp,
                           4, exrs[i].chans, EXR_STORAGE_SCANLINE, 1};
        bad += write_exr_seed(exr_dir, exrs[i].name, &s);
    }

    uint8_t rgba[4 * 4 * 4], gray16[5 * 3 * 2], pal[6 * 2];
    for (size_t i = 0; i < sizeof rgba; ++i) rgba[i] = (uint8_t)(i * 37);
    for (size_t i = 0; i < sizeof gray16; ++i) gray16[i] = (uint8_t)(i * 91);
    for (size_t i = 0; i < sizeof pal; ++i) pal[i] = (uint8_t)(i % 3);
    static const png_color palette[3] = {{0, 0, 0}, {255, 0, 0}, {1, 2, 3}};
    static const uint8_t trns[2] = {0, 128};
    struct fx_png p1 = {4, 4, PNG_COLOR_TYPE_RGB_ALPHA, 8, PNG_INTERLACE_NONE, NULL, 0, NULL, 0,
                        NULL, rgba, 16};
    struct fx_png p2 = {5, 3, PNG_COLOR_TYPE_GRAY, 16, PNG_INTERLACE_ADAM7, NULL, 0, NULL, 0,
                        NULL, gray16, 10};
    struct fx_png p3 = {6, 2, PNG_COLOR_TYPE_PALETTE, 8, PNG_INTERLACE_NONE, palette, 3, trns, 2,
                        NULL, pal, 6};
    struct fx_png p4 = {5, 3, PNG_COLOR_TYPE_RGB, 8, PNG_INTERLACE_ADAM7, NULL, 0, NULL, 0,
                        NULL, rgba, 15};
    bad += write_png_seed(png_dir, "rgba8.png", &p1);
    bad += write_png_seed(png_dir, "gray16_interlaced.png", &p2);
    bad += write_png_seed(png_dir, "palette_trns.png", &p3);
    bad += write_png_seed(png_dir, "rgb8_interlaced.png", &p4);
    free(exr_dir);
    free(png_dir);
    return bad ? 1 : 0;
}
