/* test_coco.c — the COCO writer (ba_coco_*) and the RLE string helpers it
 * checks masks with (ba_rle_measure, ba_rle_decode_string).
 *
 * References: masks and RLE strings made by pycocotools (mask.encode) and
 * written out here by hand; the images read back with libpng's decoder
 * (ba_png_decode_rgba8) and compared to the bytes given; annotations.json
 * parsed by jansson and compared field by field with what each frame's
 * metadata said. (tests/cli/test_coco_cli.py and tests/python/test_coco.py
 * read whole datasets back with pycocotools.) */
#include <malloc.h>
#include <stdarg.h>
#include <string.h>

#include <jansson.h>

#include "blendarray.h"
#include "check.h"
#include "fixtures.h"

static char *g_dir;

#define CHECK_STR(a, b)                                                                \
    do {                                                                               \
        const char *a_ = (a), *b_ = (b);                                               \
        if (!a_ || !b_ || strcmp(a_, b_) != 0)                                         \
            T_REPORT("%s == \"%s\", expected \"%s\"", #a, a_ ? a_ : "(null)",          \
                     b_ ? b_ : "(null)");                                              \
    } while (0)

/* pycocotools.mask.encode of a 4x4 mask whose rows 1..2, columns 0..2 are set */
static const char RLE_BLOCK[] = "1220003";
/* pycocotools.mask.encode of a 4x4 mask with (y 0, x 3) and (y 3, x 3) set */
static const char RLE_CORNERS[] = "<120";

static void block_mask(uint8_t m[4][4])
{
    memset(m, 0, 16);
    for (int y = 1; y < 3; y++)
        for (int x = 0; x < 3; x++) m[y][x] = 1;
}

/* ---------------------------------------------------------------------- */
/*  RLE strings                                                            */
/* ---------------------------------------------------------------------- */

static void test_rle_measure(void)
{
    uint64_t pixels = 7, ones = 7;
    CHECK_RC(ba_rle_measure(RLE_BLOCK, strlen(RLE_BLOCK), &pixels, &ones), BA_OK);
    CHECK_INT(pixels, 16);
    CHECK_INT(ones, 6);
    CHECK_RC(ba_rle_measure("321O4", 5, &pixels, &ones), BA_OK); /* 3 2 1 1 5 */
    CHECK_INT(pixels, 12);
    CHECK_INT(ones, 3);
    CHECK_RC(ba_rle_measure("", 0, &pixels, NULL), BA_OK);
    CHECK_INT(pixels, 0);
    CHECK_RC(ba_rle_measure("PPPPPP3", 7, NULL, &ones), BA_OK); /* one count of 2^32 - 1 */
    CHECK_INT(ones, 0);
    pixels = ones = 99;
    CHECK_RC(ba_rle_measure("1P", 2, &pixels, &ones), BA_EFORMAT); /* unterminated */
    CHECK_INT(pixels, 0);
    CHECK_INT(ones, 0);
    CHECK_RC(ba_rle_measure("001O", 4, &pixels, &ones), BA_EFORMAT); /* a negative count */
    CHECK_RC(ba_rle_measure("1 2", 3, &pixels, &ones), BA_EFORMAT);
    CHECK_RC(ba_rle_measure(NULL, 0, &pixels, &ones), BA_EINVAL);
}

static void test_rle_decode_string(void)
{
    uint8_t want[4][4], got[4][6];
    block_mask(want);
    memset(got, 9, sizeof got);
    /* rows 6 bytes apart: the 2 bytes past each row stay as they were */
    CHECK_RC(ba_rle_decode_string(RLE_BLOCK, strlen(RLE_BLOCK), 4, 4, &got[0][0], 6, 1), BA_OK);
    for (int y = 0; y < 4; y++)
        for (int x = 0; x < 6; x++) CHECK_INT(got[y][x], x < 4 ? (want[y][x] ? 1 : 9) : 9);
    uint8_t packed[16] = {0};
    CHECK_RC(ba_rle_decode_string(RLE_CORNERS, 4, 4, 4, packed, 0, 255), BA_OK);
    for (int i = 0; i < 16; i++) CHECK_INT(packed[i], i == 3 || i == 15 ? 255 : 0);
    /* the same string, the mask's size wrong or the string bad: dst untouched */
    memset(packed, 7, sizeof packed);
    CHECK_RC(ba_rle_decode_string(RLE_BLOCK, strlen(RLE_BLOCK), 3, 5, packed, 0, 1), BA_EFORMAT);
    CHECK_RC(ba_rle_decode_string(RLE_BLOCK, strlen(RLE_BLOCK) - 1, 4, 4, packed, 0, 1),
             BA_EFORMAT);
    CHECK_RC(ba_rle_decode_string("12p", 3, 4, 4, packed, 0, 1), BA_EFORMAT);
    for (int i = 0; i < 16; i++) CHECK_INT(packed[i], 7);
    CHECK_RC(ba_rle_decode_string(RLE_BLOCK, 7, 4, 4, packed, 3, 1), BA_EINVAL);
    CHECK_RC(ba_rle_decode_string(NULL, 0, 4, 4, packed, 0, 1), BA_EINVAL);
    CHECK_RC(ba_rle_decode_string(RLE_BLOCK, 7, 4, 4, NULL, 0, 1), BA_EINVAL);
    CHECK_RC(ba_rle_decode_string("", 0, 0, 5, packed, 0, 1), BA_OK);
}

