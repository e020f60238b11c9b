/*
 * The differential cases.  Each runs natively on one directory and through
 * the module (kernel-backed and emulated) on twins of it; everything it
 * records must come out the same (harness.h).  Paths are the module's:
 * relative to the mount root, starting with "/".
 *
 * prep_std makes:
 *
 *   f "hello, world\n" 0644     empty 0644          secret 0600
 *   exec 0755                    pubfile 0666        mine 0644 (65534:65534)
 *   d/ 0755: g, sub/deep, up -> ../f, lsub -> sub
 *   empty_dir/ 0755   priv/ 0700 (priv/f)   pub/ 0777   sticky/ 01777 (rootfile)
 *   lf -> f   ld -> d   dangling -> nowhere   loop -> loop   lchain -> lf
 *   fifo   sock
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "harness.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

void prep_std(int d)
{
	put(d, "f", "hello, world\n", 0644);
	put(d, "empty", "", 0644);
	put(d, "secret", "s3cret\n", 0600);
	put(d, "exec", "#!/bin/sh\nexit 0\n", 0755);
	put(d, "pubfile", "anyone\n", 0666);
	put(d, "mine", "nobody's\n", 0644);
	own(d, "mine", 65534, 65534);
	mkd(d, "d", 0755);
	put(d, "d/g", "in d\n", 0644);
	mkd(d, "d/sub", 0755);
	put(d, "d/sub/deep", "deep\n", 0644);
	sym(d, "../f", "d/up");
	sym(d, "sub", "d/lsub");
	mkd(d, "empty_dir", 0755);
	mkd(d, "priv", 0700);
	put(d, "priv/f", "p\n", 0644);
	mkd(d, "pub", 0777);
	mkd(d, "sticky", 01777);
	put(d, "sticky/rootfile", "r\n", 0666);
	sym(d, "f", "lf");
	sym(d, "d", "ld");
	sym(d, "nowhere", "dangling");
	sym(d, "loop", "loop");
	sym(d, "lf", "lchain");
	if (mkfifoat(d, "fifo", 0644) || mknodat(d, "sock", S_IFSOCK | 0644, 0))
		fail_msg("prep: fifo/sock: %s", strerror(errno));
}

static const struct timespec T1[2] = { { 1000000000, 111 }, { 1200000000, 222 } };
static const struct timespec T_OMIT_A[2] = { { 0, UTIME_OMIT }, { 1300000000, 333 } };
static const struct timespec T_OMIT[2] = { { 0, UTIME_OMIT }, { 0, UTIME_OMIT } };
static const struct timespec T_NOW[2] = { { 0, UTIME_NOW }, { 0, UTIME_NOW } };
static const struct timespec T_BAD[2] = { { 0, 1000000000 }, { 0, 0 } };

/* ---- getattr ------------------------------------------------------------ */

static void getattr_regular(struct be *b)
{
	static const char *const p[] = { "/f", "/empty", "/secret", "/exec", "/d", "/d/g",
					  "/d/sub/deep", "/empty_dir", "/sticky", "/mine" };

	for (size_t i = 0; i < sizeof p / sizeof *p; i++) {
		S(b, p[i], 0);
		S(b, p[i], NF);
	}
}

static void getattr_root(struct be *b)
{
	S(b, "/", 0);
	S(b, "/", NF);
	S(b, "//", 0);
	S(b, "/.", 0);
}

static void getattr_symlinks(struct be *b)
{
	static const char *const p[] = { "/lf", "/ld", "/dangling", "/loop", "/lchain",
					  "/d/up", "/d/lsub", "/ld/lsub/deep" };

	for (size_t i = 0; i < sizeof p / sizeof *p; i++) {
		S(b, p[i], 0);
		S(b, p[i], NF);
	}
}

static void getattr_missing(struct be *b)
{
	S(b, "/nope", 0);
	S(b, "/nope", NF);
	S(b, "/d/nope", 0);
	S(b, "/nope/x", NF);
	S(b, "/f/x", 0);
	S(b, "/f/x", NF);
	S(b, "/dangling/x", 0);
	S(b, "/loop/x", 0);
}

static void getattr_trailing_slash(struct be *b)
{
	S(b, "/d/", 0);
	S(b, "/d/", NF);
	S(b, "/d//", NF);
	S(b, "/f/", 0);
	S(b, "/f/", NF);
	S(b, "/lf/", NF);
	S(b, "/ld/", 0);
	S(b, "/ld/", NF);
	S(b, "/dangling/", NF);
	S(b, "/nope/", 0);
	S(b, "/loop/", NF);
}

static void getattr_dots(struct be *b)
{
	static const char *const p[] = { "/d/.", "/d/..", "/d/sub/..", "/d/sub/../..",
					  "/d/./g", "/ld/..", "/d/../f", "/d/lsub/..",
					  "/d/./sub/./deep", "/f/.", "/nope/.." };

	for (size_t i = 0; i < sizeof p / sizeof *p; i++) {
		S(b, p[i], 0);
		S(b, p[i], NF);
	}
}

static void getattr_special(struct be *b)
{
	S(b, "/fifo", 0);
	S(b, "/sock", NF);
}

static void getattr_long_names(struct be *b)
{
	char name[300], path[5200];

	memset(name, 'n', sizeof name);
	name[0] = '/';
	name[256] = '\0';	/* a 255-byte component */
	R(b_mkdir(b, name, 0755));
	S(b, name, 0);
	name[256] = 'n';
	name[257] = '\0';	/* 256 bytes */
	S(b, name, 0);
	R(b_mkdir(b, name, 0755));
	/* a path of 4095 and of 4096 bytes (with the NUL: PATH_MAX and over) */
	memset(path, 'a', sizeof path);
	for (int i = 0; i < 5100; i += 100)
		path[i] = '/';
	path[4096] = '\0';
	S(b, path, 0);
	path[4096] = 'a';
	path[4097] = '\0';
	S(b, path, 0);
	path[5150] = '\0';
	S(b, path, NF);
	R(b_mkdir(b, path, 0755));
}

static void getattr_deep(struct be *b)
{
	char path[400] = "";

	for (int i = 0; i < 40; i++) {
		strcat(path, "/a");
		R(b_mkdir(b, path, 0755));
	}
	S(b, path, 0);
	strcat(path, "/up");
	/* back up the 40 levels to /f, exactly: no further */
	char target[200] = "";
	for (int i = 0; i < 40; i++)
		strcat(target, "../");
	strcat(target, "f");
	R(b_symlink(b, target, path));
	S(b, path, 0);
	C(b, path);
}

/* ---- access --------------------------------------------------------------- */

static void access_modes(struct be *b)
{
	static const char *const p[] = { "/f", "/exec", "/d", "/secret", "/nope", "/lf",
					  "/dangling", "/loop", "/f/", "/d/..", "/" };
	static const int modes[] = { F_OK, R_OK, W_OK, X_OK, R_OK | W_OK | X_OK };

	for (size_t i = 0; i < sizeof p / sizeof *p; i++)
		for (size_t m = 0; m < sizeof modes / sizeof *modes; m++) {
			R(b_access(b, p[i], modes[m], 0));
			R(b_access(b, p[i], modes[m], AT_SYMLINK_NOFOLLOW));
			R(b_access(b, p[i], modes[m], AT_EACCESS));
		}
	R(b_access(b, "/f", 8, 0));
	R(b_access(b, "/nope/x", 8, 0));
	R(b_access(b, "/nope/x", F_OK, 0x4000));
}

static void access_nobody(struct be *b)
{
	static const char *const p[] = { "/f", "/exec", "/d", "/secret", "/priv/f", "/priv",
					  "/mine", "/pubfile", "/lf", "/nope" };

	as_nobody(b);
	for (size_t i = 0; i < sizeof p / sizeof *p; i++)
		for (int m = 0; m <= 7; m++) {
			R(b_access(b, p[i], m, 0));
			R(b_access(b, p[i], m, AT_EACCESS));
			R(b_access(b, p[i], m, AT_EACCESS | AT_SYMLINK_NOFOLLOW));
		}
	as_root(b);
}

/* ---- readlink ------------------------------------------------------------- */

static void readlink_basic(struct be *b)
{
	static const char *const p[] = { "/lf", "/ld", "/dangling", "/d/up", "/lchain",
					  "/ld/up", "/loop" };

	for (size_t i = 0; i < sizeof p / sizeof *p; i++) {
		RL(b, p[i], 100);
		RL(b, p[i], 1);
		RL(b, p[i], 2);
		RL(b, p[i], 0);
	}
}

static void readlink_errors(struct be *b)
{
	static const char *const p[] = { "/f", "/d", "/", "/d/..", "/d/.", "/nope", "/lf/",
					  "/ld/", "/nope/x", "/f/x", "/fifo", "/loop/" };

	for (size_t i = 0; i < sizeof p / sizeof *p; i++)
		RL(b, p[i], 64);
	RL(b, "/nope/x", 0);
}

/* ---- mkdir ---------------------------------------------------------------- */

