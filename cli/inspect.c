/* inspect.c — `blendarray inspect FILE...`: the arrays in .npy and .npz
 * files, one aligned line each: name, shape, dtype and statistics. */
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>

#include "cli.h"
#include "elements.h"

static void inspect_usage(FILE *f)
{
    fputs("usage: blendarray inspect FILE...\n"
          "\n"
          "Print the arrays in .npy and .npz files (the kind is told by the content,\n"
          "not the name): a line per file, then one aligned line per array with its\n"
          "name, shape, dtype and statistics:\n"
          "  min, max, mean  over the finite values (floats) or all values (integers);\n"
          "                  '-' when there are none\n"
          "  nan, inf        how many NaN and +-Inf values (floats only)\n"
          "An .npy file's array is named after the file; \"(F)\" after a dtype marks a\n"
          "Fortran-order array. Members of an .npz that are not arrays (the meta.json\n"
          "that blendarray render writes) are listed after the arrays. When meta.json's\n"
          "frames carry labels (render --coco, annotations=True), a line sums them up:\n"
          "frames, instances, and instances per category name (\"none\": no category).\n"
          "\n"
          "Exit status: 0, or 1 if a file is missing, unreadable or corrupt\n"
          "(\"blendarray: FILE: what is wrong\" on stderr; the other files are still shown).\n"
          "\n"
          "example:\n"
          "  $ blendarray inspect out/frame_0001.npz\n"
          "  out/frame_0001.npz: npz, 2 arrays\n"
          "    rgba   (480, 640, 4)  <f4  min=0  max=1.2  mean=0.31  nan=0  inf=0\n"
          "    depth  (480, 640)     <f4  min=2.5  max=14  mean=6.1  nan=0  inf=1024\n",
          f);
}

/* ---------------------------------------------------------------------- */
/*  statistics                                                             */
/* ---------------------------------------------------------------------- */

typedef struct stats {
    char kind; /* 'f', 'i', 'u', 'b', or 0 when not computed */
    uint64_t count, nan, inf, finite;
    double min, max, sum;
    int64_t imin, imax;
    uint64_t umin, umax;
} stats;


static void compute_stats(const ba_npy_info *info, const uint8_t *data, stats *s)
{
    memset(s, 0, sizeof *s);
    char kind = info->descr[1];
    size_t size = info->itemsize;
    int big = info->descr[0] == '>';
    if (kind == 'c') return;
    s->kind = kind;
    uint64_t n = info->nbytes / size;
    s->count = n;
    for (uint64_t k = 0; k < n; ++k) {
        uint64_t bits = load_bits(data + k * size, size, big);
        if (kind == 'f') {
            double v;
            if (size == 2) {
                v = half_to_double((uint16_t)bits);
            } else if (size == 4) {
                uint32_t b32 = (uint32_t)bits;
                float f;
                memcpy(&f, &b32, 4);
                v = f;
            } else {
                memcpy(&v, &bits, 8);
            }
            if (isnan(v)) {
                s->nan++;
                continue;
            }
            if (isinf(v)) {
                s->inf++;
                continue;
            }
            if (s->finite == 0 || v < s->min) s->min = v;
            if (s->finite == 0 || v > s->max) s->max = v;
            s->sum += v;
            s->finite++;
        } else if (kind == 'i') {
            int64_t v = size == 8 ? (int64_t)bits
                                  : (int64_t)(bits ^ ((uint64_t)1 << (8 * size - 1))) -
                                        ((int64_t)1 << (8 * size - 1));
            if (s->finite == 0 || v < s->imin) s->imin = v;
            if (s->finite == 0 || v > s->imax) s->imax = v;
            s->sum += (double)v;
            s->finite++;
        } else { /* 'u', 'b' */
            if (s->finite == 0 || bits < s->umin) s->umin = bits;
            if (s->finite == 0 || bits > s->umax) s->umax = bits;
            s->sum += (double)bits;
            s->finite++;
        }
    }
}

/* ---------------------------------------------------------------------- */
/*  output rows                                                            */
/* ---------------------------------------------------------------------- */

enum { COL_NAME, COL_SHAPE, COL_DTYPE, COL_MIN, COL_MAX, COL_MEAN, COL_NAN, COL_INF, NCOL };