/* ---------------------------------------------------------------------- */
/*  helpers                                                                */
/* ---------------------------------------------------------------------- */

static char *fmt(const char *f, ...) __attribute__((format(printf, 1, 2)));
static char *fmt(const char *f, ...)
{
    va_list ap;
    va_start(ap, f);
    char *s = NULL;
    if (vasprintf(&s, f, ap) < 0) s = NULL;
    va_end(ap);
    return s;
}

/* A frame's metadata as the workers write it (docs/labels.md): the 4x4 block
 * instance (category 2, its name in "categories"), the corners instance
 * (category `cat2`; -1: none, null), frame number `frame`. */
static char *meta_of(long long frame, int cat2)
{
    char cat[16];
    if (cat2 < 0) snprintf(cat, sizeof cat, "null");
    else snprintf(cat, sizeof cat, "%d", cat2);
    return fmt("{\"frame\": %lld, \"engine\": \"CYCLES\", \"annotations\": {"
               "\"instances\": ["
               "{\"id\": 7, \"name\": \"Block\", \"category_id\": 2, \"area\": 6, "
               "\"bbox\": [0, 1, 3, 2], \"segmentation\": {\"size\": [4, 4], \"counts\": \"%s\"}, "
               "\"keypoints\": [1.5, 2.0, 2, 9.0, 9.0, 1, -1.0, 0.5, 1]}, "
               "{\"id\": 4000000000, \"name\": \"Corners\", \"category_id\": %s, \"area\": 2, "
               "\"bbox\": [3, 0, 1, 4], \"segmentation\": {\"size\": [4, 4], \"counts\": \"%s\"}, "
               "\"keypoints\": [3.0, 0.0, 2, 3.0, 3.0, 2, 0.0, 0.0, 2]}], "
               "\"categories\": [{\"id\": 2, \"name\": \"thing\"}], "
               "\"keypoints\": {\"names\": [\"a\", \"b\", \"c\"], \"skeleton\": [[1, 2], [2, 3]]}, "
               "\"instance_pass\": \"cryptomatte_object_00\"}}",
               frame, RLE_BLOCK, cat, RLE_CORNERS);
}

static void image_of(uint8_t img[4][4][4], int seed)
{
    for (int y = 0; y < 4; y++)
        for (int x = 0; x < 4; x++)
            for (int c = 0; c < 4; c++) img[y][x][c] = (uint8_t)(seed * 37 + y * 16 + x * 4 + c);
}

/* Entries of a folder whose name contains `part` (".coco-": temporary folders). */
static int count_named(const char *dir, const char *part)
{
    DIR *d = opendir(dir);
    if (!d) return -1;
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)))
        if (strstr(e->d_name, part)) n++;
    closedir(d);
    return n;
}

static int exists(const char *path)
{
    struct stat st;
    return lstat(path, &st) == 0;
}

/* A fresh folder for one test, under g_dir. */
static char *fresh(const char *name)
{
    char *p = fx_join(g_dir, name);
    if (p) mkdir(p, 0777);
    return p;
}

/* ---------------------------------------------------------------------- */
/*  a dataset, read back                                                   */
/* ---------------------------------------------------------------------- */