static void mkdir_basic(struct be *b)
{
	R(b_mkdir(b, "/n", 0755));
	S(b, "/n", 0);
	R(b_mkdir(b, "/n/m", 0700));
	S(b, "/n/m", 0);
	R(b_mkdir(b, "/d/new", 0777));
	S(b, "/d/new", 0);
	R(b_mkdir(b, "/all", 07777));
	S(b, "/all", 0);
	R(b_mkdir(b, "/none", 0));
	S(b, "/none", 0);
	R(b_mkdir(b, "/sgid", 02755));
	S(b, "/sgid", 0);
	L(b, "/");
	S(b, "/", 0);
}

static void mkdir_errors(struct be *b)
{
	static const char *const p[] = { "/d", "/f", "/lf", "/dangling", "/loop", "/nope/x",
					  "/f/x", "/d/.", "/d/..", "/", "/fifo", "/dangling/x" };

	for (size_t i = 0; i < sizeof p / sizeof *p; i++)
		R(b_mkdir(b, p[i], 0755));
	L(b, "/");
}

static void mkdir_trailing_slash(struct be *b)
{
	R(b_mkdir(b, "/n/", 0755));
	R(b_mkdir(b, "/n2//", 0755));
	R(b_mkdir(b, "/n/m/", 0755));
	S(b, "/n/m", 0);
	S(b, "/n2", 0);
}

static void mkdir_via_symlinked_parent(struct be *b)
{
	R(b_mkdir(b, "/ld/new", 0755));
	S(b, "/d/new", 0);
	R(b_mkdir(b, "/d/lsub/new", 0711));
	S(b, "/d/sub/new", 0);
	R(b_mkdir(b, "/lf/new", 0755));
	R(b_mkdir(b, "/dangling/new", 0755));
}

/* ---- mknod ---------------------------------------------------------------- */

static void mknod_types(struct be *b)
{
	R(b_mknod(b, "/r", S_IFREG | 0640, 0));
	S(b, "/r", 0);
	R(b_mknod(b, "/z", 0600, 0));
	S(b, "/z", 0);
	R(b_mknod(b, "/p", S_IFIFO | 0644, 0));
	S(b, "/p", 0);
	R(b_mknod(b, "/s", S_IFSOCK | 0644, 0));
	S(b, "/s", 0);
	R(b_mknod(b, "/c", S_IFCHR | 0600, makedev(1, 3)));
	S(b, "/c", 0);
	R(b_mknod(b, "/bl", S_IFBLK | 0600, makedev(7, 0)));
	S(b, "/bl", 0);
	L(b, "/");
}

static void mknod_errors(struct be *b)
{
	R(b_mknod(b, "/x", S_IFDIR | 0755, 0));
	R(b_mknod(b, "/x", 0170000 | 0755, 0));
	R(b_mknod(b, "/f", S_IFREG | 0644, 0));
	R(b_mknod(b, "/lf", S_IFIFO | 0644, 0));
	R(b_mknod(b, "/nope/x", S_IFREG | 0644, 0));
	R(b_mknod(b, "/nope/x", S_IFDIR | 0644, 0));
	R(b_mknod(b, "/nope/x", 0150000 | 0644, 0));
	R(b_mknod(b, "/d/.", S_IFREG | 0644, 0));
	R(b_mknod(b, "/", S_IFIFO | 0644, 0));
	R(b_mknod(b, "/f/x", S_IFREG | 0644, 0));
	R(b_mknod(b, "/dangling", S_IFREG | 0644, 0));
	L(b, "/");
}

/* ---- unlink, rmdir ---------------------------------------------------------- */

static void unlink_basic(struct be *b)
{
	R(b_unlink(b, "/lf"));
	S(b, "/lf", NF);
	S(b, "/f", 0);
	R(b_unlink(b, "/f"));
	S(b, "/f", NF);
	R(b_unlink(b, "/dangling"));
	R(b_unlink(b, "/d/g"));
	R(b_unlink(b, "/fifo"));
	R(b_unlink(b, "/sock"));
	R(b_unlink(b, "/ld/up"));
	L(b, "/");
	L(b, "/d");
}

static void unlink_errors(struct be *b)
{
	static const char *const p[] = { "/d", "/nope", "/f/", "/d/", "/lf/", "/ld/", "/",
					  "/d/.", "/d/..", "/nope/x", "/f/x", "/dangling/",
					  "/empty_dir" };

	for (size_t i = 0; i < sizeof p / sizeof *p; i++)
		R(b_unlink(b, p[i]));
	L(b, "/");
}

static void rmdir_basic(struct be *b)
{
	R(b_rmdir(b, "/empty_dir"));
	S(b, "/empty_dir", 0);
	R(b_rmdir(b, "/d/sub/deep"));
	R(b_unlink(b, "/d/sub/deep"));
	R(b_rmdir(b, "/ld/sub/"));
	R(b_rmdir(b, "/d/lsub"));
	S(b, "/", 0);
	L(b, "/");
	L(b, "/d");
}

static void rmdir_errors(struct be *b)
{
	static const char *const p[] = { "/d", "/f", "/ld", "/nope", "/d/.", "/d/sub/..",
					  "/d/..", "/lf/", "/f/", "/nope/x", "/dangling",
					  "/d/sub/deep/" };

	for (size_t i = 0; i < sizeof p / sizeof *p; i++)
		R(b_rmdir(b, p[i]));
	R(b_rmdir(b, "/empty_dir//"));
	L(b, "/");
}

/* ---- symlink ---------------------------------------------------------------- */

static void symlink_basic(struct be *b)
{
	static const char *const t[] = { "f", "/abs/target", "../x", "a b\nc", "..", "." };
	char p[32];

	for (size_t i = 0; i < sizeof t / sizeof *t; i++) {
		snprintf(p, sizeof p, "/d/s%zu", i);
		R(b_symlink(b, t[i], p));
		RL(b, p, 100);
		S(b, p, NF);
	}
	L(b, "/d");
}

static void symlink_errors(struct be *b)
{
	char *target = malloc(5000);

	R(b_symlink(b, "x", "/f"));
	R(b_symlink(b, "x", "/lf"));
	R(b_symlink(b, "x", "/nope/y"));
	R(b_symlink(b, "", "/e"));
	R(b_symlink(b, "", "/nope/y"));
	R(b_symlink(b, "x", "/d/."));
	R(b_symlink(b, "x", "/"));
	R(b_symlink(b, "x", "/f/x"));
	R(b_symlink(b, "x", "/n/"));
	memset(target, 't', 5000);
	target[4095] = '\0';
	R(b_symlink(b, target, "/long"));
	RL(b, "/long", 5000);
	target[4095] = 't';
	target[4999] = '\0';
	R(b_symlink(b, target, "/toolong"));
	R(b_symlink(b, target, "/nope/toolong"));
	free(target);
	L(b, "/");
}

/* ---- rename ------------------------------------------------------------------ */

static void rename_file(struct be *b)
{
	R(b_rename(b, "/f", "/f2", 0));
	S(b, "/f", 0);
	S(b, "/f2", 0);
	C(b, "/f2");
	R(b_rename(b, "/f2", "/d/f3", 0));
	R(b_rename(b, "/d/f3", "/ld/sub/f4", 0));
	C(b, "/d/sub/f4");
	L(b, "/");
	L(b, "/d/sub");
}

static void rename_over(struct be *b)
{
	R(b_rename(b, "/f", "/empty", 0));
	C(b, "/empty");
	R(b_rename(b, "/empty_dir", "/d/sub", 0));
	R(b_mkdir(b, "/e2", 0700));
	R(b_rename(b, "/empty_dir", "/e2", 0));
	S(b, "/e2", 0);
	R(b_rename(b, "/exec", "/lf", 0));
	S(b, "/lf", NF);
	R(b_rename(b, "/secret", "/fifo", 0));
	S(b, "/fifo", 0);
	L(b, "/");
}

static void rename_dirs(struct be *b)
{
	R(b_rename(b, "/empty_dir", "/n", 0));
	R(b_rename(b, "/d", "/d/sub/x", 0));
	R(b_rename(b, "/d", "/d/x", 0));
	R(b_rename(b, "/d", "/f", 0));
	R(b_rename(b, "/f", "/d", 0));
	R(b_rename(b, "/d", "/n/d", 0));
	S(b, "/n/d/sub/deep", 0);
	S(b, "/n", 0);
	S(b, "/", 0);
	R(b_rename(b, "/n/d/", "/d2/", 0));
	R(b_rename(b, "/f/", "/f3", 0));
	R(b_rename(b, "/f", "/f3/", 0));
	L(b, "/");
}

