/* coco.c — a COCO dataset streamed to disk: each frame's display image as a
 * PNG at once, its image record and annotations appended to unlinked
 * temporary files, annotations.json assembled from them at the end (memory
 * flat in the number of frames: only the categories are kept). The dataset
 * is filled in a folder beside DIR and renamed into place when complete.
 *
 * The same records without images (internal.h: ba_internal_coco_open_file,
 * ba_internal_coco_add_record): one COCO file whose images a caller stores
 * itself and names (the shard writer's shard-NNNNNN.coco.json, whose images
 * are the shard's display members), written atomically at finish, with an
 * "info" that holds no date, so that the same frames give the same bytes. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "internal.h"

enum { ST_NEW, ST_OPEN, ST_FAILED, ST_DONE };

struct ba_coco_writer {
    int state;
    int overwrite;
    char *final;          /* DIR, without trailing slashes (file mode: the COCO file) */
    int file_mode;        /* records only, into the file `final` (no folder, no PNG) */
    char *parent;         /* its folder */
    char *tmp;            /* the folder being filled beside DIR; NULL when none */
    FILE *images;         /* the image records so far (compact JSON, ",\n" apart) */
    FILE *annotations;    /* the annotations so far, likewise */
    json_t *categories;   /* [{"id", "name", "supercategory", "keypoints", "skeleton"}] */
    uint64_t count[4];    /* enum ba_coco_count */
    int64_t next_id;      /* one more than the largest image id so far */
    char msg[PATH_MAX + 256];
};

static int fail(ba_coco_writer *w, int err, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int fail(ba_coco_writer *w, int err, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(w->msg, sizeof w->msg, fmt, ap);
    va_end(ap);
    return err;
}

/* The temporary folder and what is open in it go; the writer is unusable. */
static void discard(ba_coco_writer *w)
{
    if (w->images) fclose(w->images);
    if (w->annotations) fclose(w->annotations);
    w->images = w->annotations = NULL;
    if (w->tmp) ba_internal_rmtree(w->tmp);
    free(w->tmp);
    w->tmp = NULL;
}

/* A write that failed midway leaves the files unknown: nothing more is kept.
 * what: what failed, for the message (errno's words follow); NULL: the
 * message is set already. */
static int broken(ba_coco_writer *w, int err, const char *what)
{
    int e = errno;
    discard(w);
    w->state = ST_FAILED;
    if (!what) return err;
    return fail(w, err, "%s: %s: %s%s%s", w->final, what, ba_strerror(err),
                e && err != BA_ENOMEM ? ": " : "", e && err != BA_ENOMEM ? strerror(e) : "");
}

int ba_coco_new(ba_coco_writer **out)
{
    if (!out) return BA_EINVAL;
    *out = calloc(1, sizeof **out);
    return *out ? BA_OK : BA_ENOMEM;
}

static int dir_is_empty(const char *path)
{
    DIR *d = opendir(path);
    if (!d) return -1;
    struct dirent *e;
    int empty = 1;
    while (empty && (e = readdir(d)))
        if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0) empty = 0;
    closedir(d);
    return empty;
}

/* The longest path made in the temporary folder, past its own name:
 * "/images/" and an image id's 19 digits and ".png". */
#define TMP_TAIL 40

/* An unlinked file in the temporary folder: gone with the process, whatever happens. */
static FILE *scratch_file(const char *dir)
{
    char path[PATH_MAX];
    snprintf(path, sizeof path, "%s/.part-XXXXXX", dir); /* fits: TMP_TAIL */
    int fd = mkostemp(path, O_CLOEXEC);
    if (fd < 0) return NULL;
    FILE *f = unlink(path) == 0 ? fdopen(fd, "w+") : NULL;
    if (!f) {
        int e = errno;
        unlink(path);
        close(fd);
        errno = e;
    }
    return f;
}

