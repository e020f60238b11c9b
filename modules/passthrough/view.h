/*
 * The passthrough module's confined view of its root (view.c).
 *
 * A path operation below the root opens the parent beneath the root with
 * openat2(RESOLVE_BENEATH), acts on the name and closes the parent: three
 * system calls for what the kernel does in one natively, and most of a
 * kernel-backed stat's time.  RESOLVE_BENEATH is there so that no symbolic
 * link is followed by the kernel (the core follows them: a link's target
 * means something else seen through the mount).  A view gets the same
 * guarantee from the mount instead of the lookup: it is a private copy of
 * the root's mount (open_tree(OPEN_TREE_CLONE); without CAP_SYS_ADMIN made
 * by a helper in a user namespace of its own) on which no symbolic link is
 * followed (MOUNT_ATTR_NOSYMFOLLOW: following one fails with ELOOP).  A whole path is then one *at call on the view's
 * descriptor; ELOOP sends the caller back to the long way, which follows
 * links as before.  It sees exactly what the root sees, changes by anyone
 * included, with no cache of names to keep coherent.  What it cannot see,
 * mounts below the root, is checked: there is a view only while no mount
 * lies below the root, and every use first asks the kernel (an epoll on
 * /proc/self/mountinfo, one call that finds nothing in the common case)
 * whether the mount table changed since.
 */
#ifndef DEFUSE_PASSTHROUGH_VIEW_H
#define DEFUSE_PASSTHROUGH_VIEW_H

#include <stdbool.h>
#include <sys/stat.h>

struct view;

/* A view of the directory tree below root (O_PATH) to be made on use, or
   NULL: DEFUSE_PASSTHROUGH_VIEW=0 in the environment, or out of memory.
   DEFUSE_PASSTHROUGH_VIEW=1 makes it at a process's first lookup instead
   of after a few, =helper the same by the helper (tests).  No system call
   here. */
struct view *view_new(int root);

/* Closes what the view holds and frees it (NULL: nothing). */
void view_free(struct view *v);

/*
 * The view's descriptor, current as of this call, or -1 when the caller
 * must take the long way (no view yet or to be had, the mount table
 * changed, another thread or a signal handler busy in here, a vfork
 * child).  Paths on it are relative, never contain "..", and a symbolic
 * link met on the way (or as a last component to follow) fails the call
 * with ELOOP, which the caller must take as "the long way".  A descriptor
 * returned is to be given back with view_put once the call on it is done.
 */
int view_get(struct view *v);

void view_put(struct view *v);

/* Whether rel (relative to the root, no leading '/') may be looked up in
   the view: no "." or ".." component.  Lexical only. */
bool view_takes(const char *rel);

/*
 * statx through the view reports the view's mount: make *stx say the
 * root's mount instead, as the long way would.  false when it names
 * another mount (the caller takes the long way).
 */
bool view_fix_statx(struct view *v, struct statx *stx);

/* In a forked child, before anything else: what the view holds is shared
   with the parent's, so the child drops it (its next uses may make its own). */
void view_after_fork_child(struct view *v);

#endif
