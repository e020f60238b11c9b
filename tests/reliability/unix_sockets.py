#!/usr/bin/env python3
"""Unix sockets whose path is a file in DIR (issue 14, item 3):

    unix_sockets.py unix-sockets DIR

bind, connect, sendto and sendmsg by absolute and relative path, the
sender's name recvfrom and recvmsg give, the
socket file seen by stat, chmod, rename, link, open and unlink, the names
getsockname and getpeername give back, and the errors (in use, missing).
Prints one line per step; run.py compares it natively and through DEFUSE.
Leaves no socket file behind (the tree is compared too).
"""
import os
import socket
import stat
import sys


def main():
    d = sys.argv[2]
    os.chdir(d)
    out = []

    def step(name, f):
        try:
            r = f()
            out.append(f"{name}: ok{'' if r is None else ' ' + repr(r)}")
        except OSError as e:
            out.append(f"{name}: {os.strerror(e.errno)}")

    srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    step("bind by absolute path", lambda: srv.bind(os.path.join(d, "srv.sock")))
    step("getsockname is the path bound",
         lambda: srv.getsockname() == os.path.join(d, "srv.sock"))
    step("listen", lambda: srv.listen(4))
    step("stat says socket", lambda: stat.S_ISSOCK(os.stat("srv.sock").st_mode))
    step("chmod", lambda: os.chmod("srv.sock", 0o600))
    step("mode", lambda: oct(stat.S_IMODE(os.lstat("srv.sock").st_mode)))
    cli = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    step("connect by relative path", lambda: cli.connect("srv.sock"))
    step("getpeername", lambda: cli.getpeername() == os.path.join(d, "srv.sock"))
    conn, _ = srv.accept()
    step("data both ways", lambda: (cli.send(b"ping"), conn.recv(8), conn.send(b"pong"),
                                    cli.recv(8))[1::2])
    step("bind the same path again", lambda: socket.socket(socket.AF_UNIX).bind("srv.sock"))
    step("rename", lambda: os.rename("srv.sock", "moved.sock"))
    step("link", lambda: os.link("moved.sock", "linked.sock"))
    step("open a socket", lambda: os.open("moved.sock", os.O_RDONLY))
    step("connect after rename", lambda: socket.socket(socket.AF_UNIX).connect("moved.sock"))
    step("unlink", lambda: os.unlink("moved.sock"))
    step("unlink the link", lambda: os.unlink("linked.sock"))
    step("connect once unlinked", lambda: socket.socket(socket.AF_UNIX).connect("moved.sock"))
    os.mkdir("sub")
    dg = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    step("datagram bind by relative path", lambda: dg.bind("sub/dg.sock"))
    step("getsockname of a relative bind", lambda: dg.getsockname())
    snd = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    step("sendto", lambda: snd.sendto(b"x", "sub/dg.sock"))
    step("sendmsg", lambda: snd.sendmsg([b"y"], [], 0, os.path.join(d, "sub", "dg.sock")))
    step("recv", lambda: dg.recv(4) + dg.recv(4))
    step("through ..", lambda: snd.sendto(b"z", "sub/../sub/dg.sock"))
    step("recv again", lambda: dg.recv(4))
    named = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    step("a sender bound by relative path", lambda: named.bind("sub/snd.sock"))
    step("its datagram", lambda: named.sendto(b"w", "sub/dg.sock"))
    step("recvfrom names the sender", lambda: dg.recvfrom(4))
    step("its datagram again", lambda: named.sendto(b"v", os.path.join(d, "sub", "dg.sock")))
    step("recvmsg names the sender", lambda: dg.recvmsg(4)[::3])
    named.close()
    os.unlink("sub/snd.sock")
    step("connect to a missing path", lambda: socket.socket(socket.AF_UNIX).connect("none.sock"))
    step("bind in a missing directory", lambda: socket.socket(socket.AF_UNIX).bind("no/x.sock"))
    step("abstract names are no files",
         lambda: socket.socket(socket.AF_UNIX).bind(b"\0defuse-test-%d" % os.getpid()))
    os.unlink("sub/dg.sock")
    os.rmdir("sub")

    # A relative name deep in the tree: short here, longer than an
    # address holds as an absolute (backing) path.
    deep = "/".join(["d" * 60] * 3)
    os.makedirs(deep)
    os.chdir(deep)
    far = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    step("bind deep by relative path", lambda: far.bind("x.sock"))
    step("listen deep", lambda: far.listen(1))
    step("connect deep by relative path",
         lambda: socket.socket(socket.AF_UNIX).connect("x.sock"))
    step("stat deep says socket", lambda: stat.S_ISSOCK(os.stat("x.sock").st_mode))
    step("unlink deep", lambda: os.unlink("x.sock"))
    far.close()
    os.chdir(d)
    os.removedirs(deep)

    # FIFOs: one pipe for every opener, in this process and others.
    step("mkfifo", lambda: os.mkfifo("p.fifo", 0o644))
    step("stat says fifo", lambda: stat.S_ISFIFO(os.stat("p.fifo").st_mode))
    rd = []
    step("open to read, not waiting",
         lambda: rd.append(os.open("p.fifo", os.O_RDONLY | os.O_NONBLOCK)))
    step("open to write, not waiting, a reader there", lambda: os.write(
        os.open("p.fifo", os.O_WRONLY | os.O_NONBLOCK), b"one"))
    step("read what was written", lambda: os.read(rd[0], 8) if rd else None)
    step("open read-write", lambda: os.close(os.open("p.fifo", os.O_RDWR)))
    pid = os.fork()
    if pid == 0:
        fd = os.open("p.fifo", os.O_WRONLY)  # waits for the reader below
        os.write(fd, b"from the child")
        os._exit(0)
    fd = os.open("p.fifo", os.O_RDONLY)
    step("read the child's", lambda: os.read(fd, 32))
    os.waitpid(pid, 0)
    os.close(fd)
    if rd:
        os.close(rd[0])
    step("open to write, not waiting, no reader",
         lambda: os.open("p.fifo", os.O_WRONLY | os.O_NONBLOCK))
    step("rename the fifo", lambda: os.rename("p.fifo", "q.fifo"))
    step("unlink the fifo", lambda: os.unlink("q.fifo"))
    # A FIFO and a socket replaced by rename: their kernel stand-ins (a
    # module with no kernel directories) go with them, as with unlink.
    step("mkfifo two", lambda: (os.mkfifo("r.fifo"), os.mkfifo("s.fifo")))
    step("open the one to be replaced", lambda: os.close(os.open("s.fifo", os.O_RDWR)))
    step("rename a fifo over another", lambda: os.rename("r.fifo", "s.fifo"))
    over = socket.socket(socket.AF_UNIX)
    step("bind a socket to be replaced", lambda: over.bind("t.sock"))
    step("rename a fifo over a socket", lambda: os.rename("s.fifo", "t.sock"))
    over.close()
    step("unlink it", lambda: os.unlink("t.sock"))
    # Removing a symbolic link to a FIFO leaves the FIFO's stand-in: a
    # writer still meets the reader that holds it open.
    step("mkfifo and a symbolic link to it",
         lambda: (os.mkfifo("u.fifo"), os.symlink("u.fifo", "u.link")))
    rd = []
    step("open it to read, not waiting",
         lambda: rd.append(os.open("u.fifo", os.O_RDONLY | os.O_NONBLOCK)))
    step("unlink the symbolic link", lambda: os.unlink("u.link"))
    step("open to write, not waiting, the reader still there",
         lambda: os.close(os.open("u.fifo", os.O_WRONLY | os.O_NONBLOCK)))
    if rd:
        os.close(rd[0])
    step("unlink that fifo", lambda: os.unlink("u.fifo"))
    special = os.environ.get("TEST_SPECIAL_DIR")  # run.py
    step("stand-ins left", lambda: sorted(
        os.listdir(special)) if special and os.path.isdir(special) else [])
    print("\n".join(out))
    print("left:", sorted(os.listdir(".")))
    return 0


if __name__ == "__main__":
    sys.exit(main())
