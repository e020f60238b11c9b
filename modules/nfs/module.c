/*
 * nfs.so: a file system on an NFSv3 server, in process (docs/nfs.md).
 *
 *     defuse run -m /mnt/n=nfs:nfs://SERVER/EXPORT[,OPTION...] -- PROGRAM
 *
 * Each process using the mount has its own connection to the server (made
 * at init, in every image: after an exec too) and its own cache; a forked
 * child connects again at its first call, never using its parent's TCP
 * stream.  init fails at once, with one line saying why, when the server
 * cannot be reached or will not mount the export: running the program on
 * a missing file system would give it wrong answers.
 */
#include "nfs.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define EXPORT __attribute__((visibility("default")))

/*
 * The program's errno: a module runs in the program's thread, so every
 * libc call here (libnfs's non-blocking reads and writes leave EAGAIN
 * behind) would change it under a call that succeeded, and a program that
 * clears errno and looks at it after readdir(3) sees a failure.  Kept at
 * every operation's start, put back at its end.
 */
static __thread int program_errno;

void nfs_lock(struct nfsmod *m)
{
	program_errno = errno;
	pthread_mutex_lock(&m->lock);
	m->busy = 1;
	if (m->forked) {
		m->forked = false;
		nfs_after_fork_cleanup(m);
		files_after_fork(m);
	}
	/* no inode is freed while another thread waits holding some */
	if (!m->waiting)
		cache_trim(&m->cache);
}

void nfs_unlock(struct nfsmod *m)
{
	m->busy = 0;
	pthread_mutex_unlock(&m->lock);
	errno = program_errno;
}

static void free_mod(struct nfsmod *m)
{
	nfs_disconnect(m);
	gen_close(m);
	cache_free(&m->cache);
	pthread_cond_destroy(&m->conn_free);
	pthread_mutex_destroy(&m->lock);
	free(m);
}

static int nfs_init(const char *args, struct defuse_conn *conn, void **priv, char *why,
		    size_t why_len)
{
	struct nfsmod *m = calloc(1, sizeof(*m));
	int r;

	(void)conn;
	if (!m) {
		snprintf(why, why_len, "out of memory");
		return -ENOMEM;
	}
	for (int i = 0; i < NFS_CONNS; i++)
		m->conns[i].fd = -1;
	pthread_mutex_init(&m->lock, NULL);
	pthread_cond_init(&m->conn_free, NULL);
	if ((r = nfs_parse_args(args, &m->o, why, why_len)) < 0 ||
	    (r = cache_init(&m->cache)) < 0) {
		if (r == -ENOMEM)
			snprintf(why, why_len, "out of memory");
		pthread_cond_destroy(&m->conn_free);
		pthread_mutex_destroy(&m->lock);
		free(m);
		return r;
	}
	m->acregmin = (int64_t)m->o.acregmin * 1000000000;
	m->acregmax = (int64_t)m->o.acregmax * 1000000000;
	m->acdirmin = (int64_t)m->o.acdirmin * 1000000000;
	m->acdirmax = (int64_t)m->o.acdirmax * 1000000000;
	if (gethostname(m->host, sizeof(m->host) - 1) < 0)
		snprintf(m->host, sizeof(m->host), "defuse");
	/* an image exec'd from a running tree: what the first one learnt,
	   and a connection at the first call (rpc.c, nfs_save_mount); a first
	   image: a connection and the root's attributes from what a mount
	   before learnt, or else the whole mount */
	if (nfs_load_mount(m) < 0 ||
	    (!getenv("DEFUSE_INHERITED") && nfs_connect_known(m) < 0)) {
		r = nfs_connect_first(m, why, why_len);
		if (r < 0) {
			free_mod(m);
			return r;
		}
		lockdir_make(m);
		nfs_save_mount(m);
	}
	gen_open(m);
	/* at most 1 MiB a call, as the kernel client (NFS_MAX_FILE_IO_SIZE):
	   ganesha offers 64 MiB */
	if (m->rtmax > (1u << 20))
		m->rtmax = 1u << 20;
	if (m->wtmax > (1u << 20))
		m->wtmax = 1u << 20;
	if (m->o.rsize && m->o.rsize < m->rtmax)
		m->rtmax = m->o.rsize;
	if (m->o.wsize && m->o.wsize < m->wtmax)
		m->wtmax = m->o.wsize;
	if (!m->rtmax)
		m->rtmax = 32768;
	if (!m->wtmax)
		m->wtmax = 32768;
	*priv = m;
	return 0;
}

static void nfs_destroy(void *priv)
{
	struct nfsmod *m = priv;
	struct cred c;

	cred_get(&c);
	nfs_lock(m);
	files_at_exit(m, &c);
	nfs_unlock(m);
	/* open files are not released at exit (module.h): their memory goes
	   with the process */
	free_mod(m);
}

/*
 * Nothing here may allocate or free: a threaded program's fork (glibc)
 * holds malloc's locks in the child until fork returns, and this runs
 * before (rpc.c, nfs_forget_connection).  The rest waits for the child's
 * first call.
 */
static void nfs_after_fork_child(void *priv)
{
	struct nfsmod *m = priv;
	int saved = errno;

	/* another thread of the parent may have held the lock at the fork */
	pthread_mutex_init(&m->lock, NULL);
	pthread_cond_init(&m->conn_free, NULL);
	nfs_forget_connection(m);
	m->busy = 0;
	m->forked = true;
	errno = saved;
}

const struct defuse_ops nfs_ops = {
	.init = nfs_init,
	.destroy = nfs_destroy,
	.after_fork_child = nfs_after_fork_child,
	.getattr = op_getattr,
	.access = op_access,
	.readlink = op_readlink,
	.statfs = op_statfs,
	.mknod = op_mknod,
	.mkdir = op_mkdir,
	.unlink = op_unlink,
	.rmdir = op_rmdir,
	.symlink = op_symlink,
	.rename = op_rename,
	.link = op_link,
	.chmod = op_chmod,
	.chown = op_chown,
	.truncate = op_truncate,
	.utimens = op_utimens,
	.open = op_open,
	.release = op_release,
	.flush = op_flush,
	.read = op_read,
	.write = op_write,
	.append = op_append,
	.fgetattr = op_fgetattr,
	.ftruncate = op_ftruncate,
	.fchmod = op_fchmod,
	.fchown = op_fchown,
	.futimens = op_futimens,
	.flink = op_flink,
	.fsync = op_fsync,
	.readdir = op_readdir,
	.lock_fd = op_lock_fd,
	.flock = op_flock,
	.fh_path = op_fh_path,
	.file_handle = op_file_handle,
	.open_handle = op_open_handle,
};

EXPORT const struct defuse_module defuse_module_v2 = {
	.api_version = DEFUSE_API_VERSION,
	.ops_size = sizeof(struct defuse_ops),
	.name = "nfs",
	.description = "an NFSv3 export: nfs://SERVER/EXPORT[,OPTION...] (docs/nfs.md)",
	/* walk.c resolves ".." and links beneath the root: one walk per call,
	   not one host lookup per component */
	.flags = DEFUSE_MODULE_RESOLVES,
	.ops = &nfs_ops,
};