static void test_dataset_read_back(void)
{
    char *base = fresh("readback"), *dir = fx_join(base, "set");
    REQUIRE(base && dir);
    ba_coco_writer *w = NULL;
    CHECK_RC(ba_coco_new(&w), BA_OK);
    REQUIRE(w);
    CHECK_RC(ba_coco_open(w, dir, 0), BA_OK);
    CHECK_INT(count_named(base, ".set.coco-"), 1);
    CHECK(!exists(dir)); /* nothing under DIR before finish */
    uint8_t img[3][4][4][4];
    int cats[3] = {5, -1, 5}; /* frame 1's corners: no category, left out */
    for (int i = 0; i < 3; i++) {
        image_of(img[i], i);
        char *meta = meta_of(10 + i, cats[i]);
        REQUIRE(meta);
        CHECK_RC(ba_coco_add(w, &img[i][0][0][0], 4, 4, 0, meta, -1), BA_OK);
        free(meta);
    }
    CHECK_INT(ba_coco_count(w, BA_COCO_IMAGES), 3);
    CHECK_INT(ba_coco_count(w, BA_COCO_ANNOTATIONS), 5);
    CHECK_INT(ba_coco_count(w, BA_COCO_CATEGORIES), 2);
    CHECK_INT(ba_coco_count(w, BA_COCO_SKIPPED), 1);
    CHECK_INT(ba_coco_count(w, 4), 0);
    CHECK_INT(ba_coco_count(NULL, BA_COCO_IMAGES), 0);
    CHECK_RC(ba_coco_finish(w, "{\"description\": \"unit test\", \"url\": \"none\"}"), BA_OK);
    CHECK_STR(ba_coco_message(w), "");
    CHECK_RC(ba_coco_add(w, &img[0][0][0][0], 4, 4, 0, "{}", -1), BA_ESTATE);
    CHECK_RC(ba_coco_finish(w, NULL), BA_ESTATE);
    CHECK_INT(ba_coco_count(w, BA_COCO_IMAGES), 3); /* still readable */
    ba_coco_free(w);
    CHECK_INT(fx_count_entries(base), 1); /* set/ only: no temporary folder */
    CHECK_INT(fx_count_entries(dir), 2);  /* annotations.json, images/ */

    /* the images: the bytes given, through libpng's decoder */
    for (int i = 0; i < 3; i++) {
        char *png = fmt("%s/images/%06d.png", dir, i);
        REQUIRE(png);
        int fd = open(png, O_RDONLY);
        uint8_t back[4][4][4];
        uint32_t pw = 0, ph = 0;
        CHECK_RC(ba_png_decode_rgba8_fd(fd, &back[0][0][0], 16, sizeof back, &pw, &ph), BA_OK);
        if (fd >= 0) close(fd);
        CHECK(pw == 4 && ph == 4 && memcmp(back, img[i], sizeof back) == 0);
        free(png);
    }
    char *images = fx_join(dir, "images");
    CHECK_INT(fx_count_entries(images), 3);
    free(images);

    /* annotations.json, field by field */
    char *path = fx_join(dir, "annotations.json");
    json_error_t jerr;
    json_t *doc = json_load_file(path, JSON_REJECT_DUPLICATES, &jerr);
    free(path);
    REQUIRE(json_is_object(doc));
    json_t *info = json_object_get(doc, "info");
    CHECK_STR(json_string_value(json_object_get(info, "description")), "unit test");
    CHECK_STR(json_string_value(json_object_get(info, "url")), "none");
    CHECK_STR(json_string_value(json_object_get(info, "version")), ba_version_string());
    const char *date = json_string_value(json_object_get(info, "date_created"));
    CHECK(date && strlen(date) == 20 && date[10] == 'T' && date[19] == 'Z');
    json_t *imgs = json_object_get(doc, "images");
    CHECK_INT(json_array_size(imgs), 3);
    for (size_t i = 0; i < json_array_size(imgs); i++) {
        json_t *im = json_array_get(imgs, i);
        char name[32];
        snprintf(name, sizeof name, "images/%06zu.png", i);
        CHECK_INT(json_integer_value(json_object_get(im, "id")), i);
        CHECK_STR(json_string_value(json_object_get(im, "file_name")), name);
        CHECK_INT(json_integer_value(json_object_get(im, "width")), 4);
        CHECK_INT(json_integer_value(json_object_get(im, "height")), 4);
        CHECK_INT(json_integer_value(json_object_get(im, "frame")), 10 + i);
    }
    json_t *cs = json_object_get(doc, "categories");
    CHECK_INT(json_array_size(cs), 2);
    json_t *c0 = json_array_get(cs, 0), *c1 = json_array_get(cs, 1);
    CHECK_INT(json_integer_value(json_object_get(c0, "id")), 2); /* by id */
    CHECK_STR(json_string_value(json_object_get(c0, "name")), "thing");
    CHECK_INT(json_integer_value(json_object_get(c1, "id")), 5);
    CHECK_STR(json_string_value(json_object_get(c1, "name")), "5"); /* no name: the id */
    CHECK_STR(json_string_value(json_object_get(c1, "supercategory")), "object");
    CHECK_INT(json_array_size(json_object_get(c1, "keypoints")), 3);
    CHECK_INT(json_array_size(json_object_get(c1, "skeleton")), 2);
    json_t *anns = json_object_get(doc, "annotations");
    CHECK_INT(json_array_size(anns), 5);
    /* image 0: block, corners; image 1: block; image 2: block, corners */
    static const int image_of_ann[5] = {0, 0, 1, 2, 2};
    for (size_t i = 0; i < json_array_size(anns); i++) {
        json_t *a = json_array_get(anns, i);
        int corners = i == 1 || i == 4;
        CHECK_INT(json_integer_value(json_object_get(a, "id")), i + 1);
        CHECK_INT(json_integer_value(json_object_get(a, "image_id")), image_of_ann[i]);
        CHECK_INT(json_integer_value(json_object_get(a, "category_id")), corners ? 5 : 2);
        CHECK_INT(json_integer_value(json_object_get(a, "area")), corners ? 2 : 6);
        CHECK_INT(json_integer_value(json_object_get(a, "iscrowd")), 0);
        CHECK_INT(json_integer_value(json_object_get(a, "num_keypoints")), corners ? 3 : 3);
        CHECK_STR(json_string_value(json_object_get(json_object_get(a, "segmentation"), "counts")),
                  corners ? RLE_CORNERS : RLE_BLOCK);
        json_t *ba = json_object_get(a, "blendarray");
        CHECK_STR(json_string_value(json_object_get(ba, "name")), corners ? "Corners" : "Block");
        CHECK_INT(json_integer_value(json_object_get(ba, "instance_id")),
                  corners ? 4000000000LL : 7);
        CHECK_INT(json_integer_value(json_array_get(json_object_get(a, "bbox"), 1)),
                  corners ? 0 : 1);
    }
    json_decref(doc);
    free(dir);
    free(base);
}

