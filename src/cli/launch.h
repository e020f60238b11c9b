/*
 * Starting a command under DEFUSE and waiting for its whole process tree.
 */
#ifndef DEFUSE_CLI_LAUNCH_H
#define DEFUSE_CLI_LAUNCH_H

/*
 * Finds the preload library: $DEFUSE_PRELOAD_LIB, else libdefuse.so next to
 * the defuse executable (a build tree), else the installed one.  Returns 0
 * and fills path, or prints why not and returns -1.
 */
int launch_find_preload(char *path, unsigned long cap);

/*
 * Replaces this process by argv[0] (searched in PATH) with the preload
 * library: no extra process, so exit status, signals and process tree are
 * exactly the command's.  Returns only on failure: 127 (not found) or 126.
 */
int launch_exec(char **argv);

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
