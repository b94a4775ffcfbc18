/* reply_fuzzer.c — the consumer's handling of a worker's frame reply (JSON
 * describing arrays in a ring slot): whatever a worker says, every array the
 * consumer accepts must lie inside the slot. */
#include <stdint.h>
#include <stdlib.h>

#include "../tests/c/reply_check.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 2) return 0;
    /* the first two bytes pick the slot size: 1 B .. 64 KiB */
    size_t slot = ((size_t)data[0] << 8 | data[1]) + 1;
    check_reply((const char *)data + 2, size - 2, slot);
    return 0;
}