/* num_keypoints counts the visible ones (v > 0): Block's 3 triples all have v >= 1 */
static void test_explicit_ids_and_frames_without_labels(void)
{
    char *base = fresh("ids"), *dir = fx_join(base, "set");
    REQUIRE(base && dir);
    ba_coco_writer *w = NULL;
    CHECK_RC(ba_coco_new(&w), BA_OK);
    CHECK_RC(ba_coco_open(w, dir, 0), BA_OK);
    uint8_t img[4][4][4];
    image_of(img, 1);
    const char *empty = "{\"annotations\": {\"instances\": [], \"categories\": [], "
                        "\"keypoints\": {\"names\": [], \"skeleton\": []}}}";
    CHECK_RC(ba_coco_add(w, &img[0][0][0], 4, 4, 0, empty, 1234567), BA_OK);
    CHECK_RC(ba_coco_add(w, &img[0][0][0], 4, 4, 0, empty, -1), BA_OK); /* 1234568 */
    CHECK_RC(ba_coco_add(w, &img[0][0][0], 4, 4, 0, empty, 3), BA_OK);
    CHECK_RC(ba_coco_add(w, &img[0][0][0], 4, 4, 0, empty, -1), BA_OK); /* 1234569 */
    CHECK_RC(ba_coco_add(w, &img[0][0][0], 4, 4, 0, empty, 3), BA_EINVAL); /* given before */
    CHECK(strstr(ba_coco_message(w), "image id 3 was given to an earlier image"));
    CHECK_RC(ba_coco_add(w, &img[0][0][0], 4, 4, 0, empty, -2), BA_EINVAL);
    CHECK_RC(ba_coco_finish(w, NULL), BA_OK);
    ba_coco_free(w);
    char *path = fx_join(dir, "annotations.json");
    json_error_t jerr;
    json_t *doc = json_load_file(path, 0, &jerr);
    REQUIRE(doc);
    json_t *imgs = json_object_get(doc, "images");
    static const long long ids[4] = {1234567, 1234568, 3, 1234569};
    CHECK_INT(json_array_size(imgs), 4);
    for (size_t i = 0; i < 4 && i < json_array_size(imgs); i++) {
        json_t *im = json_array_get(imgs, i);
        char name[32];
        snprintf(name, sizeof name, "images/%06lld.png", ids[i]);
        CHECK_INT(json_integer_value(json_object_get(im, "id")), ids[i]);
        CHECK_STR(json_string_value(json_object_get(im, "file_name")), name);
        CHECK(json_object_get(im, "frame") == NULL); /* the metadata had none */
    }
    CHECK_INT(json_array_size(json_object_get(doc, "annotations")), 0);
    CHECK_INT(json_array_size(json_object_get(doc, "categories")), 0);
    CHECK_STR(json_string_value(json_object_get(json_object_get(doc, "info"), "description")),
              "made with blendarray");
    json_decref(doc);
    free(path);
    free(dir);
    free(base);
}

/* ---------------------------------------------------------------------- */
/*  refusals                                                               */
/* ---------------------------------------------------------------------- */

static int open_rc(const char *dir, int overwrite, const char *want_in_message)
{
    ba_coco_writer *w = NULL;
    int rc = ba_coco_new(&w);
    if (rc == BA_OK) rc = ba_coco_open(w, dir, overwrite);
    if (want_in_message && !strstr(ba_coco_message(w), want_in_message))
        T_REPORT("open(%s): message '%s' lacks '%s'", dir, ba_coco_message(w), want_in_message);
    ba_coco_free(w);
    return rc;
}

