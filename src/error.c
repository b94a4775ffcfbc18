/* error.c — error messages, the version string, and ba_free. */
#include <stdlib.h>

#include "internal.h"

#define BA_STR2(x) #x
#define BA_STR(x) BA_STR2(x)

const char *ba_strerror(int err)
{
    switch (err) {
    case BA_OK: return "success";
    case BA_EINVAL: return "invalid argument";
    case BA_ENOMEM: return "out of memory";
    case BA_EOVERFLOW: return "size computation overflows";
    case BA_EIO: return "input/output error";
    case BA_EFORMAT: return "invalid or corrupt file";
    case BA_EUNSUPPORTED: return "unsupported file feature";
    case BA_ENOCHANNEL: return "no such channel";
    case BA_EBUFSIZE: return "buffer too small";
    case BA_ERANGE: return "value out of range for the target type";
    case BA_EEXIST: return "output file exists";
    case BA_ESTATE: return "object unusable after an earlier error";
    case BA_ETIMEDOUT: return "timed out";
    case BA_ECLOSED: return "peer closed the connection";
    case BA_EPERM: return "peer not allowed";
    case BA_EWORKER: return "a Blender worker failed";
    case BA_ERENDER: return "Blender reported an error";
    case BA_EINTR: return "interrupted";
    case BA_EDONE: return "nothing left to wait for";
    case BA_EFULL: return "every slot is held by frames not released";
    case BA_EBUSY: return "in use by another process";
    default: return "unknown error";
    }
}

unsigned ba_version_number(void)
{
    return BA_VERSION_NUMBER;
}

const char *ba_version_string(void)
{
    return BA_STR(BA_VERSION_MAJOR) "." BA_STR(BA_VERSION_MINOR) "." BA_STR(BA_VERSION_PATCH);
}

/* The library's outputs are malloc'd here: freed here, by the same allocator
 * (a program may use another malloc than the library's). */
void ba_free(void *p)
{
    free(p);
}
