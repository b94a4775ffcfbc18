/* elements.h — reading one element of an array as NPY stores it, for
 * inspect and preview (any endianness the header names). */
#ifndef BLENDARRAY_CLI_ELEMENTS_H
#define BLENDARRAY_CLI_ELEMENTS_H

#include <math.h>   /* ldexp, NAN, INFINITY */
#include <stddef.h>
#include <stdint.h>

/* `size` bytes at p as an unsigned integer, little- or big-endian. */
static inline uint64_t load_bits(const uint8_t *p, size_t size, int big)
{
    uint64_t v = 0;
    for (size_t i = 0; i < size; ++i) v |= (uint64_t)p[big ? size - 1 - i : i] << (8 * i);
    return v;
}

/* IEEE binary16 bits to a double, exactly. */
static inline double half_to_double(uint16_t h)
{
    int e = (h >> 10) & 0x1f, m = h & 0x3ff;
    double v;
    if (e == 0) v = ldexp(m, -24);
    else if (e == 31) v = m ? NAN : INFINITY;
    else v = ldexp(m + 1024, e - 25);
    return h & 0x8000 ? -v : v;
}

#endif