static void rename_errors(struct be *b)
{
	R(b_rename(b, "/nope", "/x", 0));
	R(b_rename(b, "/f", "/nope/x", 0));
	R(b_rename(b, "/nope", "/nope2/x", 0));
	R(b_rename(b, "/f", "/f/x", 0));
	R(b_rename(b, "/d/.", "/x", 0));
	R(b_rename(b, "/d/..", "/x", 0));
	R(b_rename(b, "/f", "/d/..", 0));
	R(b_rename(b, "/f", "/d/.", 0));
	R(b_rename(b, "/", "/x", 0));
	R(b_rename(b, "/f", "/", 0));
	R(b_rename(b, "/f", "/f", 0));
	R(b_rename(b, "/d", "/d", 0));
	R(b_rename(b, "/dangling/x", "/y", 0));
	L(b, "/");
}

static void rename_flags(struct be *b)
{
	R(b_rename(b, "/f", "/empty", RENAME_NOREPLACE));
	R(b_rename(b, "/f", "/lf", RENAME_NOREPLACE));
	R(b_rename(b, "/f", "/dangling", RENAME_NOREPLACE));
	R(b_rename(b, "/f", "/new", RENAME_NOREPLACE));
	R(b_rename(b, "/new", "/d", RENAME_EXCHANGE));
	S(b, "/new", 0);
	S(b, "/d", 0);
	R(b_rename(b, "/new", "/nope", RENAME_EXCHANGE));
	R(b_rename(b, "/nope", "/new", RENAME_EXCHANGE));
	R(b_rename(b, "/lf", "/ld", RENAME_EXCHANGE));
	RL(b, "/lf", 100);
	R(b_rename(b, "/new", "/x", RENAME_NOREPLACE | RENAME_EXCHANGE));
	R(b_rename(b, "/nope/a", "/x", RENAME_NOREPLACE | RENAME_EXCHANGE));
	R(b_rename(b, "/new", "/x", 0x100));
	R(b_rename(b, "/new", "/x", RENAME_EXCHANGE | RENAME_WHITEOUT));
	R(b_rename(b, "/f", "/d/..", RENAME_NOREPLACE));
	R(b_rename(b, "/f", "/", RENAME_NOREPLACE));
	R(b_rename(b, "/", "/d", RENAME_EXCHANGE));
	L(b, "/");
}

static void rename_symlinks(struct be *b)
{
	R(b_rename(b, "/lf", "/lf2", 0));
	RL(b, "/lf2", 100);
	S(b, "/lf2", 0);
	R(b_rename(b, "/ld/g", "/g", 0));
	R(b_rename(b, "/d/up", "/d/sub/up", 0));	/* now names d/f */
	S(b, "/d/sub/up", 0);
	S(b, "/d/sub/up", NF);
	R(b_rename(b, "/ld", "/d/ld", 0));
	S(b, "/d/ld", 0);
	R(b_rename(b, "/dangling", "/d/sub/dangling", 0));
	L(b, "/");
	L(b, "/d");
}

/* ---- link -------------------------------------------------------------------- */

static void link_basic(struct be *b)
{
	R(b_link(b, "/f", "/h"));
	S(b, "/f", 0);
	S(b, "/h", 0);
	C(b, "/h");
	R(b_link(b, "/lf", "/hl"));
	S(b, "/hl", NF);
	RL(b, "/hl", 100);
	R(b_link(b, "/d/g", "/ld/g2"));
	S(b, "/d/g", 0);
	R(b_link(b, "/dangling", "/hd"));
	S(b, "/hd", NF);
	R(b_link(b, "/fifo", "/d/sub/fifo2"));
	S(b, "/fifo", 0);
	R(b_unlink(b, "/f"));
	S(b, "/h", 0);
	L(b, "/");
}

static void link_errors(struct be *b)
{
	R(b_link(b, "/d", "/x"));
	R(b_link(b, "/nope", "/x"));
	R(b_link(b, "/f", "/empty"));
	R(b_link(b, "/f", "/nope/x"));
	R(b_link(b, "/nope", "/f/x"));
	R(b_link(b, "/nope", "/nope2/x"));
	R(b_link(b, "/f", "/f/x"));
	R(b_link(b, "/d/.", "/x"));
	R(b_link(b, "/d/..", "/x"));
	R(b_link(b, "/d/..", "/f"));
	R(b_link(b, "/d/..", "/nope/x"));
	R(b_link(b, "/", "/x"));
	R(b_link(b, "/f", "/d/."));
	R(b_link(b, "/f", "/"));
	R(b_link(b, "/lf/", "/x"));
	R(b_link(b, "/ld/", "/x"));
	R(b_link(b, "/f/", "/x"));
	R(b_link(b, "/f", "/x/"));
	R(b_link(b, "/nope/", "/x"));
	L(b, "/");
}

static void link_nobody(struct be *b)
{
	as_nobody(b);
	R(b_link(b, "/f", "/pub/h"));		/* protected_hardlinks */
	R(b_link(b, "/pubfile", "/pub/h2"));
	R(b_link(b, "/mine", "/pub/h3"));
	R(b_link(b, "/mine", "/h4"));		/* no write access to / */
	R(b_link(b, "/priv/f", "/pub/h5"));	/* no search access */
	as_root(b);
	L(b, "/pub");
}

/* ---- chmod, chown ------------------------------------------------------------ */

static void chmod_basic(struct be *b)
{
	R(b_chmod(b, "/f", 0600, 0));
	S(b, "/f", 0);
	R(b_chmod(b, "/d", 0700, 0));
	S(b, "/d", 0);
	R(b_chmod(b, "/f", 04755, 0));
	S(b, "/f", 0);
	R(b_chmod(b, "/f", 0177777, 0));
	S(b, "/f", 0);
	R(b_chmod(b, "/", 0711, 0));
	S(b, "/", 0);
	R(b_chmod(b, "/lf", 0640, 0));
	S(b, "/f", 0);
	S(b, "/lf", NF);
	R(b_chmod(b, "/d/.", 0750, 0));
	R(b_chmod(b, "/d/up", 0604, 0));
	R(b_chmod(b, "/ld/", 0705, 0));
	S(b, "/d", 0);
	S(b, "/f", 0);
}

static void chmod_nofollow(struct be *b)
{
	static const char *const p[] = { "/lf", "/f", "/d/.", "/d/..", "/nope", "/f/", "/ld/",
					  "/lf/", "/dangling", "/loop", "/fifo", "/" };

	for (size_t i = 0; i < sizeof p / sizeof *p; i++) {
		R(b_chmod(b, p[i], 0700, NF));
		S(b, p[i], NF);
		R(b_chmod(b, p[i], 0751, 0));
		S(b, p[i], 0);
	}
}

static void chmod_nobody(struct be *b)
{
	as_nobody(b);
	R(b_chmod(b, "/f", 0777, 0));
	R(b_chmod(b, "/mine", 0600, 0));
	R(b_chmod(b, "/mine", 02755, 0));	/* sgid dropped: not in group 65534? it is */
	R(b_chmod(b, "/priv/f", 0777, 0));
	R(b_chmod(b, "/lf", 0777, NF));
	as_root(b);
	S(b, "/mine", 0);
	S(b, "/f", 0);
}

static void chown_basic(struct be *b)
{
	R(b_chown(b, "/f", 1, 2, 0));
	S(b, "/f", 0);
	R(b_chown(b, "/f", (uid_t)-1, 3, 0));
	S(b, "/f", 0);
	R(b_chown(b, "/f", 4, (gid_t)-1, NF));
	S(b, "/f", 0);
	R(b_chown(b, "/lf", 5, 5, 0));
	S(b, "/f", 0);
	S(b, "/lf", NF);
	R(b_chown(b, "/lf", 6, 6, NF));
	S(b, "/f", 0);
	S(b, "/lf", NF);
	R(b_chown(b, "/d", 7, 7, 0));
	R(b_chown(b, "/", 8, 8, 0));
	S(b, "/", 0);
	R(b_chown(b, "/nope", 1, 1, 0));
	R(b_chown(b, "/dangling", 1, 1, 0));
	R(b_chown(b, "/dangling", 9, 9, NF));
	S(b, "/dangling", NF);
	R(b_chown(b, "/ld/", 10, 10, NF));
	S(b, "/d", 0);
	R(b_chown(b, "/d/..", 11, 11, NF));
	S(b, "/", 0);
	R(b_chown(b, "/loop", 1, 1, 0));
	R(b_chown(b, "/f/", 1, 1, NF));
}

static void chown_clears_setid(struct be *b)
{
	R(b_chmod(b, "/exec", 06755, 0));
	S(b, "/exec", 0);
	R(b_chown(b, "/exec", 1, 1, 0));
	S(b, "/exec", 0);
	R(b_chmod(b, "/exec", 02745, 0));
	R(b_chown(b, "/exec", (uid_t)-1, (gid_t)-1, 0));
	S(b, "/exec", 0);
}

static void chown_nobody(struct be *b)
{
	as_nobody(b);
	R(b_chown(b, "/f", 65534, 65534, 0));
	R(b_chown(b, "/mine", (uid_t)-1, (gid_t)-1, 0));
	R(b_chown(b, "/mine", (uid_t)-1, 65534, 0));
	R(b_chown(b, "/mine", (uid_t)-1, 0, 0));
	R(b_chown(b, "/mine", 0, (gid_t)-1, 0));
	R(b_chown(b, "/priv/f", 65534, 65534, 0));
	as_root(b);
	S(b, "/mine", 0);
}

