#ifndef DEFUSE_CORE_MODULE_FIND_H
#define DEFUSE_CORE_MODULE_FIND_H

#include <stddef.h>
#include <defuse/module.h>

/*
 * Finds a module by path (a name with a '/') or by name, loads it and
 * checks that it is a DEFUSE module of this API version.  By name, it looks
 * in $DEFUSE_MODULE_PATH (DIR/NAME.so, DIR/NAME/NAME.so), then in modules/
 * next to `self` (installed: LIBDIR/defuse/modules) and in ../modules/NAME/
 * (the build tree).  `self` is a file in DEFUSE's library directory:
 * libdefuse.so in a captured process, defuse-fuse in the FUSE bridge, so
 * both find the same module for the same name.  Returns NULL with a
 * one-line reason in `why`.
 */
const struct defuse_module *module_find(const char *name, const char *self,
					char *why, size_t whylen);

#endif