static void test_open_refusals(void)
{
    char *base = fresh("refusals");
    REQUIRE(base);
    char *full = fx_join(base, "full"), *file = fx_join(base, "file"), *keep = NULL;
    REQUIRE(full && file);
    mkdir(full, 0777);
    keep = fx_join(full, "keep.txt");
    FILE *f = fopen(keep, "w");
    if (f) fclose(f);
    f = fopen(file, "w");
    if (f) fclose(f);
    CHECK_RC(open_rc(full, 0, "full exists and is not empty"), BA_EEXIST);
    CHECK_RC(open_rc(file, 0, "file exists and is not a folder"), BA_EINVAL);
    CHECK_RC(open_rc(file, 1, "exists and is not a folder"), BA_EINVAL);
    CHECK_RC(open_rc("", 0, "give a new or empty folder"), BA_EINVAL);
    CHECK_RC(open_rc("/", 0, "give a new or empty folder"), BA_EINVAL);
    char *dots = fx_join(base, "..");
    CHECK_RC(open_rc(dots, 0, "name the folder itself, not '..'"), BA_EINVAL);
    free(dots);
    /* a path so long that the images' paths in the folder beside it would not fit */
    char longpath[PATH_MAX];
    int len = snprintf(longpath, sizeof longpath, "%s/missing", base);
    /* exactly PATH_MAX - 30 bytes whatever the length of base ($TMPDIR's): name
     * components of at most 200 bytes */
    while (len < PATH_MAX - 30) {
        int left = PATH_MAX - 30 - len; /* never a last component of "/" alone */
        int n = left <= 201 ? left : left - 201 < 2 ? 199 : 201;
        memset(longpath + len, 'x', (size_t)n);
        longpath[len] = '/';
        len += n;
        longpath[len] = '\0';
    }
    CHECK_RC(open_rc(longpath, 0, "the path is too long"), BA_EINVAL);
    char *orphan = fx_join(base, "missing/set");
    CHECK_RC(open_rc(orphan, 0, "does not exist"), BA_EIO);
    free(orphan);
    CHECK(exists(keep) && exists(file));
    CHECK_INT(count_named(base, ".coco-"), 0);
    /* state */
    ba_coco_writer *w = NULL;
    uint8_t px[4] = {0};
    CHECK_RC(ba_coco_new(NULL), BA_EINVAL);
    CHECK_RC(ba_coco_new(&w), BA_OK);
    CHECK_RC(ba_coco_add(w, px, 1, 1, 0, "{}", -1), BA_ESTATE);
    CHECK(strstr(ba_coco_message(w), "not open"));
    CHECK_RC(ba_coco_finish(w, NULL), BA_ESTATE);
    CHECK_RC(ba_coco_open(w, NULL, 0), BA_EINVAL);
    char *dir = fx_join(base, "twice");
    CHECK_RC(ba_coco_open(w, dir, 0), BA_ESTATE); /* a failed open: unusable */
    ba_coco_free(w);
    CHECK_RC(ba_coco_new(&w), BA_OK);
    CHECK_RC(ba_coco_open(w, dir, 0), BA_OK);
    CHECK_RC(ba_coco_open(w, dir, 0), BA_ESTATE);
    ba_coco_free(w); /* unfinished: nothing left */
    CHECK(!exists(dir));
    CHECK_INT(count_named(base, ".coco-"), 0);
    CHECK_RC(ba_coco_open(NULL, dir, 0), BA_EINVAL);
    CHECK_RC(ba_coco_add(NULL, px, 1, 1, 0, "{}", -1), BA_EINVAL);
    CHECK_RC(ba_coco_finish(NULL, NULL), BA_EINVAL);
    CHECK_STR(ba_coco_message(NULL), "");
    ba_coco_free(NULL);
    free(dir);
    free(keep);
    free(full);
    free(file);
    free(base);
}

/* Each malformed metadata: BA_EFORMAT, the message naming what; nothing kept;
 * the writer goes on. */