/* ---- truncate ------------------------------------------------------------------ */

static void truncate_basic(struct be *b)
{
	R(b_truncate(b, "/f", 5));
	C(b, "/f");
	R(b_truncate(b, "/f", 100));
	S(b, "/f", 0);
	C(b, "/f");
	R(b_truncate(b, "/f", 0));
	S(b, "/f", 0);
	R(b_truncate(b, "/secret", 3));
	R(b_truncate(b, "/lf", 3));
	C(b, "/f");
	R(b_truncate(b, "/lchain", 2));
	C(b, "/f");
	R(b_truncate(b, "/empty", 3 * 4096 + 1));
	S(b, "/empty", 0);
	R(b_truncate(b, "/d/up", 1));
	C(b, "/f");
	R(b_truncate(b, "/d/../exec", 4));
	C(b, "/exec");
}

static void truncate_errors(struct be *b)
{
	static const char *const p[] = { "/d", "/fifo", "/sock", "/nope", "/dangling", "/f/",
					  "/loop", "/", "/ld", "/d/..", "/nope/x" };

	for (size_t i = 0; i < sizeof p / sizeof *p; i++)
		R(b_truncate(b, p[i], 1));
	R(b_truncate(b, "/f", -1));
	R(b_truncate(b, "/nope", -1));
	R(b_truncate(b, "/d", -1));
	R(b_truncate(b, "/f", (off_t)1 << 62));
	S(b, "/f", 0);
}

static void truncate_nobody(struct be *b)
{
	as_nobody(b);
	R(b_truncate(b, "/f", 1));
	R(b_truncate(b, "/mine", 1));
	R(b_truncate(b, "/pubfile", 2));
	R(b_truncate(b, "/secret", 1));
	R(b_truncate(b, "/priv/f", 1));
	as_root(b);
	C(b, "/mine");
	C(b, "/pubfile");
	C(b, "/f");
}

/* ---- utimens ------------------------------------------------------------------- */

static void utimens_explicit(struct be *b)
{
	R(b_utimens(b, "/f", T1, 0));
	ST(b, "/f", 0);
	R(b_utimens(b, "/d", T1, 0));
	ST(b, "/d", 0);
	R(b_utimens(b, "/empty", T1, NF));
	ST(b, "/empty", 0);
	R(b_utimens(b, "/lf", T_OMIT_A, 0));
	ST(b, "/f", 0);
	R(b_utimens(b, "/lf", T1, NF));
	ST(b, "/lf", NF);
	R(b_utimens(b, "/", T1, 0));
	ST(b, "/", 0);
	R(b_utimens(b, "/d/..", T_OMIT_A, NF));
	ST(b, "/", 0);
	R(b_utimens(b, "/ld/", T_OMIT_A, NF));
	ST(b, "/d", 0);
	R(b_utimens(b, "/dangling", T1, NF));
	ST(b, "/dangling", NF);
}

static void utimens_special(struct be *b)
{
	R(b_utimens(b, "/f", NULL, 0));
	R(b_utimens(b, "/f", T_NOW, 0));
	R(b_utimens(b, "/f", T_OMIT, 0));
	R(b_utimens(b, "/nope/x", T_OMIT, 0));
	R(b_utimens(b, "/f", T_BAD, 0));
	R(b_utimens(b, "/nope", T_BAD, 0));
	R(b_utimens(b, "/nope", NULL, 0));
	R(b_utimens(b, "/nope/x", T1, 0));
	R(b_utimens(b, "/dangling", NULL, 0));
	R(b_utimens(b, "/loop", T1, 0));
	R(b_utimens(b, "/f/", T1, 0));
}

static void utimens_nobody(struct be *b)
{
	R(b_utimens(b, "/f", T1, 0));
	R(b_utimens(b, "/pubfile", T1, 0));
	as_nobody(b);
	R(b_utimens(b, "/f", NULL, 0));
	R(b_utimens(b, "/f", T1, 0));
	R(b_utimens(b, "/f", T_OMIT_A, 0));
	R(b_utimens(b, "/mine", T1, 0));
	R(b_utimens(b, "/pubfile", NULL, 0));
	R(b_utimens(b, "/pubfile", T_OMIT_A, 0));
	R(b_utimens(b, "/priv/f", NULL, 0));
	as_root(b);
	ST(b, "/mine", 0);
	ST(b, "/f", 0);
}

/* ---- statfs ---------------------------------------------------------------------- */

static void statfs_paths(struct be *b)
{
	static const char *const p[] = { "/", "/d", "/f", "/lf", "/nope", "/dangling", "/f/",
					  "/d/..", "/loop", "/fifo" };

	for (size_t i = 0; i < sizeof p / sizeof *p; i++)
		SF(b, p[i]);
}

/* ---- extended attributes ---------------------------------------------------------- */

static void xattr_basic(struct be *b)
{
	R(b_setxattr(b, "/f", "user.a", "1", 1, 0, 0));
	XG(b, "/f", "user.a", 100, 0);
	XG(b, "/f", "user.a", 0, 0);
	XG(b, "/f", "user.nope", 100, 0);
	XL(b, "/f", 1000, 0);
	XL(b, "/f", 0, 0);
	R(b_setxattr(b, "/f", "user.b", "two", 3, XATTR_CREATE, 0));
	R(b_setxattr(b, "/f", "user.a", "x", 1, XATTR_CREATE, 0));
	R(b_setxattr(b, "/f", "user.c", "x", 1, XATTR_REPLACE, 0));
	R(b_setxattr(b, "/f", "user.a", "one", 3, XATTR_REPLACE, 0));
	XG(b, "/f", "user.a", 100, 0);
	XL(b, "/f", 1000, NF);
	R(b_removexattr(b, "/f", "user.a", 0));
	R(b_removexattr(b, "/f", "user.a", 0));
	XL(b, "/f", 1000, 0);
	R(b_setxattr(b, "/d", "user.dir", "D", 1, 0, 0));
	XG(b, "/d/sub/..", "user.dir", 10, 0);
	XG(b, "/ld", "user.dir", 10, 0);
	XG(b, "/ld/", "user.dir", 10, NF);
	R(b_setxattr(b, "/", "user.root", "R", 1, 0, 0));
	XG(b, "/", "user.root", 10, NF);
	XG(b, "/d/..", "user.root", 10, 0);
	XL(b, "/", 1000, 0);
}

static void xattr_sizes(struct be *b)
{
	char *big = calloc(1, 70000);

	R(b_setxattr(b, "/f", "user.a", "0123456789", 10, 0, 0));
	XG(b, "/f", "user.a", 1, 0);
	XG(b, "/f", "user.a", 10, 0);
	XG(b, "/f", "user.a", 9, 0);
	XL(b, "/f", 3, 0);
	R(b_setxattr(b, "/f", "user.empty", "", 0, 0, 0));
	XG(b, "/f", "user.empty", 10, 0);
	XG(b, "/f", "user.empty", 0, 0);
	memset(big, 'v', 70000);
	R(b_setxattr(b, "/f", "user.big", big, 65537, 0, 0));
	R(b_setxattr(b, "/nope", "user.big", big, 65537, 0, 0));
	R(b_setxattr(b, "/f", "user.b1k", big, 1000, 0, 0));
	XG(b, "/f", "user.b1k", 70000, 0);
	R(b_setxattr(b, "/f", "user.b64k", big, 65536, 0, 0));
	XG(b, "/f", "user.b64k", 70000, 0);
	free(big);
}

static void xattr_symlinks(struct be *b)
{
	R(b_setxattr(b, "/lf", "user.x", "via", 3, 0, 0));
	XG(b, "/f", "user.x", 100, 0);
	XG(b, "/lf", "user.x", 100, 0);
	XG(b, "/lf", "user.x", 100, NF);
	R(b_setxattr(b, "/lf", "user.y", "no", 2, 0, NF));
	R(b_setxattr(b, "/lchain", "user.z", "chain", 5, 0, 0));
	XL(b, "/f", 1000, 0);
	XL(b, "/lf", 1000, NF);
	XL(b, "/lf", 1000, 0);
	R(b_removexattr(b, "/lf", "user.x", 0));
	R(b_removexattr(b, "/lf", "user.z", NF));
	XL(b, "/f", 1000, 0);
	R(b_setxattr(b, "/dangling", "user.x", "x", 1, 0, 0));
	XG(b, "/dangling", "user.x", 10, 0);
	XL(b, "/dangling", 100, 0);
	XL(b, "/dangling", 100, NF);
	R(b_setxattr(b, "/loop", "user.x", "x", 1, 0, 0));
}

