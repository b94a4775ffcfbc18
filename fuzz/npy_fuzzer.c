/* npy_fuzzer.c — ba_npy_parse_header on arbitrary bytes. A header it
 * accepts must be self-consistent: within the input, shape and sizes
 * agreeing, and stable when the input is cut right after it. */
#include <stdint.h>
#include <string.h>

#include "blendarray.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    ba_npy_info info;
    int rc = ba_npy_parse_header(data, size, &info);
    if (rc != BA_OK) return 0;
    if (info.data_offset > size || info.data_offset < 12) __builtin_trap();
    if (info.ndim < 0 || info.ndim > BA_NPY_MAX_DIMS) __builtin_trap();
    if (info.itemsize == 0 || info.itemsize > 16) __builtin_trap();
    if (memchr(info.descr, '\0', sizeof info.descr) == NULL) __builtin_trap();
    if (info.dtype >= 0 && ba_dtype_size(info.dtype) != info.itemsize) __builtin_trap();
    uint64_t n = info.itemsize;
    for (int i = 0; i < info.ndim; ++i) {
        if (info.shape[i] > (uint64_t)INT64_MAX) __builtin_trap();
        n *= info.shape[i]; /* cannot wrap: checked by the parser */
    }
    if (n != info.nbytes) __builtin_trap();

    ba_npy_info again;
    if (ba_npy_parse_header(data, (size_t)info.data_offset, &again) != BA_OK) __builtin_trap();
    if (memcmp(&again, &info, sizeof info) != 0) __builtin_trap();
    if (ba_npy_parse_header(data, (size_t)info.data_offset - 1, &again) != BA_EBUFSIZE)
        __builtin_trap();
    return 0;
}