static void test_malformed_labels(void)
{
    char *base = fresh("malformed"), *dir = fx_join(base, "set");
    REQUIRE(base && dir);
    ba_coco_writer *w = NULL;
    CHECK_RC(ba_coco_new(&w), BA_OK);
    CHECK_RC(ba_coco_open(w, dir, 0), BA_OK);
    uint8_t img[4][4][4];
    image_of(img, 2);
    char *good = meta_of(1, 5);
    REQUIRE(good);
    static const struct {
        const char *from, *to, *message;
    } cases[] = {
        {"\"area\": 6", "\"area\": 5", "instance 0: \"area\" is not the mask's pixel count"},
        {"\"area\": 6", "\"area\": 17", "instance 0: \"area\" is not a pixel count"},
        {"\"area\": 6", "\"area\": 6.0", "instance 0: \"area\" is not a pixel count"},
        {"\"id\": 7", "\"id\": 0", "instance 0: \"id\" is not a uint32 > 0"},
        {"\"id\": 4000000000", "\"id\": 4294967296", "instance 1: \"id\" is not a uint32 > 0"},
        {"\"name\": \"Block\"", "\"name\": 3", "instance 0: \"name\" is not text"},
        {"\"category_id\": 2", "\"category_id\": \"2\"",
         "instance 0: \"category_id\" is neither an integer nor null"},
        {"\"bbox\": [0, 1, 3, 2]", "\"bbox\": [0, 1, 3]", "instance 0: \"bbox\" is not 4 numbers"},
        {"\"size\": [4, 4], \"counts\": \"1220003\"", "\"size\": [4, 5], \"counts\": \"1220003\"",
         "instance 0: \"segmentation\" is not {\"size\": [H, W] of the image"},
        {"\"counts\": \"1220003\"", "\"counts\": \"12200 3\"",
         "instance 0: \"segmentation\" counts are not COCO RLE"},
        {"\"counts\": \"1220003\"", "\"counts\": \"12200031\"",
         "instance 0: \"segmentation\" counts do not cover the image"},
        {"\"keypoints\": [3.0, 0.0, 2,", "\"keypoints\": [0.0, 2,",
         "instance 1: \"keypoints\" is not a list of x, y, v triples"},
        {"\"categories\": [{\"id\": 2, \"name\": \"thing\"}]", "\"categories\": [{\"id\": 2}]",
         "category 0 is not {\"id\": integer, \"name\": text}"},
        {"\"instances\": [", "\"instances\": 3, \"x\": [", "\"instances\" is not a list"},
        {"\"categories\": [{\"id\": 2, \"name\": \"thing\"}]",
         "\"categories\": {\"id\": 2, \"name\": \"thing\"}", "\"categories\" is not a list"},
        {"\"skeleton\": [[1, 2], [2, 3]]", "\"skel\": []", "\"keypoints\" is not {\"names\""},
        {"\"annotations\": {", "\"annotations\": [], \"x\": {",
         "no \"annotations\" object"},
        {"{\"frame\"", "[{\"frame\"", "not a JSON object"},
    };
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        const char *at = strstr(good, cases[k].from);
        if (!at) {
            T_REPORT("case %zu: '%s' is not in the metadata", k, cases[k].from);
            continue;
        }
        char *bad = fmt("%.*s%s%s%s", (int)(at - good), good, cases[k].to,
                        at + strlen(cases[k].from), cases[k].from[0] == '{' ? "]" : "");
        REQUIRE(bad);
        CHECK_RC(ba_coco_add(w, &img[0][0][0], 4, 4, 0, bad, -1), BA_EFORMAT);
        if (strncmp(ba_coco_message(w), "malformed labels in its metadata: ", 34) != 0 ||
            !strstr(ba_coco_message(w), cases[k].message))
            T_REPORT("case %zu: message '%s', expected '%s'", k, ba_coco_message(w),
                     cases[k].message);
        free(bad);
    }
    CHECK_RC(ba_coco_add(w, &img[0][0][0], 4, 4, 0, "not json", -1), BA_EFORMAT);
    /* an empty mask (pycocotools' "`0") of area 0 is a mask: taken */
    const char *block = strstr(good, "\"area\": 6, \"bbox\": [0, 1, 3, 2], \"segmentation\": "
                                     "{\"size\": [4, 4], \"counts\": \"1220003\"}");
    REQUIRE(block);
    char *empty = fmt("%.*s\"area\": 0, \"bbox\": [0, 0, 0, 0], \"segmentation\": {\"size\": "
                      "[4, 4], \"counts\": \"`0\"}%s", (int)(block - good), good,
                      block + strlen("\"area\": 6, \"bbox\": [0, 1, 3, 2], \"segmentation\": "
                                     "{\"size\": [4, 4], \"counts\": \"1220003\"}"));
    CHECK_RC(ba_coco_add(w, &img[0][0][0], 4, 4, 0, empty, 5), BA_OK);
    free(empty);
    /* a frame whose image is not the masks' size */
    CHECK_RC(ba_coco_add(w, &img[0][0][0], 2, 8, 0, good, -1), BA_EFORMAT);
    CHECK_RC(ba_coco_add(w, NULL, 4, 4, 0, good, -1), BA_EINVAL);
    CHECK_RC(ba_coco_add(w, &img[0][0][0], 4, 4, 0, NULL, -1), BA_EINVAL);
    CHECK_RC(ba_coco_add(w, &img[0][0][0], 0, 4, 0, good, -1), BA_EINVAL);
    CHECK_RC(ba_coco_add(w, &img[0][0][0], 4, 4, 15, good, -1), BA_EINVAL);
    CHECK_INT(ba_coco_count(w, BA_COCO_IMAGES), 1); /* the empty mask's frame only */
    /* the writer goes on: one good frame, then an info that is no object (refused, and the
     * dataset goes on too) */
    CHECK_RC(ba_coco_add(w, &img[0][0][0], 4, 4, 0, good, -1), BA_OK);
    CHECK_RC(ba_coco_finish(w, "[1]"), BA_EINVAL);
    CHECK(strstr(ba_coco_message(w), "info is not a JSON object"));
    CHECK_RC(ba_coco_finish(w, "{"), BA_EINVAL);
    CHECK_RC(ba_coco_finish(w, NULL), BA_OK);
    ba_coco_free(w);
    char *path = fx_join(dir, "annotations.json");
    json_error_t jerr;
    json_t *doc = json_load_file(path, 0, &jerr);
    CHECK_INT(json_array_size(json_object_get(doc, "images")), 2);
    CHECK_INT(json_integer_value(json_object_get(json_array_get(json_object_get(doc, "images"),
                                                                0), "id")), 5);
    CHECK_INT(json_integer_value(json_object_get(json_array_get(json_object_get(doc, "images"),
                                                                1), "id")), 6);
    CHECK_INT(json_array_size(json_object_get(doc, "annotations")), 4);
    CHECK_INT(json_integer_value(json_object_get(json_array_get(json_object_get(doc, "annotations"),
                                                                0), "area")), 0);
    json_decref(doc);
    free(path);
    free(good);
    free(dir);
    free(base);
}

/* ---------------------------------------------------------------------- */
/*  replacing DIR, and DIR changing under the writer                        */
/* ---------------------------------------------------------------------- */

static void touch(const char *dir, const char *name)
{
    char *p = fx_join(dir, name);
    FILE *f = p ? fopen(p, "w") : NULL;
    if (f) fclose(f);
    free(p);
}