/* The temporary folder beside DIR: images/ in it, and the scratch files. */
static int make_tmp(ba_coco_writer *w, const char *base)
{
    if (asprintf(&w->tmp, "%s/.%s.coco-%d-XXXXXX", w->parent, base, (int)getpid()) < 0) {
        w->tmp = NULL;
        return fail(w, BA_ENOMEM, "out of memory");
    }
    if (strlen(w->tmp) + TMP_TAIL >= PATH_MAX) {
        free(w->tmp);
        w->tmp = NULL;
        return fail(w, BA_EINVAL, "%.80s...: the path is too long", w->final);
    }
    if (!mkdtemp(w->tmp)) {
        int e = errno;
        free(w->tmp);
        w->tmp = NULL;
        if (e == ENOENT)
            return fail(w, BA_EIO, "%s: the folder %s does not exist", w->final, w->parent);
        return fail(w, BA_EIO, "%s: cannot create a folder beside it: %s", w->final, strerror(e));
    }
    /* mkdtemp makes it 0700: give it the mode a plain mkdir would (the umask's,
     * learnt from images/, made so, without touching the process's umask) */
    char images[PATH_MAX];
    struct stat st;
    snprintf(images, sizeof images, "%s/images", w->tmp);
    if (mkdir(images, 0777) != 0 || stat(images, &st) != 0 ||
        chmod(w->tmp, st.st_mode & 0777) != 0 || !(w->images = scratch_file(w->tmp)) ||
        !(w->annotations = scratch_file(w->tmp)))
        return broken(w, BA_EIO, "cannot fill a folder beside it");
    return BA_OK;
}

static int open_dir(ba_coco_writer *w, const char *dir, int overwrite);

int ba_coco_open(ba_coco_writer *w, const char *dir, int overwrite)
{
    if (!w) return BA_EINVAL;
    if (w->state != ST_NEW) return fail(w, BA_ESTATE, "this writer was opened before: make a new one");
    w->msg[0] = '\0';
    int err = open_dir(w, dir, overwrite);
    w->state = err ? ST_FAILED : ST_OPEN; /* a failed open leaves it unusable, as documented */
    return err;
}

static int open_dir(ba_coco_writer *w, const char *dir, int overwrite)
{
    if (!dir) return fail(w, BA_EINVAL, "no folder given");
    size_t n = strlen(dir);
    while (n > 1 && dir[n - 1] == '/') n--;
    if (n == 0 || (n == 1 && dir[0] == '/'))
        return fail(w, BA_EINVAL, "'%s': give a new or empty folder", dir);
    char *final = strndup(dir, n);
    if (!final) return fail(w, BA_ENOMEM, "out of memory");
    char *slash = strrchr(final, '/');
    const char *base = slash ? slash + 1 : final;
    if (strcmp(base, ".") == 0 || strcmp(base, "..") == 0) {
        fail(w, BA_EINVAL, "%s: name the folder itself, not '%s'", dir, base);
        free(final);
        return BA_EINVAL;
    }
    struct stat st;
    int err = BA_OK;
    if (lstat(final, &st) == 0) {
        int empty = S_ISDIR(st.st_mode) ? dir_is_empty(final) : 0;
        if (!S_ISDIR(st.st_mode)) err = fail(w, BA_EINVAL, "%s exists and is not a folder", dir);
        else if (empty < 0) err = fail(w, BA_EIO, "%s: %s", dir, strerror(errno));
        else if (!empty && !overwrite) err = fail(w, BA_EEXIST, "%s exists and is not empty", dir);
    } else if (errno != ENOENT) {
        err = fail(w, BA_EIO, "%s: %s", dir, strerror(errno));
    }
    char *parent = err ? NULL
                       : slash ? strndup(final, slash == final ? 1 : (size_t)(slash - final))
                               : strdup(".");
    if (!err && !parent) err = fail(w, BA_ENOMEM, "out of memory");
    json_t *cats = err ? NULL : json_array();
    if (!err && !cats) err = fail(w, BA_ENOMEM, "out of memory");
    if (err) {
        free(parent);
        free(final);
        return err;
    }
    w->final = final;
    w->parent = parent;
    w->categories = cats;
    w->overwrite = !!overwrite;
    return make_tmp(w, base);
}

/* ---------------------------------------------------------------------- */
/*  one frame                                                              */
/* ---------------------------------------------------------------------- */

