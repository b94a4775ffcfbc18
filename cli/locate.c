/* locate.c — where the blendarray command finds the Python package its
 * Blender workers run, and the Python that runs bpy. Both are found from
 * where the command itself lies, as pip or meson put it, so that a moved
 * install still works:
 *
 *   <prefix>/bin/blendarray  ->  <prefix>/lib/python3.X/{site,dist}-packages/blendarray
 *                                 (pip install: a venv, --user, /usr/local)
 *                                <prefix>/share/blendarray/python/blendarray
 *                                 (meson install, Python or not: the C install)
 *                                <prefix>/bin/python3 for bpy, when there (a venv)
 *   <build>/blendarray       ->  <build>/python/blendarray (the meson build tree)
 *
 * $BLENDARRAY_PACKAGE names the package folder instead. */
#include <glob.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ba_install.h" /* BA_INSTALL_PACKAGE_REL: share/blendarray/python/blendarray */
#include "cli.h"

/* What to reinstall: a command built without Python came from `meson install`. */
#if BA_CLI_WITH_PYTHON
#define REINSTALL "pip install --force-reinstall /path/to/blendarray"
#else
#define REINSTALL "meson install -C <its build folder>, which puts the package in " \
                  "<prefix>/" BA_INSTALL_PACKAGE_REL
#endif

/* The folder this executable lies in (symlinks resolved), or 0. */
static int exe_dir(char *out, size_t cap)
{
    char buf[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", buf, sizeof buf - 1);
    if (n <= 0) return 0;
    buf[n] = '\0';
    char *slash = strrchr(buf, '/');
    if (!slash) return 0;
    *slash = '\0';
    return snprintf(out, cap, "%s", buf) < (int)cap;
}

/* 1 if dir is a blendarray package of this command's version; else 0, and
 * the version it has is noted in *seen (for the error message). */
static int usable(const char *dir, char *seen, size_t seen_cap)
{
    char v[64];
    if (ba_internal_package_version(dir, v, sizeof v) != 0) return 0;
    if (strcmp(v, ba_version_string()) == 0) return 1;
    snprintf(seen, seen_cap, "%s is blendarray %s", dir, v[0] ? v : "(no _version.py)");
    return 0;
}

int cli_find_package(char *out, size_t cap)
{
    const char *env = getenv("BLENDARRAY_PACKAGE");
    if (env && *env) { /* the user's word: used as it is (the library checks it) */
        if (snprintf(out, cap, "%s", env) >= (int)cap) return cli_fail("$BLENDARRAY_PACKAGE is too long");
        return 0;
    }
    char dir[PATH_MAX], seen[PATH_MAX + 192] = "";
    if (!exe_dir(dir, sizeof dir))
        return cli_fail("cannot tell where this program lies (/proc/self/exe): set "
                        "BLENDARRAY_PACKAGE to the blendarray Python package's folder");
    char build_tree[PATH_MAX + 32];
    snprintf(build_tree, sizeof build_tree, "%s/python/blendarray", dir);
    if (usable(build_tree, seen, sizeof seen)) {
        snprintf(out, cap, "%s", build_tree);
        return 0;
    }
    char pattern[PATH_MAX + 64];
    const char *kinds[] = {"site-packages", "dist-packages"};
    for (size_t k = 0; k < 2; k++) {
        snprintf(pattern, sizeof pattern, "%s/../lib/python3*/%s/blendarray", dir, kinds[k]);
        glob_t g;
        if (glob(pattern, 0, NULL, &g) != 0) continue;
        int found = 0;
        for (size_t i = g.gl_pathc; i-- > 0 && !found;) /* the newest Python first */
            if (usable(g.gl_pathv[i], seen, sizeof seen) && realpath(g.gl_pathv[i], dir))
                found = snprintf(out, cap, "%s", dir) < (int)cap;
        globfree(&g);
        if (found) return 0;
    }
    char shared[PATH_MAX + 64], real[PATH_MAX];
    snprintf(shared, sizeof shared, "%s/../%s", dir, BA_INSTALL_PACKAGE_REL);
    if (usable(shared, seen, sizeof seen) && realpath(shared, real) &&
        snprintf(out, cap, "%s", real) < (int)cap)
        return 0;
    if (seen[0])
        return cli_fail("this is blendarray %s, but %s: a mixed install; reinstall blendarray "
                        "(" REINSTALL ") or set BLENDARRAY_PACKAGE", ba_version_string(), seen);
    return cli_fail("cannot find the blendarray Python package beside this program (looked in "
                    "%s/python/, %s/../lib/python3*/{site,dist}-packages/ and %s/../%s): "
                    "reinstall blendarray (" REINSTALL "), or set BLENDARRAY_PACKAGE to the "
                    "package's folder", dir, dir, dir, BA_INSTALL_PACKAGE_REL);
}

const char *cli_default_python(char *buf, size_t cap)
{
    char dir[PATH_MAX];
    if (!exe_dir(dir, sizeof dir)) return NULL;
    if (snprintf(buf, cap, "%s/python3", dir) >= (int)cap) return NULL;
    return access(buf, X_OK) == 0 ? buf : NULL;
}
