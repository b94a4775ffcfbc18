/* ring_fuzzer.c — ba_ring_attach's header validation: the input becomes the
 * whole ring file (a sealed memfd); whatever attaches must have every byte
 * of every slot inside the mapping. */
#include <fcntl.h>
#include <stdint.h>
#include <sys/mman.h>
#include <unistd.h>

#include "blendarray.h"
#include "fuzz_memfd.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    int fd = fuzz_memfd("ring-fuzz", data, size, MFD_CLOEXEC | MFD_ALLOW_SEALING);
    if (fd < 0) return 0;
    if (fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW) != 0) {
        close(fd);
        return 0;
    }
    ba_ring *ring = NULL;
    if (ba_ring_attach(&ring, fd) == BA_OK) {
        uint32_t slots = ba_ring_slots(ring);
        size_t slot_size = ba_ring_slot_size(ring);
        if (slots == 0 || slot_size == 0) __builtin_trap();
        for (uint32_t i = 0; i < slots; i++) {
            volatile uint8_t *s = ba_ring_slot(ring, i);
            if (s == NULL) __builtin_trap();
            s[0] = (uint8_t)(s[0] + 1); /* a SIGBUS here is a bug */
            s[slot_size - 1] = (uint8_t)(s[slot_size - 1] + 1);
        }
        if (ba_ring_slot(ring, slots) != NULL) __builtin_trap();
    } else if (ring != NULL) {
        __builtin_trap();
    }
    ba_ring_close(ring);
    close(fd);
    return 0;
}