static void xattr_trusted_symlink(struct be *b)
{
	R(b_setxattr(b, "/lf", "trusted.t", "T", 1, 0, NF));
	XG(b, "/lf", "trusted.t", 10, NF);
	XG(b, "/lf", "trusted.t", 10, 0);
	XL(b, "/lf", 1000, NF);
	XL(b, "/f", 1000, 0);
	R(b_setxattr(b, "/lf", "trusted.u", "U", 1, 0, 0));
	XL(b, "/f", 1000, 0);
	R(b_removexattr(b, "/lf", "trusted.t", NF));
	XL(b, "/lf", 1000, NF);
	R(b_setxattr(b, "/dangling", "trusted.d", "D", 1, 0, NF));
	XG(b, "/dangling", "trusted.d", 10, NF);
}

static void xattr_errors(struct be *b)
{
	char name[300];

	memcpy(name, "user.", 5);
	memset(name + 5, 'n', sizeof name - 5);
	name[255] = '\0';	/* 255 bytes: the longest */
	R(b_setxattr(b, "/f", name, "v", 1, 0, 0));
	XG(b, "/f", name, 10, 0);
	name[255] = 'n';
	name[256] = '\0';
	R(b_setxattr(b, "/f", name, "v", 1, 0, 0));
	XG(b, "/f", name, 10, 0);
	R(b_removexattr(b, "/f", name, 0));
	R(b_setxattr(b, "/nope", name, "v", 1, 0, 0));
	XG(b, "/nope", "", 10, 0);
	XG(b, "/f", "", 10, 0);
	R(b_setxattr(b, "/f", "", "v", 1, 0, 0));
	R(b_removexattr(b, "/nope", "", 0));
	R(b_setxattr(b, "/f", "user.a", "v", 1, 4, 0));
	R(b_setxattr(b, "/nope", "user.a", "v", 1, 4, 0));
	R(b_setxattr(b, "/f", "user.a", "v", 1, XATTR_CREATE | XATTR_REPLACE, 0));
	R(b_setxattr(b, "/f", "foo.bar", "v", 1, 0, 0));
	R(b_setxattr(b, "/f", "user", "v", 1, 0, 0));
	R(b_setxattr(b, "/f", "user.", "v", 1, 0, 0));
	XG(b, "/f", "foo.bar", 10, 0);
	R(b_removexattr(b, "/f", "foo.bar", 0));
	XG(b, "/nope", "user.a", 10, 0);
	XL(b, "/nope", 100, 0);
	R(b_removexattr(b, "/nope", "user.a", 0));
	XG(b, "/f/", "user.a", 10, 0);
	XL(b, "/f/", 100, NF);
	XG(b, "/nope/x", "user.a", 10, NF);
	R(b_setxattr(b, "/fifo", "user.a", "v", 1, 0, 0));
	XG(b, "/fifo", "user.a", 10, 0);
	R(b_setxattr(b, "/sock", "user.a", "v", 1, 0, NF));
}

static void xattr_nobody(struct be *b)
{
	R(b_setxattr(b, "/f", "user.a", "1", 1, 0, 0));
	R(b_setxattr(b, "/secret", "user.a", "1", 1, 0, 0));
	R(b_setxattr(b, "/mine", "user.a", "1", 1, 0, 0));
	as_nobody(b);
	R(b_setxattr(b, "/f", "user.b", "2", 1, 0, 0));
	R(b_setxattr(b, "/mine", "user.b", "2", 1, 0, 0));
	R(b_setxattr(b, "/pubfile", "user.b", "2", 1, 0, 0));
	XG(b, "/f", "user.a", 10, 0);
	XG(b, "/secret", "user.a", 10, 0);
	XG(b, "/priv/f", "user.a", 10, 0);
	XL(b, "/secret", 100, 0);
	R(b_removexattr(b, "/f", "user.a", 0));
	R(b_removexattr(b, "/mine", "user.a", 0));
	R(b_setxattr(b, "/f", "trusted.t", "2", 1, 0, 0));
	as_root(b);
	XL(b, "/mine", 100, 0);
	XL(b, "/pubfile", 100, 0);
}

/* ---- open and file I/O ------------------------------------------------------------- */

static void open_read(struct be *b)
{
	long h;

	R(h = b_open(b, "/f", O_RDONLY, 0));
	RD(b, h, 100, 0);
	RD(b, h, 5, 3);
	RD(b, h, 10, 100);
	RD(b, h, 0, 0);
	RD(b, h, 4, -1);
	RD(b, h, 4, -1);
	RD(b, h, 100, -1);
	RD(b, h, 100, -1);
	FS(b, h);
	R(b_write(b, h, "x", 1, 0));
	R(b_close(b, h));
	R(h = b_open(b, "/lchain", O_RDONLY | O_NOCTTY | O_NONBLOCK | O_NOATIME, 0));
	RD(b, h, 100, 0);
	R(b_close(b, h));
}

static void open_write(struct be *b)
{
	long h;

	R(h = b_open(b, "/f", O_WRONLY, 0));
	R(b_write(b, h, "XY", 2, 1));
	R(b_write(b, h, "tail", 4, 20));
	R(b_write(b, h, "", 0, 30));
	FS(b, h);
	RD(b, h, 10, 0);
	R(b_write(b, h, "seq", 3, -1));
	R(b_write(b, h, "uential", 7, -1));
	R(b_close(b, h));
	C(b, "/f");
	S(b, "/f", 0);
	R(h = b_open(b, "/f", O_RDWR, 0));
	R(b_write(b, h, "rw", 2, 5));
	RD(b, h, 100, 0);
	R(b_close(b, h));
	C(b, "/f");
}

static void open_creat(struct be *b)
{
	long h;

	R(h = b_open(b, "/n", O_CREAT | O_EXCL | O_WRONLY, 0640));
	FS(b, h);
	R(b_close(b, h));
	S(b, "/n", 0);
	R(b_open(b, "/n", O_CREAT | O_EXCL | O_WRONLY, 0640));
	R(h = b_open(b, "/f", O_CREAT | O_RDONLY, 0600));
	R(b_close(b, h));
	S(b, "/f", 0);
	R(b_open(b, "/nope/x", O_CREAT | O_WRONLY, 0644));
	R(b_open(b, "/d", O_CREAT | O_RDONLY, 0644));
	R(b_open(b, "/", O_CREAT | O_RDONLY, 0644));
	R(h = b_open(b, "/junk", O_CREAT | O_WRONLY, 0170644));
	R(b_close(b, h));
	S(b, "/junk", 0);
	R(h = b_open(b, "/setid", O_CREAT | O_WRONLY, 07777));
	R(b_close(b, h));
	S(b, "/setid", 0);
	R(b_open(b, "/lf", O_CREAT | O_EXCL | O_WRONLY, 0644));
	R(b_open(b, "/dangling", O_CREAT | O_EXCL | O_WRONLY, 0644));
	R(h = b_open(b, "/dangling", O_CREAT | O_WRONLY, 0604));
	R(b_close(b, h));
	S(b, "/nowhere", 0);
	R(b_open(b, "/new/", O_CREAT | O_WRONLY, 0644));
	R(b_open(b, "/f/x", O_CREAT | O_WRONLY, 0644));
	R(h = b_open(b, "/ld/created", O_CREAT | O_RDWR, 0644));
	R(b_close(b, h));
	S(b, "/d/created", 0);
	R(h = b_open(b, "/d/../top", O_CREAT | O_RDWR, 0644));
	R(b_close(b, h));
	L(b, "/");
}

static void open_trunc(struct be *b)
{
	long h;

	R(h = b_open(b, "/f", O_TRUNC | O_WRONLY, 0));
	FS(b, h);
	R(b_close(b, h));
	R(h = b_open(b, "/exec", O_TRUNC | O_RDONLY, 0));
	FS(b, h);
	R(b_close(b, h));
	R(h = b_open(b, "/lf", O_TRUNC | O_RDWR | O_CREAT, 0600));
	R(b_close(b, h));
	R(b_open(b, "/d", O_TRUNC | O_RDONLY, 0));
	R(h = b_open(b, "/fifo", O_TRUNC | O_RDONLY | O_NONBLOCK, 0));
	R(b_close(b, h));
	S(b, "/f", 0);
	S(b, "/exec", 0);
}

static void open_errors(struct be *b)
{
	long h;

	R(b_open(b, "/nope", O_RDONLY, 0));
	R(b_open(b, "/d", O_WRONLY, 0));
	R(b_open(b, "/d", O_RDWR, 0));
	R(b_open(b, "/f", O_RDONLY | O_DIRECTORY, 0));
	R(b_open(b, "/lf", O_RDONLY | O_NOFOLLOW, 0));
	R(b_open(b, "/ld", O_RDONLY | O_NOFOLLOW | O_DIRECTORY, 0));
	R(b_open(b, "/loop", O_RDONLY, 0));
	R(b_open(b, "/n", O_CREAT | O_DIRECTORY | O_RDONLY, 0644));
	R(b_open(b, "/f/", O_RDONLY, 0));
	R(b_open(b, "/lf/", O_RDONLY, 0));
	R(b_open(b, "/fifo", O_WRONLY | O_NONBLOCK, 0));
	R(b_open(b, "/sock", O_RDONLY, 0));
	R(b_open(b, "/f", O_TMPFILE | O_RDWR, 0600));
	R(b_open(b, "/d", O_TMPFILE | O_RDONLY, 0600));
	R(b_open(b, "/dangling", O_RDONLY, 0));
	R(b_open(b, "/dangling", O_RDONLY | O_CREAT | O_NOFOLLOW, 0644));
	R(h = b_open(b, "/f", O_RDONLY | 0x40000000, 0));
	R(b_close(b, h));
	R(h = b_open(b, "/f", O_RDONLY, 0644));
	R(b_close(b, h));
	R(h = b_open(b, "/f", 3, 0));	/* O_ACCMODE: neither read nor write */
	RD(b, h, 5, 0);
	R(b_close(b, h));
}