/* "malformed labels in its metadata: ...": something docs/labels.md does not describe */
static int bad(ba_coco_writer *w, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int bad(ba_coco_writer *w, const char *fmt, ...)
{
    static const char head[] = "malformed labels in its metadata: ";
    memcpy(w->msg, head, sizeof head);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(w->msg + sizeof head - 1, sizeof w->msg - (sizeof head - 1), fmt, ap);
    va_end(ap);
    return BA_EFORMAT;
}

static int is_number(const json_t *v)
{
    return json_is_integer(v) || (json_is_real(v) && isfinite(json_real_value(v)));
}

/* an array of numbers whose length is a multiple of `multiple` (and, when
 * exact is not 0, is exact) */
static int numbers(const json_t *a, size_t exact, size_t multiple)
{
    size_t len = json_array_size(a);
    if (!json_is_array(a) || (exact && len != exact) || len % multiple != 0) return 0;
    for (size_t i = 0; i < len; i++)
        if (!is_number(json_array_get(a, i))) return 0;
    return 1;
}

/* What is wrong with instance v of an h x w image, or NULL. */
static const char *bad_instance(const json_t *v, uint32_t h, uint32_t w)
{
    json_t *id = json_object_get(v, "id"), *seg = json_object_get(v, "segmentation");
    json_t *size = json_object_get(seg, "size"), *cat = json_object_get(v, "category_id");
    json_t *area = json_object_get(v, "area"), *counts = json_object_get(seg, "counts");
    if (!json_is_object(v)) return "not an object";
    if (!json_is_integer(id) || json_integer_value(id) <= 0 ||
        json_integer_value(id) > (json_int_t)UINT32_MAX)
        return "\"id\" is not a uint32 > 0";
    if (!json_is_string(json_object_get(v, "name"))) return "\"name\" is not text";
    if (!json_is_null(cat) && !json_is_integer(cat))
        return "\"category_id\" is neither an integer nor null";
    if (!json_is_integer(area) || json_integer_value(area) < 0 ||
        json_integer_value(area) > (json_int_t)h * w)
        return "\"area\" is not a pixel count";
    if (!numbers(json_object_get(v, "bbox"), 4, 1)) return "\"bbox\" is not 4 numbers";
    if (!json_is_object(seg) || !json_is_string(counts) || !numbers(size, 2, 1) ||
        json_integer_value(json_array_get(size, 0)) != (json_int_t)h ||
        json_integer_value(json_array_get(size, 1)) != (json_int_t)w)
        return "\"segmentation\" is not {\"size\": [H, W] of the image, \"counts\": text}";
    if (!numbers(json_object_get(v, "keypoints"), 0, 3))
        return "\"keypoints\" is not a list of x, y, v triples";
    uint64_t pixels, ones;
    if (ba_rle_measure(json_string_value(counts), json_string_length(counts), &pixels, &ones))
        return "\"segmentation\" counts are not COCO RLE";
    if (pixels != (uint64_t)h * w) return "\"segmentation\" counts do not cover the image";
    if (ones != (uint64_t)json_integer_value(area)) return "\"area\" is not the mask's pixel count";
    return NULL;
}

/* The frame's annotations, checked whole before anything of it is kept. */
static int check_labels(ba_coco_writer *w, const json_t *meta, uint32_t h, uint32_t wd)
{
    json_t *ann = json_object_get(meta, "annotations");
    json_t *insts = json_object_get(ann, "instances"), *cats = json_object_get(ann, "categories");
    json_t *kp = json_object_get(ann, "keypoints");
    if (!json_is_object(meta)) return bad(w, "not a JSON object");
    if (!json_is_object(ann))
        return bad(w, "no \"annotations\" object (were the frames rendered with annotations?)");
    if (!json_is_array(insts)) return bad(w, "\"instances\" is not a list");
    if (!json_is_array(cats)) return bad(w, "\"categories\" is not a list");
    if (!json_is_object(kp) || !json_is_array(json_object_get(kp, "names")) ||
        !json_is_array(json_object_get(kp, "skeleton")))
        return bad(w, "\"keypoints\" is not {\"names\": [...], \"skeleton\": [...]}");
    size_t i;
    json_t *v;
    json_array_foreach(cats, i, v) {
        if (!json_is_integer(json_object_get(v, "id")) ||
            !json_is_string(json_object_get(v, "name")))
            return bad(w, "category %zu is not {\"id\": integer, \"name\": text}", i);
    }
    json_array_foreach(insts, i, v) {
        const char *what = bad_instance(v, h, wd);
        if (what) return bad(w, "instance %zu: %s", i, what);
    }
    return BA_OK;
}

/* A category first seen in this frame: added with the frame's keypoint names. */
static int add_category(ba_coco_writer *w, json_int_t id, const char *name, const json_t *kp)
{
    size_t i;
    json_t *c;
    json_array_foreach(w->categories, i, c)
        if (json_integer_value(json_object_get(c, "id")) == id) return BA_OK;
    char idtext[32];
    snprintf(idtext, sizeof idtext, "%" JSON_INTEGER_FORMAT, id);
    c = json_pack("{s:I, s:s, s:s, s:O, s:O}", "id", id, "name", name ? name : idtext,
                  "supercategory", "object", "keypoints", json_object_get(kp, "names"),
                  "skeleton", json_object_get(kp, "skeleton"));
    if (!c || json_array_append_new(w->categories, c) != 0) return BA_ENOMEM;
    w->count[BA_COCO_CATEGORIES]++;
    return BA_OK;
}

/* ",\n" (unless first) and v as compact JSON into f; v is released. A NULL v
 * (json_pack out of memory) fails in json_dumpf. */
static int put_item(FILE *f, uint64_t before, json_t *v)
{
    errno = 0;
    int bad_write = (before && fputs(",\n", f) == EOF) || json_dumpf(v, f, JSON_COMPACT) != 0;
    json_decref(v);
    if (!bad_write) return BA_OK;
    return errno ? BA_EIO : BA_ENOMEM; /* jansson's own failure: its buffers */
}

/* The frame's record and its categorised instances, in the scratch files. */
static int append_frame(ba_coco_writer *w, const json_t *meta, int64_t id, const char *file,
                        uint32_t h, uint32_t wd)
{
    json_t *ann = json_object_get(meta, "annotations"), *kp = json_object_get(ann, "keypoints");
    json_t *img = json_pack("{s:I, s:s, s:i, s:i}", "id", (json_int_t)id, "file_name", file,
                            "width", (int)wd, "height", (int)h);
    json_t *frame = json_object_get(meta, "frame");
    if (img && json_is_integer(frame) && json_object_set(img, "frame", frame) != 0) {
        json_decref(img);
        img = NULL;
    }
    int err = put_item(w->images, w->count[BA_COCO_IMAGES], img);
    if (err) return err;
    w->count[BA_COCO_IMAGES]++;
    size_t i;
    json_t *v;
    json_array_foreach(json_object_get(ann, "categories"), i, v) {
        err = add_category(w, json_integer_value(json_object_get(v, "id")),
                           json_string_value(json_object_get(v, "name")), kp);
        if (err) return err;
    }
    json_array_foreach(json_object_get(ann, "instances"), i, v) {
        json_t *cat = json_object_get(v, "category_id");
        if (json_is_null(cat)) {
            w->count[BA_COCO_SKIPPED]++;
            continue;
        }
        json_t *kps = json_object_get(v, "keypoints");
        json_int_t visible = 0;
        for (size_t k = 2; k < json_array_size(kps); k += 3)
            visible += json_number_value(json_array_get(kps, k)) > 0;
        if ((err = add_category(w, json_integer_value(cat), NULL, kp))) return err;
        json_t *a = json_pack(
            "{s:I, s:I, s:O, s:O, s:O, s:O, s:i, s:O, s:I, s:{s:O, s:O}}", "id",
            (json_int_t)(w->count[BA_COCO_ANNOTATIONS] + 1), "image_id", (json_int_t)id,
            "category_id", cat, "segmentation", json_object_get(v, "segmentation"), "area",
            json_object_get(v, "area"), "bbox", json_object_get(v, "bbox"), "iscrowd", 0,
            "keypoints", kps, "num_keypoints", visible, "blendarray", "name",
            json_object_get(v, "name"), "instance_id", json_object_get(v, "id"));
        if ((err = put_item(w->annotations, w->count[BA_COCO_ANNOTATIONS], a))) return err;
        w->count[BA_COCO_ANNOTATIONS]++;
    }
    return BA_OK;
}

/* BA_ESTATE, saying why */
static int not_open(ba_coco_writer *w)
{
    return fail(w, BA_ESTATE, w->state == ST_NEW    ? "the writer is not open"
                              : w->state == ST_DONE ? "the dataset is finished already"
                                                    : "an earlier error ended the dataset");
}

int ba_coco_add(ba_coco_writer *w, const uint8_t *rgba, uint32_t width, uint32_t height,
                size_t row_stride, const char *meta_json, int64_t image_id)
{
    if (!w) return BA_EINVAL;
    if (w->state != ST_OPEN) return not_open(w);
    w->msg[0] = '\0';
    if (!rgba || !meta_json) return fail(w, BA_EINVAL, "no image or no metadata given");
    if (width == 0 || height == 0 || width > INT32_MAX || height > INT32_MAX)
        return fail(w, BA_EINVAL, "the image is %" PRIu32 "x%" PRIu32 ": each side 1..%d",
                    width, height, INT32_MAX);
    if (row_stride == 0) row_stride = (size_t)width * 4;
    if (row_stride / 4 < width) return fail(w, BA_EINVAL, "row_stride is less than width * 4");
    if (image_id < -1 || (image_id == -1 && w->next_id == INT64_MAX))
        return fail(w, BA_EINVAL, "image id %" PRId64 ": give one >= 0, or -1 for the next",
                    image_id);
    int64_t id = image_id == -1 ? w->next_id : image_id;

    /* (jansson's parser reports running out of memory as a syntax error: then
     * BA_EFORMAT, "not a JSON object") */
    json_t *meta = json_loads(meta_json, 0, NULL);
    int err = check_labels(w, meta, height, width);
    char file[48], path[PATH_MAX];
    snprintf(file, sizeof file, "images/%06" PRId64 ".png", id);
    snprintf(path, sizeof path, "%s/%s", w->tmp, file); /* fits: TMP_TAIL */
    if (!err) {
        errno = 0;
        err = ba_png_save(path, rgba, width, height, row_stride, 4, -1, 0);
        if (err == BA_EEXIST)
            err = fail(w, BA_EINVAL, "image id %" PRId64 " was given to an earlier image", id);
        else if (err == BA_ENOMEM)
            err = fail(w, err, "out of memory");
        else if (err)
            err = fail(w, err, "%s: cannot write %s: %s%s%s", w->final, file, ba_strerror(err),
                       errno ? ": " : "", errno ? strerror(errno) : "");
    }
    if (!err) {
        err = append_frame(w, meta, id, file, height, width);
        if (err) err = broken(w, err, "cannot write its annotations");
        else if (id >= w->next_id) w->next_id = id < INT64_MAX ? id + 1 : INT64_MAX;
    }
    json_decref(meta);
    return err;
}

/* ---------------------------------------------------------------------- */
/*  records only: a COCO file whose images the caller stores               */
/* ---------------------------------------------------------------------- */

int ba_internal_coco_open_file(ba_coco_writer *w, const char *path)
{
    if (!w || !path || !path[0]) return BA_EINVAL;
    if (w->state != ST_NEW)
        return fail(w, BA_ESTATE, "this writer was opened before: make a new one");
    w->msg[0] = '\0';
    w->state = ST_FAILED; /* until it is open */
    if (strlen(path) >= PATH_MAX) return fail(w, BA_EINVAL, "%.80s...: the path is too long", path);
    const char *slash = strrchr(path, '/');
    w->final = strdup(path);
    w->parent = !slash ? strdup(".") : strndup(path, slash == path ? 1 : (size_t)(slash - path));
    w->categories = json_array();
    if (!w->final || !w->parent || !w->categories) return fail(w, BA_ENOMEM, "out of memory");
    w->file_mode = 1;
    if (!(w->images = scratch_file(w->parent)) || !(w->annotations = scratch_file(w->parent)))
        return broken(w, BA_EIO, "cannot make a scratch file beside it");
    w->state = ST_OPEN;
    return BA_OK;
}

int ba_internal_coco_add_record(ba_coco_writer *w, uint32_t width, uint32_t height,
                                const struct json_t *meta, int64_t image_id, const char *file_name)
{
    if (!w || !meta || !file_name || image_id < 0) return BA_EINVAL;
    if (w->state != ST_OPEN) return not_open(w);
    w->msg[0] = '\0';
    if (width == 0 || height == 0 || width > INT32_MAX || height > INT32_MAX)
        return fail(w, BA_EINVAL, "the image is %" PRIu32 "x%" PRIu32 ": each side 1..%d",
                    width, height, INT32_MAX);
    int err = check_labels(w, meta, height, width);
    if (!err) {
        err = append_frame(w, meta, image_id, file_name, height, width);
        if (err) err = broken(w, err, "cannot write its annotations");
        else if (image_id >= w->next_id)
            w->next_id = image_id < INT64_MAX ? image_id + 1 : INT64_MAX;
    }
    return err;
}

/* ---------------------------------------------------------------------- */
/*  the end                                                                */
/* ---------------------------------------------------------------------- */

static int cmp_category(const void *a, const void *b)
{
    json_int_t x = json_integer_value(json_object_get(*(json_t *const *)a, "id"));
    json_int_t y = json_integer_value(json_object_get(*(json_t *const *)b, "id"));
    return (x > y) - (x < y);
}

/* {"description", "version", "date_created"} and the caller's keys over them
 * (file mode: no date, the same bytes for the same frames). */
static json_t *make_info(ba_coco_writer *w, const char *info_json, int *err)
{
    char date[32];
    time_t now = time(NULL);
    struct tm tm;
    if (!gmtime_r(&now, &tm) || !strftime(date, sizeof date, "%Y-%m-%dT%H:%M:%SZ", &tm))
        date[0] = '\0';
    json_t *info = w->file_mode
                       ? json_pack("{s:s, s:s}", "description", "made with blendarray",
                                   "version", ba_version_string())
                       : json_pack("{s:s, s:s, s:s}", "description", "made with blendarray",
                                   "version", ba_version_string(), "date_created", date);
    json_t *more = NULL;
    *err = info ? BA_OK : BA_ENOMEM;
    if (!*err && info_json) {
        json_error_t jerr;
        more = json_loads(info_json, 0, &jerr);
        if (!json_is_object(more)) {
            *err = fail(w, BA_EINVAL, "info is not a JSON object%s%s", more ? "" : ": ",
                        more ? "" : jerr.text);
        } else if (json_object_update(info, more) != 0) {
            *err = BA_ENOMEM;
        }
    }
    json_decref(more);
    if (*err) {
        json_decref(info);
        return NULL;
    }
    return info;
}

static int write_text(ba_file_writer *f, const char *s)
{
    return ba_file_write(f, s, strlen(s));
}

typedef struct {
    ba_file_writer *f;
    int err;
} json_sink;

static int sink_bytes(const char *buf, size_t size, void *data)
{
    json_sink *k = data;
    k->err = ba_file_write(k->f, buf, size);
    return k->err ? -1 : 0;
}

/* v as compact JSON into f, straight: jansson's json_dumps() can lose bytes
 * when its buffer cannot grow, and say nothing */
static int write_json_value(ba_file_writer *f, const json_t *v)
{
    json_sink k = {f, BA_OK};
    if (json_dump_callback(v, sink_bytes, &k, JSON_COMPACT) == 0) return BA_OK;
    return k.err ? k.err : BA_ENOMEM;
}

/* The scratch file's items into f. */
static int copy_items(ba_file_writer *f, FILE *from)
{
    char buf[1 << 14];
    errno = 0;
    if (fflush(from) != 0 || fseek(from, 0, SEEK_SET) != 0) return BA_EIO;
    size_t n;
    int err = BA_OK;
    while (!err && (n = fread(buf, 1, sizeof buf, from)) > 0) err = ba_file_write(f, buf, n);
    if (!err && ferror(from)) err = BA_EIO;
    return err;
}

/* annotations.json in the temporary folder (file mode: the file itself). */
static int write_json(ba_coco_writer *w, json_t *info, json_t **cats, size_t nc)
{
    char path[PATH_MAX];
    if (w->file_mode) snprintf(path, sizeof path, "%s", w->final); /* checked at open */
    else snprintf(path, sizeof path, "%s/annotations.json", w->tmp); /* fits: TMP_TAIL */
    ba_file_writer *f = NULL;
    errno = 0;
    int err = ba_file_open(&f, path, 0);
    if (!err) err = write_text(f, "{\"info\": ");
    if (!err) err = write_json_value(f, info);
    if (!err) err = write_text(f, ",\n\"images\": [\n");
    if (!err) err = copy_items(f, w->images);
    if (!err) err = write_text(f, "\n],\n\"categories\": [\n");
    for (size_t i = 0; i < nc && !err; i++) {
        if (i) err = write_text(f, ",\n");
        if (!err) err = write_json_value(f, cats[i]);
    }
    if (!err) err = write_text(f, "\n],\n\"annotations\": [\n");
    if (!err) err = copy_items(f, w->annotations);
    if (!err) err = write_text(f, "\n]}\n");
    if (!err) {
        err = ba_file_finish(f);
    } else {
        int e = errno; /* the failure's, for the message */
        ba_file_abort(f);
        errno = e;
    }
    return err;
}

static void fsync_dir(const char *path)
{
    int fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd >= 0) {
        fsync(fd); /* best effort: the folder's entries on disk before it is renamed */
        close(fd);
    }
}

