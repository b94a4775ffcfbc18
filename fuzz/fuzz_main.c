/* fuzz_main.c — run a libFuzzer target without libFuzzer: every file named
 * on the command line is read into an exactly sized buffer and passed to
 * LLVMFuzzerTestOneInput (the pattern libspng uses); a folder named there
 * stands for every file in it. Build it with the sanitizers to replay a
 * corpus or a crasher. */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int replay(const char *path);

/* Every regular file of a folder, in name order (a repeatable run). */
static int replay_dir(const char *dir, int *count)
{
    struct dirent **names;
    int n = scandir(dir, &names, NULL, alphasort);
    if (n < 0) {
        perror(dir);
        return 1;
    }
    int rc = 0;
    for (int i = 0; i < n; i++) {
        char path[4096];
        if (names[i]->d_name[0] != '.' && rc == 0 &&
            snprintf(path, sizeof path, "%s/%s", dir, names[i]->d_name) < (int)sizeof path) {
            rc = replay(path);
            ++*count;
        }
        free(names[i]);
    }
    free(names);
    return rc;
}

int main(int argc, char **argv)
{
    int count = 0;
    for (int i = 1; i < argc; ++i) {
        DIR *d = opendir(argv[i]);
        if (d) {
            closedir(d);
            if (replay_dir(argv[i], &count)) return 1;
            continue;
        }
        if (replay(argv[i])) return 1;
        ++count;
    }
    printf("replayed %d inputs\n", count);
    return 0;
}

static int replay(const char *path)
{
    {
        FILE *f = fopen(path, "rb");
        if (!f) {
            perror(path);
            return 1;
        }
        size_t cap = 4096, n = 0;
        uint8_t *buf = malloc(cap);
        for (;;) {
            if (!buf) {
                fprintf(stderr, "%s: out of memory\n", path);
                return 1;
            }
            size_t r = fread(buf + n, 1, cap - n, f);
            n += r;
            if (r == 0) break;
            if (n == cap) {
                uint8_t *nb = realloc(buf, cap *= 2);
                if (!nb) free(buf);
                buf = nb;
            }
        }
        int err = ferror(f);
        fclose(f);
        if (err) {
            fprintf(stderr, "%s: read error\n", path);
            free(buf);
            return 1;
        }
        /* an exactly sized copy, so that ASan catches any overread */
        uint8_t *exact = malloc(n ? n : 1);
        if (!exact) {
            free(buf);
            return 1;
        }
        memcpy(exact, buf, n);
        free(buf);
        LLVMFuzzerTestOneInput(exact, n);
        free(exact);
    }
    return 0;
}
