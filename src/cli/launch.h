/*
 * Starting a command under DEFUSE and waiting for its whole process tree.
 */
#ifndef DEFUSE_CLI_LAUNCH_H
#define DEFUSE_CLI_LAUNCH_H

#include <stdio.h>

/*
 * Finds the preload library: $DEFUSE_PRELOAD_LIB, else libdefuse.so next to
 * the defuse executable (a build tree), else the installed one.  Returns 0
 * and fills path, or prints why not and returns -1.
 */
int launch_find_preload(char *path, unsigned long cap);

/*
 * Replaces this process by argv[0] (searched in PATH) with the preload
 * library: no extra process, so exit status, signals and process tree are
 * exactly the command's.  argv[0] may be inside a mount of DEFUSE_MOUNTS.
 * Returns only on failure: 127 (not found) or 126.
 */
int launch_exec(char **argv, const char *preload);

/*
 * Whether execvp(prog) could look inside one of the mounts listed in
 * mounts (DEFUSE_MOUNTS' text; NULL or "" for none): prog itself, or one
 * of the PATH entries it would be searched in.  Lexical, and yes when in
 * doubt (a ".." component).
 */
int launch_in_mount(const char *prog, const char *mounts);

/*
 * Finds module name (no '/') where the host at path host (libdefuse.so or
 * defuse-fuse) will look for it; fills path.  Returns 0, or -1 if absent.
 */
int launch_find_module(const char *name, const char *host, char *path, unsigned long cap);

/* Says, as who ("defuse run"), that name was not found, and where it was
   looked for: only the places that exist, with the modules they hold. */
void launch_unknown_module(FILE *out, const char *who, const char *name, const char *host);

/*
 * Runs argv[0] with the preload library and the given extra environment
 * entries ("NAME=value", NULL-terminated, may be NULL), then waits until
 * every process of the tree has exited (the CLI is their subreaper).
 * Returns the command's wait status (127 << 8 when it could not start).
 */
int launch_and_wait(char **argv, char *const *extra_env, int *root_pid_out);

/* Exits as the waited-for command did: same code, or the same signal. */
__attribute__((noreturn)) void launch_exit_like(int wstatus);

/* Called with the root pid right after the fork, before waiting (may be NULL). */
extern void (*launch_started_hook)(int root_pid);

#endif