/* The finished folder into place: onto DIR when it is new or empty, else
 * swapped with it (overwrite) and the old one removed. */
static int publish(ba_coco_writer *w)
{
    char images[PATH_MAX];
    snprintf(images, sizeof images, "%s/images", w->tmp);
    fsync_dir(images);
    fsync_dir(w->tmp);
    if (rename(w->tmp, w->final) == 0) {
        free(w->tmp);
        w->tmp = NULL;
    } else if ((errno == ENOTEMPTY || errno == EEXIST) && w->overwrite) {
        if (renameat2(AT_FDCWD, w->tmp, AT_FDCWD, w->final, RENAME_EXCHANGE) != 0)
            return fail(w, BA_EIO, "%s: cannot replace the folder: %s", w->final, strerror(errno));
        /* w->tmp now holds the old DIR: removed by discard() */
    } else if (errno == ENOTEMPTY || errno == EEXIST) {
        return fail(w, BA_EEXIST, "%s: files appeared in it while the dataset was written",
                    w->final);
    } else {
        return fail(w, BA_EIO, "%s: cannot move the finished folder into place: %s", w->final,
                    strerror(errno));
    }
    fsync_dir(w->parent);
    return BA_OK;
}

int ba_coco_finish(ba_coco_writer *w, const char *info_json)
{
    if (!w) return BA_EINVAL;
    if (w->state != ST_OPEN) return not_open(w);
    w->msg[0] = '\0';
    int err;
    json_t *info = make_info(w, info_json, &err);
    if (err == BA_EINVAL) return err; /* the caller's mistake: the dataset goes on */
    size_t nc = json_array_size(w->categories);
    json_t **cats = err ? NULL : malloc((nc ? nc : 1) * sizeof *cats);
    if (!err && !cats) err = BA_ENOMEM;
    if (!err) {
        for (size_t i = 0; i < nc; i++) cats[i] = json_array_get(w->categories, i);
        qsort(cats, nc, sizeof *cats, cmp_category);
        errno = 0;
        err = write_json(w, info, cats, nc);
    }
    free(cats);
    json_decref(info);
    if (err)
        return broken(w, err, w->file_mode ? "cannot write it" : "cannot write annotations.json");
    if (!w->file_mode && (err = publish(w)) != BA_OK) return broken(w, err, NULL);
    discard(w); /* the scratch files; after an exchange, the old DIR */
    w->state = ST_DONE;
    return BA_OK;
}

uint64_t ba_coco_count(const ba_coco_writer *w, int what)
{
    return w && what >= 0 && what < 4 ? w->count[what] : 0;
}

const char *ba_coco_message(const ba_coco_writer *w)
{
    return w ? w->msg : "";
}

void ba_coco_free(ba_coco_writer *w)
{
    if (!w) return;
    discard(w);
    json_decref(w->categories);
    free(w->final);
    free(w->parent);
    free(w);
}