typedef struct row {
    char col[NCOL][96];
} row;

static void format_row(row *r, const char *name, const ba_npy_info *info, const stats *s)
{
    snprintf(r->col[COL_NAME], sizeof r->col[0], "%s", name);
    char *p = r->col[COL_SHAPE];
    size_t cap = sizeof r->col[0], n = 0;
    n += (size_t)snprintf(p + n, cap - n, "(");
    for (int i = 0; i < info->ndim && n < cap; ++i)
        n += (size_t)snprintf(p + n, cap - n, "%s%llu", i ? ", " : "",
                              (unsigned long long)info->shape[i]);
    if (n < cap) snprintf(p + n, cap - n, "%s)", info->ndim == 1 ? "," : "");
    snprintf(r->col[COL_DTYPE], sizeof r->col[0], "%s%s", info->descr,
             info->fortran_order ? "(F)" : "");

    const char *none = "-";
    for (int c = COL_MIN; c < NCOL; ++c) snprintf(r->col[c], sizeof r->col[0], "%s=%s",
                                                   c == COL_MIN    ? "min"
                                                   : c == COL_MAX  ? "max"
                                                   : c == COL_MEAN ? "mean"
                                                   : c == COL_NAN  ? "nan"
                                                                   : "inf",
                                                   none);
    if (!s->kind) return;
    if (s->finite > 0) {
        if (s->kind == 'f') {
            snprintf(r->col[COL_MIN], sizeof r->col[0], "min=%.6g", s->min);
            snprintf(r->col[COL_MAX], sizeof r->col[0], "max=%.6g", s->max);
        } else if (s->kind == 'i') {
            snprintf(r->col[COL_MIN], sizeof r->col[0], "min=%lld", (long long)s->imin);
            snprintf(r->col[COL_MAX], sizeof r->col[0], "max=%lld", (long long)s->imax);
        } else {
            snprintf(r->col[COL_MIN], sizeof r->col[0], "min=%llu", (unsigned long long)s->umin);
            snprintf(r->col[COL_MAX], sizeof r->col[0], "max=%llu", (unsigned long long)s->umax);
        }
        snprintf(r->col[COL_MEAN], sizeof r->col[0], "mean=%.6g", s->sum / (double)s->finite);
    }
    if (s->kind == 'f') {
        snprintf(r->col[COL_NAN], sizeof r->col[0], "nan=%llu", (unsigned long long)s->nan);
        snprintf(r->col[COL_INF], sizeof r->col[0], "inf=%llu", (unsigned long long)s->inf);
    }
}

static void print_rows(const row *rows, int n)
{
    size_t width[NCOL] = {0};
    for (int i = 0; i < n; ++i)
        for (int c = 0; c < NCOL; ++c)
            if (strlen(rows[i].col[c]) > width[c]) width[c] = strlen(rows[i].col[c]);
    for (int i = 0; i < n; ++i) {
        fputs("  ", stdout);
        for (int c = 0; c < NCOL; ++c) {
            if (c == NCOL - 1) printf("%s\n", rows[i].col[c]);
            else printf("%-*s  ", (int)width[c], rows[i].col[c]);
        }
    }
}

/* ---------------------------------------------------------------------- */
/*  files                                                                  */
/* ---------------------------------------------------------------------- */

static const char *basename_of(const char *path)
{
    const char *s = strrchr(path, '/');
    return s ? s + 1 : path;
}

static int inspect_npy(const char *path, int fd, size_t size)
{
    void *map = mmap(NULL, size, PROT_READ, MAP_PRIVATE, fd, 0);
    if (map == MAP_FAILED) return cli_fail("%s: cannot map the file: %s", path, strerror(errno));
    ba_npy_info info;
    int rc = ba_npy_parse_header(map, size, &info);
    int status = 0;
    if (rc == BA_EBUFSIZE) {
        status = cli_fail("%s: truncated .npy header", path);
    } else if (rc != BA_OK) {
        status = cli_fail("%s: not a valid .npy file (%s)", path, ba_strerror(rc));
    } else if (info.data_offset + info.nbytes != (uint64_t)size) {
        status = cli_fail("%s: corrupt .npy file: the header says %llu bytes of data, the file "
                          "has %llu",
                          path, (unsigned long long)info.nbytes,
                          (unsigned long long)(size - info.data_offset));
    } else {
        char name[256];
        snprintf(name, sizeof name, "%s", basename_of(path));
        size_t len = strlen(name);
        if (len > 4 && strcmp(name + len - 4, ".npy") == 0) name[len - 4] = '\0';
        stats s;
        compute_stats(&info, (const uint8_t *)map + info.data_offset, &s);
        row r;
        format_row(&r, name, &info, &s);
        printf("%s: npy, 1 array\n", path);
        print_rows(&r, 1);
    }
    munmap(map, size);
    return status;
}

