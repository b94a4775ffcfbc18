/* npz_fuzzer.c — the .npz reader (ba_npz_read_open, ba_npz_read,
 * ba_npz_read_bytes) on arbitrary bytes, as `blendarray inspect` and
 * `preview` read a user's file. The input is a file in memory (memfd).
 *
 * Every member is read both ways. What ba_npz_read accepts must agree with
 * the member's raw bytes from ba_npz_read_bytes: its header parses to the
 * same info, and the data after it is the array's. Raw bytes end in a '\0'.
 *
 * Seeds (fuzz/corpus/npz_fuzzer): np.savez and np.savez_compressed archives
 * of a few dtypes and shapes, with and without a meta.json member. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "blendarray.h"
#include "fuzz_memfd.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_member(ba_npz_reader *r, int i)
{
    ba_npy_info info;
    void *arr = NULL, *raw = NULL;
    size_t n = 7;
    int a = ba_npz_read(r, i, &info, &arr);
    int b = ba_npz_read_bytes(r, i, &raw, &n);
    if ((a == BA_OK) != (arr != NULL)) __builtin_trap();
    if ((b == BA_OK) != (raw != NULL) || (b != BA_OK && n != 0)) __builtin_trap();
    if (b == BA_OK && ((const char *)raw)[n] != '\0') __builtin_trap();
    if (a == BA_OK) {
        if (b != BA_OK) __builtin_trap(); /* the same bytes, read once more */
        ba_npy_info again;
        if (info.data_offset + info.nbytes != n) __builtin_trap();
        if (ba_npy_parse_header(raw, n, &again) != BA_OK) __builtin_trap();
        if (memcmp(&again, &info, sizeof info) != 0) __builtin_trap();
        if (memcmp((const char *)raw + info.data_offset, arr, (size_t)info.nbytes) != 0)
            __builtin_trap();
    }
    ba_free(arr);
    ba_free(raw);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    int fd = fuzz_memfd("npz-fuzz", data, size, MFD_CLOEXEC);
    if (fd < 0) return 0;
    char path[64];
    snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
    ba_npz_reader *r = NULL;
    int rc = ba_npz_read_open(&r, path);
    if ((rc == BA_OK) != (r != NULL)) __builtin_trap();
    for (int i = 0; r && i < ba_npz_count(r); i++) {
        if (!ba_npz_name(r, i)) __builtin_trap();
        check_member(r, i);
    }
    ba_npz_read_close(r);
    close(fd);
    return 0;
}