static void open_append(struct be *b)
{
	long h;

	R(h = b_open(b, "/f", O_WRONLY | O_APPEND, 0));
	R(b_write(b, h, "A", 1, 0));
	R(b_write(b, h, "BC", 2, 0));
	R(b_write(b, h, "D", 1, -1));
	FS(b, h);
	R(b_close(b, h));
	C(b, "/f");
	R(h = b_open(b, "/new", O_RDWR | O_APPEND | O_CREAT, 0644));
	R(b_write(b, h, "first", 5, 3));
	R(b_write(b, h, "second", 6, 0));
	RD(b, h, 100, 0);
	R(b_close(b, h));
	C(b, "/new");
}

static void open_directory_handle(struct be *b)
{
	long h;

	R(h = b_open(b, "/d", O_RDONLY | O_DIRECTORY, 0));
	FS(b, h);
	RD(b, h, 10, 0);
	R(b_write(b, h, "x", 1, 0));
	LH(b, h);
	LH(b, h);
	R(b_close(b, h));
	R(h = b_open(b, "/", O_RDONLY, 0));
	FS(b, h);
	LH(b, h);
	R(b_close(b, h));
	R(h = b_open(b, "/ld/", O_RDONLY, 0));
	LH(b, h);
	R(b_close(b, h));
}

static void open_path(struct be *b)
{
	long h;

	R(h = b_open(b, "/f", O_PATH, 0));
	FS(b, h);
	RD(b, h, 10, 0);
	R(b_close(b, h));
	R(h = b_open(b, "/lf", O_PATH | O_NOFOLLOW, 0));
	FS(b, h);
	R(b_close(b, h));
	R(h = b_open(b, "/d", O_PATH | O_DIRECTORY, 0));
	FS(b, h);
	LH(b, h);
	R(b_close(b, h));
	R(b_open(b, "/nope", O_PATH | O_CREAT, 0644));
	R(h = b_open(b, "/f", O_PATH | O_WRONLY | O_TRUNC, 0));
	R(b_close(b, h));
	S(b, "/f", 0);
	R(h = b_open(b, "/fifo", O_PATH, 0));
	FS(b, h);
	R(b_close(b, h));
}

static void open_tmpfile(struct be *b)
{
	long h;

	R(h = b_open(b, "/d", O_TMPFILE | O_RDWR, 0600));
	R(b_write(b, h, "temporary", 9, 0));
	FS(b, h);
	RD(b, h, 100, 2);
	R(b_close(b, h));
	R(h = b_open(b, "/", O_TMPFILE | O_WRONLY, 0640));
	FS(b, h);
	R(b_close(b, h));
	L(b, "/d");
	L(b, "/");
}

static void open_fifo(struct be *b)
{
	long r, w;

	R(r = b_open(b, "/fifo", O_RDONLY | O_NONBLOCK, 0));
	RD(b, r, 10, -1);
	R(w = b_open(b, "/fifo", O_WRONLY | O_NONBLOCK, 0));
	R(b_write(b, w, "through", 7, -1));
	R(b_write(b, w, "x", 1, 0));
	RD(b, r, 3, -1);
	RD(b, r, 10, -1);
	RD(b, r, 10, -1);
	FS(b, w);
	R(b_close(b, w));
	RD(b, r, 10, -1);
	R(b_close(b, r));
	R(w = b_open(b, "/fifo", O_RDWR | O_APPEND, 0));
	R(b_write(b, w, "ab", 2, -1));
	RD(b, w, 10, -1);
	R(b_close(b, w));
}

static void prep_dev(int d)
{
	prep_std(d);
	if (mknodat(d, "null", S_IFCHR | 0666, makedev(1, 3)) ||
	    mknodat(d, "zero", S_IFCHR | 0666, makedev(1, 5)))
		fail_msg("prep: mknod: %s", strerror(errno));
}

static void open_devices(struct be *b)
{
	long h;

	R(h = b_open(b, "/null", O_RDWR, 0));
	R(b_write(b, h, "gone", 4, -1));
	RD(b, h, 10, -1);
	FS(b, h);
	R(b_close(b, h));
	R(h = b_open(b, "/zero", O_RDONLY, 0));
	RD(b, h, 16, -1);
	RD(b, h, 16, 4096);
	R(b_close(b, h));
	S(b, "/zero", 0);
}

static void io_ftruncate(struct be *b)
{
	long h, ro;

	R(h = b_open(b, "/f", O_RDWR, 0));
	R(b_ftruncate(b, h, 3));
	FS(b, h);
	RD(b, h, 100, 0);
	R(b_ftruncate(b, h, 10000));
	FS(b, h);
	RD(b, h, 20, 0);
	R(b_ftruncate(b, h, -1));
	R(b_ftruncate(b, h, 0));
	FS(b, h);
	R(b_close(b, h));
	R(ro = b_open(b, "/exec", O_RDONLY, 0));
	R(b_ftruncate(b, ro, 1));
	R(b_close(b, ro));
	R(h = b_open(b, "/d", O_RDONLY, 0));
	R(b_ftruncate(b, h, 1));
	R(b_close(b, h));
	S(b, "/exec", 0);
}

static void io_fsync(struct be *b)
{
	long h;

	R(h = b_open(b, "/f", O_RDWR, 0));
	R(b_write(b, h, "sync", 4, 0));
	R(b_fsync(b, h, 0));
	R(b_fsync(b, h, 1));
	R(b_close(b, h));
	R(h = b_open(b, "/exec", O_RDONLY, 0));
	R(b_fsync(b, h, 0));
	R(b_fsync(b, h, 1));
	R(b_close(b, h));
	R(h = b_open(b, "/d", O_RDONLY | O_DIRECTORY, 0));
	R(b_fsync(b, h, 0));
	R(b_close(b, h));
	C(b, "/f");
}

static void io_fallocate(struct be *b)
{
	char buf[8192];
	long h;

	R(h = b_open(b, "/n", O_RDWR | O_CREAT, 0644));
	R(b_fallocate(b, h, 0, 0, 65536));
	FS(b, h);
	R(b_fallocate(b, h, FALLOC_FL_KEEP_SIZE, 65536, 65536));
	FS(b, h);
	memset(buf, 'x', sizeof buf);
	R(b_write(b, h, buf, sizeof buf, 0));
	R(b_write(b, h, buf, sizeof buf, 16384));
	R(b_fallocate(b, h, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, 4096, 4096));
	RD(b, h, 8192, 0);
	FS(b, h);
	R(b_fallocate(b, h, FALLOC_FL_PUNCH_HOLE, 0, 4096));
	R(b_fallocate(b, h, 0x4000, 0, 4096));
	R(b_fallocate(b, h, 0, 0, 0));
	R(b_fallocate(b, h, 0, -1, 10));
	R(b_fallocate(b, h, FALLOC_FL_ZERO_RANGE, 16384, 100));
	RD(b, h, 200, 16300);
	R(b_close(b, h));
	R(h = b_open(b, "/f", O_RDONLY, 0));
	R(b_fallocate(b, h, 0, 0, 4096));
	R(b_close(b, h));
	S(b, "/n", 0);
}

static void io_seek_data(struct be *b)
{
	char buf[4096];
	long h;
	static const off_t offs[] = { 0, 1, 4095, 4096, 8192, 1 << 20, (1 << 20) + 4095,
				      (1 << 20) + 4096, (1 << 20) + 8192, 1 << 21, -1 };

	R(h = b_open(b, "/sparse", O_RDWR | O_CREAT, 0644));
	memset(buf, 'a', sizeof buf);
	R(b_write(b, h, buf, sizeof buf, 0));
	R(b_write(b, h, buf, sizeof buf, 1 << 20));
	R(b_ftruncate(b, h, (1 << 20) + 8192));
	for (size_t i = 0; i < sizeof offs / sizeof *offs; i++) {
		R(b_seek(b, h, offs[i], SEEK_DATA));
		R(b_seek(b, h, offs[i], SEEK_HOLE));
	}
	R(b_fsync(b, h, 0));
	for (size_t i = 0; i < sizeof offs / sizeof *offs; i++) {
		R(b_seek(b, h, offs[i], SEEK_DATA));
		R(b_seek(b, h, offs[i], SEEK_HOLE));
	}
	R(b_close(b, h));
	R(h = b_open(b, "/empty", O_RDONLY, 0));
	R(b_seek(b, h, 0, SEEK_DATA));
	R(b_seek(b, h, 0, SEEK_HOLE));
	R(b_close(b, h));
}