/* ---------------------------------------------------------------------- */
/*  meta.json of an .npz                                                   */
/* ---------------------------------------------------------------------- */

int cli_npz_member(const char *path, const char *name, char **text, size_t *len)
{
    *text = NULL;
    *len = 0;
    ba_npz_reader *rd = NULL;
    int err = ba_npz_read_open(&rd, path);
    if (err != BA_OK) return err;
    err = BA_ENOCHANNEL;
    for (int i = 0; i < ba_npz_count(rd); ++i)
        if (strcmp(ba_npz_name(rd, i), name) == 0) {
            void *data;
            err = ba_npz_read_bytes(rd, i, &data, len);
            *text = data;
            break;
        }
    ba_npz_read_close(rd);
    return err;
}

/* "  labels: 3 frames, 12 instances; by category: cube 6, 2 3, none 3" when
 * the frames of meta.json carry annotations (docs/labels.md); nothing else. */
static void print_labels(const char *path)
{
    char *text;
    size_t len;
    if (cli_npz_member(path, "meta.json", &text, &len) != BA_OK) return;
    json_t *frames = json_loadb(text, len, 0, NULL);
    ba_free(text);
    enum { MAXCAT = 64 };
    json_int_t ids[MAXCAT];
    size_t counts[MAXCAT], ncat = 0, labelled = 0, total = 0, none = 0, other = 0, bad = 0;
    json_t *names = json_object(); /* category id (text) -> name */
    size_t i, k;
    json_t *fr, *inst;
    json_array_foreach(frames, i, fr) {
        json_t *ann = json_object_get(fr, "annotations");
        if (!json_is_object(ann)) continue;
        labelled++;
        json_t *c;
        json_array_foreach(json_object_get(ann, "categories"), k, c) {
            json_t *id = json_object_get(c, "id"), *nm = json_object_get(c, "name");
            char key[32];
            if (!json_is_integer(id) || !json_is_string(nm)) continue;
            snprintf(key, sizeof key, "%" JSON_INTEGER_FORMAT, json_integer_value(id));
            if (names && !json_object_get(names, key)) json_object_set(names, key, nm);
        }
        json_t *insts = json_object_get(ann, "instances");
        if (!json_is_array(insts)) {
            bad++;
            continue;
        }
        json_array_foreach(insts, k, inst) {
            json_t *cat = json_object_get(inst, "category_id");
            total++;
            if (!json_is_integer(cat)) {
                none += json_is_null(cat);
                bad += !json_is_null(cat);
                continue;
            }
            size_t j = 0;
            while (j < ncat && ids[j] != json_integer_value(cat)) j++;
            if (j == ncat && ncat == MAXCAT) {
                other++;
                continue;
            }
            if (j == ncat) {
                ids[ncat] = json_integer_value(cat);
                counts[ncat++] = 0;
            }
            counts[j]++;
        }
    }
    for (size_t j = 1; j < ncat; j++) /* by category id */
        for (size_t m = j; m > 0 && ids[m - 1] > ids[m]; m--) {
            json_int_t ti = ids[m];
            size_t tc = counts[m];
            ids[m] = ids[m - 1];
            counts[m] = counts[m - 1];
            ids[m - 1] = ti;
            counts[m - 1] = tc;
        }
    if (labelled) {
        printf("  labels: %zu frame%s, %zu instance%s", labelled, labelled == 1 ? "" : "s",
               total, total == 1 ? "" : "s");
        if (ncat || none || other) printf("; by category:");
        for (size_t j = 0; j < ncat; j++) {
            char key[32];
            snprintf(key, sizeof key, "%" JSON_INTEGER_FORMAT, ids[j]);
            const char *nm = json_string_value(json_object_get(names, key));
            printf(" %s=%zu%s", nm ? nm : key, counts[j], j + 1 < ncat || none || other ? "," : "");
        }
        if (other) printf(" more=%zu%s", other, none ? "," : "");
        if (none) printf(" none=%zu", none);
        if (bad) printf(" (%zu malformed)", bad);
        putchar('\n');
    }
    json_decref(names);
    json_decref(frames);
}

