/* The shared server's parts (server.c, locks.c). */
#ifndef DEFUSE_SHARED_H
#define DEFUSE_SHARED_H

#include <fcntl.h>
#include <stdint.h>
#include <sys/types.h>

int sh_pid_gone(pid_t pid);
int sh_getlk(uint64_t ino, uint64_t owner, struct flock *fl);
int sh_setlk(uint64_t ino, uint64_t fhid, uint64_t owner, const struct flock *fl);
int sh_flock(uint64_t ino, uint64_t fhid, uint64_t owner, int op);
void sh_locks_fh_gone(uint64_t fhid);
void sh_locks_pid_gone(pid_t pid);

#endif
