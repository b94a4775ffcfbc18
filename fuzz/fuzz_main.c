/* fuzz_main.c — run a libFuzzer target without libFuzzer: every file named
 * on the command line is read into an exactly sized buffer and passed to
 * LLVMFuzzerTestOneInput (the pattern libspng uses). Build it with the
 * sanitizers to replay a corpus or a crasher. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int main(int argc, char **argv)
{
    int count = 0;
    for (int i = 1; i < argc; ++i) {
        FILE *f = fopen(argv[i], "rb");
        if (!f) {
            perror(argv[i]);
            return 1;
        }
        size_t cap = 4096, n = 0;
        uint8_t *buf = malloc(cap);
        for (;;) {
            if (!buf) {
                fprintf(stderr, "%s: out of memory\n", argv[i]);
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
            fprintf(stderr, "%s: read error\n", argv[i]);
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
        ++count;
    }
    printf("replayed %d inputs\n", count);
    return 0;
}