static void io_large(struct be *b)
{
	const size_t chunk = 256 * 1024;
	unsigned char *buf = malloc(chunk);
	long h;

	R(h = b_open(b, "/big", O_RDWR | O_CREAT | O_EXCL, 0644));
	for (int i = 0; i < 4; i++) {
		for (size_t j = 0; j < chunk; j++)
			buf[j] = (unsigned char)(j * 131 + (size_t)i * 7 + j / 4099);
		R(b_write(b, h, buf, chunk, 7 + (off_t)(i * chunk)));
	}
	FS(b, h);
	RD(b, h, 100000, 0);
	RD(b, h, 333333, 100000);
	RD(b, h, 1 << 20, 433333);
	RD(b, h, 1 << 20, 1 << 20);
	R(b_close(b, h));
	C(b, "/big");
	free(buf);
}

static void io_unlinked(struct be *b)
{
	long h;

	R(h = b_open(b, "/f", O_RDWR, 0));
	R(b_unlink(b, "/f"));
	R(b_write(b, h, "still here", 10, 20));
	FS(b, h);
	RD(b, h, 100, 0);
	R(b_ftruncate(b, h, 5));
	FS(b, h);
	R(b_close(b, h));
	S(b, "/f", 0);
	L(b, "/");
}

static void io_two_handles(struct be *b)
{
	long w, r;

	R(w = b_open(b, "/f", O_WRONLY, 0));
	R(r = b_open(b, "/f", O_RDONLY, 0));
	R(b_write(b, w, "HELLO", 5, 0));
	RD(b, r, 100, 0);
	R(b_ftruncate(b, w, 2));
	RD(b, r, 100, 0);
	FS(b, r);
	R(b_close(b, w));
	RD(b, r, 100, 0);
	R(b_close(b, r));
}

static void io_errors(struct be *b)
{
	char buf[16];
	long h;

	R(h = b_open(b, "/f", O_RDONLY, 0));
	R(b_write(b, h, "x", 1, 0));
	R(b_read(b, h, buf, sizeof buf, -5));
	R(b_fallocate(b, h, 0, 0, 1));
	R(b_close(b, h));
	R(h = b_open(b, "/f", O_WRONLY, 0));
	R(b_read(b, h, buf, sizeof buf, 0));
	R(b_write(b, h, "x", 1, -5));
	R(b_write(b, h, "x", 1, (off_t)1 << 62));
	R(b_write(b, h, "big", 3, ((off_t)1 << 40) + 1));
	FS(b, h);
	R(b_seek(b, h, 0, SEEK_HOLE));
	R(b_seek(b, h, -1, SEEK_DATA));
	R(b_ftruncate(b, h, 0));
	R(b_close(b, h));
	S(b, "/f", 0);
}

static void open_nobody(struct be *b)
{
	long h;

	as_nobody(b);
	R(b_open(b, "/secret", O_RDONLY, 0));
	R(b_open(b, "/f", O_WRONLY, 0));
	R(b_open(b, "/f", O_RDONLY | O_TRUNC, 0));
	R(b_open(b, "/x", O_CREAT | O_WRONLY, 0644));
	R(b_open(b, "/priv/f", O_RDONLY, 0));
	R(b_open(b, "/exec", O_RDWR, 0));
	R(h = b_open(b, "/pub/mine", O_CREAT | O_WRONLY, 0640));
	R(b_write(b, h, "n", 1, 0));
	R(b_close(b, h));
	R(h = b_open(b, "/pubfile", O_RDWR, 0));
	R(b_write(b, h, "w", 1, 0));
	R(b_close(b, h));
	R(h = b_open(b, "/f", O_RDONLY | O_NOATIME, 0));	/* not the owner: EPERM */
	R(b_close(b, h));
	R(h = b_open(b, "/mine", O_RDONLY | O_NOATIME, 0));
	R(b_close(b, h));
	R(b_open(b, "/sticky/rootfile", O_RDWR | O_CREAT, 0666));
	R(h = b_open(b, "/priv", O_PATH, 0));
	R(b_close(b, h));
	as_root(b);
	S(b, "/pub/mine", 0);
	L(b, "/pub");
}

static void open_through_symlinks(struct be *b)
{
	long h;

	R(h = b_open(b, "/ld/g", O_RDONLY, 0));
	RD(b, h, 100, 0);
	R(b_close(b, h));
	R(h = b_open(b, "/d/up", O_RDONLY, 0));
	RD(b, h, 100, 0);
	R(b_close(b, h));
	R(h = b_open(b, "/ld/lsub/deep", O_RDWR, 0));
	R(b_write(b, h, "D", 1, 0));
	R(b_close(b, h));
	C(b, "/d/sub/deep");
	R(h = b_open(b, "/ld/../lf", O_RDONLY, 0));
	RD(b, h, 5, 0);
	R(b_close(b, h));
}

/* ---- readdir -------------------------------------------------------------------------- */

static void readdir_basic(struct be *b)
{
	static const char *const p[] = { "/", "/d", "/d/sub", "/empty_dir", "/ld", "/d/..",
					  "/d/lsub", "/ld/", "/d/./sub/", "/priv", "/sticky" };

	for (size_t i = 0; i < sizeof p / sizeof *p; i++)
		L(b, p[i]);
}

static void readdir_errors(struct be *b)
{
	static const char *const p[] = { "/f", "/nope", "/dangling", "/loop", "/lf", "/fifo",
					  "/f/", "/nope/x" };

	for (size_t i = 0; i < sizeof p / sizeof *p; i++)
		L(b, p[i]);
	as_nobody(b);
	L(b, "/priv");
	L(b, "/d");
	as_root(b);
}

static void prep_many(int d)
{
	char name[300];

	mkd(d, "big", 0755);
	for (int i = 0; i < 600; i++) {
		int len = snprintf(name, sizeof name, "big/%d-", i);

		/* names of 3 to 240 bytes, so entries vary in size */
		memset(name + len, 'x', (size_t)(i * 37 % 238));
		name[len + i * 37 % 238] = '\0';
		if (i % 5 == 0)
			mkd(d, name, 0755);
		else if (i % 7 == 0)
			sym(d, "target", name);
		else
			put(d, name, "", 0644);
	}
}

static void readdir_many(struct be *b)
{
	L(b, "/big");
	LP(b, "/big", 1);
	LP(b, "/big", 7);
	LP(b, "/big", 100);
	LP(b, "/big", 1000);
	S(b, "/big", 0);
}

static void readdir_changes(struct be *b)
{
	long h;

	R(h = b_open(b, "/d", O_RDONLY | O_DIRECTORY, 0));
	LH(b, h);
	R(b_mkdir(b, "/d/n", 0755));
	R(b_unlink(b, "/d/g"));
	LH(b, h);
	R(b_rename(b, "/d", "/d2", 0));
	LH(b, h);
	R(b_close(b, h));
	L(b, "/d2");
}

static void readdir_removed(struct be *b)
{
	long h, d;

	R(h = b_open(b, "/empty_dir", O_RDONLY | O_DIRECTORY, 0));
	R(d = b_opendir(b, "/d/sub"));
	R(b_unlink(b, "/d/sub/deep"));
	R(b_rmdir(b, "/d/sub"));
	R(b_rmdir(b, "/empty_dir"));
	LH(b, h);
	LH(b, d);
	FS(b, h);
	R(b_close(b, h));
	R(b_close(b, d));
}

static void prep_types(int d)
{
	prep_std(d);
	if (mknodat(d, "chr", S_IFCHR | 0600, makedev(1, 3)) ||
	    mknodat(d, "blk", S_IFBLK | 0600, makedev(7, 0)))
		fail_msg("prep: mknod: %s", strerror(errno));
}

static void readdir_types(struct be *b)
{
	L(b, "/");
	S(b, "/chr", 0);
	S(b, "/blk", 0);
}

/* ---- paths ------------------------------------------------------------------------------ */

static void path_dotdot_inside(struct be *b)
{
	S(b, "/d/../f", 0);
	R(b_mkdir(b, "/d/../n", 0755));
	R(b_unlink(b, "/d/sub/../g"));
	R(b_rename(b, "/d/../f", "/d/sub/../f2", 0));
	R(b_link(b, "/d/sub/../../f2", "/d/sub/../../f3"));
	R(b_symlink(b, "target", "/n/../d/s"));
	R(b_chmod(b, "/n/../f2", 0600, 0));
	R(b_rmdir(b, "/d/sub/../../n"));
	S(b, "/f2", 0);
	L(b, "/");
	L(b, "/d");
}

