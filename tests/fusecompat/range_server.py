"""
A small HTTP server on loopback for httpfs2's test (fusecompat_test.py,
installed2): GET and HEAD of the files under ROOT, with byte ranges
(httpfs2 reads by Range requests).  Prints its port, then serves until
killed.

    python3 range_server.py ROOT
"""
import http.server
import os
import re
import sys

root = sys.argv[1]


class H(http.server.BaseHTTPRequestHandler):
    protocol_version = 'HTTP/1.1'
    # a reply in one piece, sent at once (headers and body in separate
    # small segments would wait out the client's delayed ACK: 40 ms each)
    wbufsize = 1 << 20
    disable_nagle_algorithm = True

    def log_message(self, *a):
        pass

    def send_file(self, body):
        path = os.path.join(root, self.path.lstrip('/'))
        if not os.path.isfile(path):
            self.send_response(404)
            self.send_header('Content-Length', '0')
            self.end_headers()
            return
        size = os.path.getsize(path)
        m = re.match(r'bytes=(\d+)-(\d*)', self.headers.get('Range', ''))
        start, end = 0, size - 1
        if m:
            start = int(m.group(1))
            end = min(int(m.group(2)) if m.group(2) else size - 1, size - 1)
            self.send_response(206)
            self.send_header('Content-Range', 'bytes %d-%d/%d' % (start, end, size))
        else:
            self.send_response(200)
        self.send_header('Accept-Ranges', 'bytes')
        self.send_header('Content-Length', str(end - start + 1))
        self.end_headers()
        if body:
            with open(path, 'rb') as f:
                f.seek(start)
                self.wfile.write(f.read(end - start + 1))

    def do_GET(self):
        self.send_file(True)

    def do_HEAD(self):
        self.send_file(False)


s = http.server.ThreadingHTTPServer(('127.0.0.1', 0), H)
print(s.server_address[1], flush=True)
s.serve_forever()