static int inspect_npz(const char *path)
{
    ba_npz_reader *rd = NULL;
    int rc = ba_npz_read_open(&rd, path);
    if (rc == BA_EIO) return cli_fail("%s: %s", path, strerror(errno));
    if (rc != BA_OK) return cli_fail("%s: not a valid .npz file (%s)", path, ba_strerror(rc));
    int n = ba_npz_count(rd);
    row *rows = calloc((size_t)n + 1, sizeof *rows);
    if (!rows) {
        ba_npz_read_close(rd);
        return cli_fail("%s: out of memory", path);
    }
    int narrays = 0;
    for (int i = 0; i < n; ++i) {
        if (ba_npz_is_array(rd, i) == 0) continue; /* meta.json ...: listed after the arrays */
        ba_npy_info info;
        void *data = NULL;
        rc = ba_npz_read(rd, i, &info, &data);
        if (rc != BA_OK) {
            cli_fail("%s: member '%s': %s", path, ba_npz_name(rd, i),
                     rc == BA_EFORMAT ? "not a valid .npy member (invalid or corrupt)"
                                      : ba_strerror(rc));
            free(rows);
            ba_npz_read_close(rd);
            return 1;
        }
        stats s;
        compute_stats(&info, data, &s);
        format_row(&rows[narrays++], ba_npz_name(rd, i), &info, &s);
        ba_free(data);
    }
    printf("%s: npz, %d array%s\n", path, narrays, narrays == 1 ? "" : "s");
    print_rows(rows, narrays);
    for (int i = 0; i < n; ++i)
        if (ba_npz_is_array(rd, i) == 0) printf("  %s  (a file, not an array)\n", ba_npz_name(rd, i));
    print_labels(path);
    free(rows);
    ba_npz_read_close(rd);
    return 0;
}

static int inspect_file(const char *path)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return cli_fail("%s: %s", path, strerror(errno));
    struct stat st;
    if (fstat(fd, &st) != 0) {
        int e = errno;
        close(fd);
        return cli_fail("%s: %s", path, strerror(e));
    }
    if (S_ISDIR(st.st_mode)) {
        close(fd);
        return cli_fail("%s: is a directory", path);
    }
    unsigned char magic[6] = {0};
    ssize_t got = pread(fd, magic, sizeof magic, 0);
    if (got < 0) {
        int e = errno;
        close(fd);
        return cli_fail("%s: %s", path, strerror(e));
    }
    int status;
    if (got == 6 && memcmp(magic, "\x93NUMPY", 6) == 0) {
        status = inspect_npy(path, fd, (size_t)st.st_size);
        close(fd);
    } else if (got >= 4 && memcmp(magic, "PK", 2) == 0) {
        close(fd);
        status = inspect_npz(path);
    } else {
        close(fd);
        status = cli_fail("%s: not an .npy or .npz file", path);
    }
    return status;
}

int cmd_inspect(int argc, char **argv)
{
    int nfiles = 0, status = 0, options_done = 0;
    for (int i = 1; i < argc; ++i) {
        const char *a = argv[i];
        if (!options_done && (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0)) {
            inspect_usage(stdout);
            return 0;
        }
        if (!options_done && strcmp(a, "--") == 0) {
            options_done = 1;
            continue;
        }
        if (!options_done && a[0] == '-' && a[1]) {
            cli_fail("inspect: unknown option '%s' (see blendarray inspect --help)", a);
            return 2;
        }
    }
    options_done = 0;
    for (int i = 1; i < argc; ++i) {
        if (!options_done && strcmp(argv[i], "--") == 0) {
            options_done = 1;
            continue;
        }
        ++nfiles;
        if (inspect_file(argv[i]) != 0) status = 1;
        fflush(stdout);
    }
    if (nfiles == 0) {
        inspect_usage(stderr);
        return 2;
    }
    return status;
}