static void path_symlinked_parents(struct be *b)
{
	R(b_mkdir(b, "/ld/new", 0755));
	S(b, "/ld/new", 0);
	R(b_unlink(b, "/ld/g"));
	R(b_rename(b, "/ld/new", "/ld/new2", 0));
	R(b_chmod(b, "/ld/sub", 0700, 0));
	R(b_link(b, "/ld/sub/deep", "/ld/h"));
	R(b_symlink(b, "x", "/d/lsub/s"));
	R(b_mknod(b, "/ld/lsub/p", S_IFIFO | 0600, 0));
	R(b_rmdir(b, "/ld/new2"));
	R(b_unlink(b, "/d/lsub/s"));
	R(b_mkdir(b, "/lf/x", 0755));
	R(b_mkdir(b, "/loop/x", 0755));
	L(b, "/d");
	L(b, "/d/sub");
}

static void path_odd_names(struct be *b)
{
	static const char *const names[] = { "/with space", "/new\nline", "/tab\there",
					     "/-dash", "/\xc3\xa9t\xc3\xa9", "/\x01\x7f\xff",
					     "/...", "/.hidden", "/a:b", "/back\\slash" };
	long h;

	for (size_t i = 0; i < sizeof names / sizeof *names; i++) {
		R(h = b_open(b, names[i], O_CREAT | O_WRONLY, 0644));
		R(b_write(b, h, names[i], strlen(names[i]), 0));
		R(b_close(b, h));
		S(b, names[i], 0);
		C(b, names[i]);
	}
	R(b_mkdir(b, "/dir with space", 0755));
	R(b_rename(b, "/with space", "/dir with space/x y", 0));
	L(b, "/");
	L(b, "/dir with space");
}

/* ---- permissions ------------------------------------------------------------------------ */

static void perm_search(struct be *b)
{
	as_nobody(b);
	S(b, "/priv/f", 0);
	S(b, "/priv", 0);
	R(b_mkdir(b, "/priv/x", 0755));
	R(b_unlink(b, "/priv/f"));
	R(b_rename(b, "/priv/f", "/pub/f", 0));
	R(b_symlink(b, "x", "/priv/s"));
	RL(b, "/priv/s", 10);
	R(b_mkdir(b, "/x", 0755));
	R(b_unlink(b, "/f"));
	R(b_rmdir(b, "/empty_dir"));
	R(b_mkdir(b, "/pub/x", 0755));
	R(b_rename(b, "/pub/x", "/pub/y", 0));
	R(b_rmdir(b, "/pub/y"));
	as_root(b);
	L(b, "/pub");
	L(b, "/priv");
}

static void perm_sticky(struct be *b)
{
	long h;

	as_nobody(b);
	R(b_unlink(b, "/sticky/rootfile"));
	R(b_rename(b, "/sticky/rootfile", "/sticky/x", 0));
	R(h = b_open(b, "/sticky/mine", O_CREAT | O_WRONLY, 0644));
	R(b_close(b, h));
	R(b_rename(b, "/sticky/mine", "/sticky/rootfile", 0));
	R(b_rename(b, "/sticky/mine", "/sticky/mine2", 0));
	R(b_unlink(b, "/sticky/mine2"));
	as_root(b);
	L(b, "/sticky");
}

/* ---- the root itself, against a chroot ----------------------------------------------------- */

static void root_names(struct be *b)
{
	long h;

	R(b_rmdir(b, "/"));
	R(b_mkdir(b, "/", 0755));
	R(b_unlink(b, "/"));
	R(b_rename(b, "/", "/x", 0));
	R(b_rename(b, "/f", "/", 0));
	R(b_rename(b, "/f", "/", RENAME_NOREPLACE));
	R(b_link(b, "/f", "/"));
	R(b_link(b, "/", "/x"));
	R(b_symlink(b, "x", "/"));
	R(b_mknod(b, "/", S_IFREG | 0644, 0));
	RL(b, "/", 100);
	S(b, "/", 0);
	R(b_chmod(b, "/", 0750, 0));
	S(b, "/", NF);
	R(b_truncate(b, "/", 0));
	R(b_access(b, "/", R_OK | X_OK, 0));
	R(b_open(b, "/", O_WRONLY, 0));
	R(b_open(b, "/", O_CREAT | O_RDONLY, 0644));
	R(h = b_open(b, "/", O_RDONLY | O_DIRECTORY, 0));
	LH(b, h);
	R(b_close(b, h));
	L(b, "/");
	SF(b, "/");
}

#define CASE(name, prep, flags) { #name, prep, name, flags }

const struct dcase dcases[] = {
	CASE(getattr_regular, prep_std, DC_ROOT),
	CASE(getattr_root, prep_std, 0),
	CASE(getattr_symlinks, prep_std, 0),
	CASE(getattr_missing, prep_std, 0),
	CASE(getattr_trailing_slash, prep_std, 0),
	CASE(getattr_dots, prep_std, 0),
	CASE(getattr_special, prep_std, 0),
	CASE(getattr_long_names, prep_std, 0),
	CASE(getattr_deep, prep_std, 0),
	CASE(access_modes, prep_std, 0),
	CASE(access_nobody, prep_std, DC_ROOT),
	CASE(readlink_basic, prep_std, 0),
	CASE(readlink_errors, prep_std, 0),
	CASE(mkdir_basic, prep_std, 0),
	CASE(mkdir_errors, prep_std, 0),
	CASE(mkdir_trailing_slash, prep_std, 0),
	CASE(mkdir_via_symlinked_parent, prep_std, 0),
	CASE(mknod_types, prep_std, DC_ROOT),
	CASE(mknod_errors, prep_std, 0),
	CASE(unlink_basic, prep_std, 0),
	CASE(unlink_errors, prep_std, 0),
	CASE(rmdir_basic, prep_std, 0),
	CASE(rmdir_errors, prep_std, 0),
	CASE(symlink_basic, prep_std, 0),
	CASE(symlink_errors, prep_std, 0),
	CASE(rename_file, prep_std, 0),
	CASE(rename_over, prep_std, 0),
	CASE(rename_dirs, prep_std, 0),
	CASE(rename_errors, prep_std, 0),
	CASE(rename_flags, prep_std, 0),
	CASE(rename_symlinks, prep_std, 0),
	CASE(link_basic, prep_std, 0),
	CASE(link_errors, prep_std, 0),
	CASE(link_nobody, prep_std, DC_ROOT),
	CASE(chmod_basic, prep_std, 0),
	CASE(chmod_nofollow, prep_std, 0),
	CASE(chmod_nobody, prep_std, DC_ROOT),
	CASE(chown_basic, prep_std, DC_ROOT),
	CASE(chown_clears_setid, prep_std, DC_ROOT),
	CASE(chown_nobody, prep_std, DC_ROOT),
	CASE(truncate_basic, prep_std, 0),
	CASE(truncate_errors, prep_std, 0),
	CASE(truncate_nobody, prep_std, DC_ROOT),
	CASE(utimens_explicit, prep_std, 0),
	CASE(utimens_special, prep_std, 0),
	CASE(utimens_nobody, prep_std, DC_ROOT),
	CASE(statfs_paths, prep_std, 0),
	CASE(xattr_basic, prep_std, 0),
	CASE(xattr_sizes, prep_std, 0),
	CASE(xattr_symlinks, prep_std, 0),
	CASE(xattr_trusted_symlink, prep_std, DC_ROOT),
	CASE(xattr_errors, prep_std, 0),
	CASE(xattr_nobody, prep_std, DC_ROOT),
	CASE(open_read, prep_std, 0),
	CASE(open_write, prep_std, 0),
	CASE(open_creat, prep_std, 0),
	CASE(open_trunc, prep_std, 0),
	CASE(open_errors, prep_std, 0),
	CASE(open_append, prep_std, 0),
	CASE(open_directory_handle, prep_std, 0),
	CASE(open_path, prep_std, 0),
	CASE(open_tmpfile, prep_std, 0),
	CASE(open_fifo, prep_std, 0),
	CASE(open_devices, prep_dev, DC_ROOT),
	CASE(io_ftruncate, prep_std, 0),
	CASE(io_fsync, prep_std, 0),
	CASE(io_fallocate, prep_std, 0),
	CASE(io_seek_data, prep_std, 0),
	CASE(io_large, prep_std, 0),
	CASE(io_unlinked, prep_std, 0),
	CASE(io_two_handles, prep_std, 0),
	CASE(io_errors, prep_std, 0),
	CASE(open_nobody, prep_std, DC_ROOT),
	CASE(open_through_symlinks, prep_std, 0),
	CASE(readdir_basic, prep_std, 0),
	CASE(readdir_errors, prep_std, DC_ROOT),
	CASE(readdir_many, prep_many, 0),
	CASE(readdir_changes, prep_std, 0),
	CASE(readdir_removed, prep_std, 0),
	CASE(readdir_types, prep_types, DC_ROOT),
	CASE(path_dotdot_inside, prep_std, 0),
	CASE(path_symlinked_parents, prep_std, 0),
	CASE(path_odd_names, prep_std, 0),
	CASE(perm_search, prep_std, DC_ROOT),
	CASE(perm_sticky, prep_std, DC_ROOT),
	CASE(root_names, prep_std, DC_ROOT | DC_CHROOT),
};

const size_t n_dcases = sizeof dcases / sizeof *dcases;