static void test_replace_and_races(void)
{
    char *base = fresh("replace"), *dir = fx_join(base, "set");
    REQUIRE(base && dir);
    mkdir(dir, 0777);
    touch(dir, "old.txt");
    uint8_t img[4][4][4];
    image_of(img, 3);
    char *meta = meta_of(1, 5);
    REQUIRE(meta);
    /* overwrite: the folder with files is replaced, at finish only */
    ba_coco_writer *w = NULL;
    CHECK_RC(ba_coco_new(&w), BA_OK);
    char *slashed = fmt("%s//", dir);
    CHECK_RC(ba_coco_open(w, slashed, 1), BA_OK); /* trailing slashes: the same DIR */
    CHECK_RC(ba_coco_add(w, &img[0][0][0], 4, 4, 0, meta, -1), BA_OK);
    char *old = fx_join(dir, "old.txt");
    CHECK(exists(old));
    CHECK_RC(ba_coco_finish(w, NULL), BA_OK);
    ba_coco_free(w);
    CHECK(!exists(old));
    CHECK_INT(fx_count_entries(dir), 2);
    CHECK_INT(fx_count_entries(base), 1); /* the old folder went too */

    /* DIR empty at open, files appear meanwhile, no overwrite: refused, DIR as it is */
    char *dir2 = fx_join(base, "set2");
    mkdir(dir2, 0777);
    CHECK_RC(ba_coco_new(&w), BA_OK);
    CHECK_RC(ba_coco_open(w, dir2, 0), BA_OK);
    CHECK_RC(ba_coco_add(w, &img[0][0][0], 4, 4, 0, meta, -1), BA_OK);
    touch(dir2, "theirs.txt");
    CHECK_RC(ba_coco_finish(w, NULL), BA_EEXIST);
    CHECK(strstr(ba_coco_message(w), "files appeared in it"));
    CHECK_RC(ba_coco_add(w, &img[0][0][0], 4, 4, 0, meta, -1), BA_ESTATE);
    CHECK(strstr(ba_coco_message(w), "an earlier error ended the dataset"));
    ba_coco_free(w);
    CHECK_INT(fx_count_entries(dir2), 1);
    CHECK_INT(count_named(base, ".coco-"), 0);

    /* an empty DIR, no overwrite: the dataset takes its place */
    char *dir3 = fx_join(base, "set3");
    mkdir(dir3, 0777);
    CHECK_RC(ba_coco_new(&w), BA_OK);
    CHECK_RC(ba_coco_open(w, dir3, 0), BA_OK);
    CHECK_RC(ba_coco_finish(w, NULL), BA_OK); /* no image at all: a valid, empty dataset */
    ba_coco_free(w);
    CHECK_INT(fx_count_entries(dir3), 2);

    /* the folder beside DIR has the mode a plain mkdir gives (umask's), not mkdtemp's 0700 */
    char *probe = fx_join(base, "probe");
    struct stat st_probe, st_set;
    CHECK(mkdir(probe, 0777) == 0 && stat(probe, &st_probe) == 0 && stat(dir3, &st_set) == 0);
    CHECK_HEX(st_set.st_mode & 07777, st_probe.st_mode & 07777);
    free(probe);
    free(dir3);
    free(dir2);
    free(old);
    free(slashed);
    free(meta);
    free(dir);
    free(base);
}

/* ---------------------------------------------------------------------- */
/*  memory flat in the number of frames                                    */
/* ---------------------------------------------------------------------- */

/* Bytes of the heap in use (glibc: arenas and mmap'd blocks). */
static size_t heap_in_use(void)
{
    struct mallinfo2 mi = mallinfo2();
    return mi.uordblks + mi.hblkhd;
}

enum { KP = 200 }; /* keypoints an instance */

static void test_memory_is_flat_in_frames(void)
{
    char *base = fresh("flat"), *dir = fx_join(base, "set");
    REQUIRE(base && dir);
    ba_coco_writer *w = NULL;
    CHECK_RC(ba_coco_new(&w), BA_OK);
    CHECK_RC(ba_coco_open(w, dir, 0), BA_OK);
    uint8_t px[4] = {1, 2, 3, 255};
    /* a 1x1 image with one instance of many keypoints: ~3 KiB of annotation a frame
     * (few frames: each image is a file, fsync'd) */
    char kps[KP * 3 * 12 + 1] = "", *p = kps;
    for (int k = 0; k < KP; k++) p += sprintf(p, "%s%d.25, %d.5, 2", k ? ", " : "", k, k);
    char *meta = fmt("{\"frame\": 1, \"annotations\": {\"instances\": [{\"id\": 9, \"name\": "
                     "\"Px\", \"category_id\": 1, \"area\": 1, \"bbox\": [0, 0, 1, 1], "
                     "\"segmentation\": {\"size\": [1, 1], \"counts\": \"01\"}, "
                     "\"keypoints\": [%s]}], \"categories\": [{\"id\": 1, \"name\": \"px\"}], "
                     "\"keypoints\": {\"names\": [], \"skeleton\": []}}}", kps);
    REQUIRE(meta);
    enum { WARM = 50, MORE = 400 };
    int err = BA_OK;
    for (int i = 0; i < WARM && !err; i++) err = ba_coco_add(w, px, 1, 1, 0, meta, -1);
    size_t before = heap_in_use();
    for (int i = 0; i < MORE && !err; i++) err = ba_coco_add(w, px, 1, 1, 0, meta, -1);
    size_t after = heap_in_use();
    CHECK_RC(err, BA_OK);
    /* kept in memory, the records of MORE frames would be > 1 MB */
    if (after > before + 64 * 1024)
        T_REPORT("the heap grew by %zu bytes over %d frames", after - before, MORE);
    CHECK_RC(ba_coco_finish(w, NULL), BA_OK);
    CHECK_INT(ba_coco_count(w, BA_COCO_ANNOTATIONS), WARM + MORE);
    ba_coco_free(w);
    /* and the file holds them all */
    char *path = fx_join(dir, "annotations.json");
    json_error_t jerr;
    json_t *doc = json_load_file(path, 0, &jerr);
    CHECK_INT(json_array_size(json_object_get(doc, "annotations")), WARM + MORE);
    CHECK_INT(json_array_size(json_object_get(doc, "images")), WARM + MORE);
    json_t *last = json_array_get(json_object_get(doc, "annotations"), WARM + MORE - 1);
    CHECK_INT(json_array_size(json_object_get(last, "keypoints")), KP * 3);
    json_decref(doc);
    free(path);
    free(meta);
    free(dir);
    free(base);
}

/* ---------------------------------------------------------------------- */
/*  jansson's allocations failing                                          */
/* ---------------------------------------------------------------------- */

/* jansson takes an allocator: the n-th of its allocations from g_fail_at's
 * setting fails (tests/c/test_nomem.c fails the library's own, with --wrap). */
static long g_calls, g_fail_at;

static void *counting_malloc(size_t n)
{
    return ++g_calls == g_fail_at ? NULL : malloc(n);
}

/* open, two frames, finish; the first error, and its message into msg */
static int coco_run(const char *dir, char *msg, size_t cap)
{
    uint8_t img[4][4][4];
    image_of(img, 4);
    char *a = meta_of(1, 5), *b = meta_of(2, -1);
    ba_coco_writer *w = NULL;
    g_calls = 0;
    int rc = a && b ? ba_coco_new(&w) : BA_ENOMEM;
    if (!rc) rc = ba_coco_open(w, dir, 0);
    if (!rc) rc = ba_coco_add(w, &img[0][0][0], 4, 4, 0, a, -1);
    if (!rc) rc = ba_coco_add(w, &img[0][0][0], 4, 4, 0, b, -1);
    if (!rc) rc = ba_coco_finish(w, "{\"description\": \"x\"}");
    snprintf(msg, cap, "%s", ba_coco_message(w));
    ba_coco_free(w);
    free(a);
    free(b);
    return rc;
}

static void test_jansson_out_of_memory(void)
{
    char *base = fresh("nomem"), *dir = fx_join(base, "set");
    REQUIRE(base && dir);
    char msg[512];
    json_set_alloc_funcs(counting_malloc, free);
    g_fail_at = 0;
    int rc = coco_run(dir, msg, sizeof msg);
    long total = g_calls;
    CHECK_RC(rc, BA_OK);
    CHECK(total > 20);
    fx_rmdir(dir);
    for (g_fail_at = 1; g_fail_at <= total; g_fail_at++) {
        rc = coco_run(dir, msg, sizeof msg);
        if (rc == BA_OK) { /* a failure jansson gets over (a table not grown): all there */
            char *path = fx_join(dir, "annotations.json");
            json_set_alloc_funcs(malloc, free);
            json_error_t jerr;
            json_t *doc = path ? json_load_file(path, 0, &jerr) : NULL;
            if (json_array_size(json_object_get(doc, "images")) != 2 ||
                json_array_size(json_object_get(doc, "annotations")) != 3)
                T_REPORT("allocation %ld of %ld failed, and the dataset is incomplete", g_fail_at,
                         total);
            json_decref(doc);
            json_set_alloc_funcs(counting_malloc, free);
            free(path);
            fx_rmdir(dir);
            continue;
        }
        /* jansson's parser says "syntax error" when it runs out of memory */
        int parser = (rc == BA_EFORMAT && strstr(msg, "not a JSON object")) ||
                     (rc == BA_EINVAL && strstr(msg, "info is not a JSON object"));
        if (rc != BA_ENOMEM && !parser)
            T_REPORT("allocation %ld of %ld failed: %d (%s), '%s'", g_fail_at, total, rc,
                     ba_strerror(rc), msg);
        if (rc == BA_ENOMEM && !strstr(msg, "out of memory") && msg[0])
            T_REPORT("allocation %ld: message '%s'", g_fail_at, msg);
        if (exists(dir) || count_named(base, ".coco-") != 0) {
            T_REPORT("allocation %ld: something was left", g_fail_at);
            fx_rmdir(dir);
        }
    }
    json_set_alloc_funcs(malloc, free);
    free(dir);
    free(base);
}

int main(void)
{
    g_dir = fx_tempdir();
    if (!g_dir) {
        perror("mkdtemp");
        return 1;
    }
    RUN(test_rle_measure);
    RUN(test_rle_decode_string);
    RUN(test_dataset_read_back);
    RUN(test_explicit_ids_and_frames_without_labels);
    RUN(test_open_refusals);
    RUN(test_malformed_labels);
    RUN(test_replace_and_races);
    RUN(test_memory_is_flat_in_frames);
    RUN(test_jansson_out_of_memory);
    fx_rmdir(g_dir);
    free(g_dir);
    return t_summary();
}
