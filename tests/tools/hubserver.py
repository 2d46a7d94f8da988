#!/usr/bin/env python3
"""A small stand-in for the Hugging Face hub, for tests/40-hub.sh (stdlib only).

Serves the files of a model folder under the hub URL layout
    /ORG/NAME/resolve/REVISION/PATH        (REVISION: main or the commit)
on 127.0.0.1 at a free port (written to --port-file), with X-Repo-Commit and ETag
headers, HEAD, and Range requests (206 / 416).  Options make it behave like the real
hub or like a bad network:
    --lfs PATH      serve PATH as a large file: 302 to /cdn/SHA256 with X-Linked-Etag
                    and X-Linked-Size, as the hub does for files stored outside git
    --token T       answer 401 unless "Authorization: Bearer T" is sent
    --cut PATH      cut the first GET of PATH after half of its body, once
    --chunked PATH  send PATH with Transfer-Encoding: chunked
    --no-commit     leave out X-Repo-Commit
    --tls-cert C --tls-key K   serve https with that certificate
Every request is logged to --log as one JSON line: method, path, range, auth.
"""
import argparse
import hashlib
import http.server
import json
import os
import ssl
import sys

COMMIT = "0123456789abcdef0123456789abcdef01234567"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--root", required=True, help="model folder to serve")
    ap.add_argument("--repo", required=True, help="org/name")
    ap.add_argument("--commit", default=COMMIT)
    ap.add_argument("--port-file", required=True)
    ap.add_argument("--log", required=True)
    ap.add_argument("--token")
    ap.add_argument("--lfs", action="append", default=[])
    ap.add_argument("--cut", action="append", default=[])
    ap.add_argument("--chunked", action="append", default=[])
    ap.add_argument("--no-commit", action="store_true")
    ap.add_argument("--tls-cert")
    ap.add_argument("--tls-key")
    a = ap.parse_args()

    files = {}
    for dirpath, _, names in os.walk(a.root):
        for n in names:
            full = os.path.join(dirpath, n)
            rel = os.path.relpath(full, a.root)
            with open(full, "rb") as f:
                files[rel] = f.read()
    cdn = {hashlib.sha256(files[p]).hexdigest(): p for p in a.lfs if p in files}
    cut_left = set(a.cut)
    log = open(a.log, "a", buffering=1)

    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, fmt, *args):
            pass

        def send(self, code, headers=(), body=b""):
            self.send_response(code)
            for k, v in headers:
                self.send_header(k, v)
            self.send_header("Connection", "close")
            if not any(k.lower() == "content-length" for k, _ in headers):
                self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(body)
            self.close_connection = True

        def serve_bytes(self, path, data, extra):
            size = len(data)
            start = 0
            code = 200
            rng = self.headers.get("Range")
            headers = list(extra)
            if rng:
                if not rng.startswith("bytes=") or not rng.endswith("-"):
                    return self.send(400)
                start = int(rng[6:-1])
                if start >= size:
                    return self.send(416, [("Content-Range", "bytes */%d" % size)])
                code = 206
                headers.append(("Content-Range", "bytes %d-%d/%d" % (start, size - 1, size)))
            body = data[start:]
            self.send_response(code)
            for k, v in headers:
                self.send_header(k, v)
            self.send_header("Connection", "close")
            self.send_header("Accept-Ranges", "bytes")
            chunked = path in a.chunked and self.command == "GET"
            if chunked:
                self.send_header("Transfer-Encoding", "chunked")
            else:
                self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.close_connection = True
            if self.command == "HEAD":
                return
            if path in cut_left:
                cut_left.discard(path)
                self.wfile.write(body[: len(body) // 2])
                self.wfile.flush()
                self.connection.shutdown(2)
                return
            if chunked:
                for k in range(0, len(body), 7):
                    piece = body[k:k + 7]
                    self.wfile.write(b"%x;ext=1\r\n%s\r\n" % (len(piece), piece))
                self.wfile.write(b"0\r\nX-Trailer: 1\r\n\r\n")
            else:
                self.wfile.write(body)

        def handle_any(self):
            auth = self.headers.get("Authorization")
            log.write(json.dumps({"method": self.command, "path": self.path,
                                  "range": self.headers.get("Range"), "auth": auth}) + "\n")
            parts = self.path.split("/", 5)
            if len(parts) == 3 and parts[1] == "cdn" and parts[2] in cdn:
                p = cdn[parts[2]]
                return self.serve_bytes(p, files[p], [("ETag", '"%s"' % parts[2])])
            if a.token and auth != "Bearer " + a.token:
                return self.send(401, [("Content-Type", "text/plain")], b"unauthorized\n")
            if len(parts) < 6 or "/".join(parts[1:3]) != a.repo or parts[3] != "resolve":
                return self.send(404, [], b"no such repository\n")
            rev, path = parts[4], parts[5]
            if rev not in ("main", a.commit) or path not in files:
                return self.send(404, [("X-Error-Code", "EntryNotFound")], b"not found\n")
            data = files[path]
            headers = [] if a.no_commit else [("X-Repo-Commit", a.commit)]
            if path in a.lfs:
                sha = hashlib.sha256(data).hexdigest()
                headers += [("Location", "%s://127.0.0.1:%d/cdn/%s" % (scheme, port, sha)),
                            ("X-Linked-Etag", '"%s"' % sha),
                            ("X-Linked-Size", str(len(data))), ("ETag", '"w-%s"' % sha[:8])]
                return self.send(302, headers)
            headers.append(("ETag", '"%s"' % hashlib.sha1(data).hexdigest()))
            return self.serve_bytes(path, data, headers)

        do_GET = handle_any
        do_HEAD = handle_any

    srv = http.server.HTTPServer(("127.0.0.1", 0), Handler)
    port = srv.server_address[1]
    scheme = "http"
    if a.tls_cert:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(a.tls_cert, a.tls_key)
        srv.socket = ctx.wrap_socket(srv.socket, server_side=True)
        scheme = "https"
    tmp = a.port_file + ".tmp"
    with open(tmp, "w") as f:
        f.write("%d\n" % port)
    os.rename(tmp, a.port_file)
    try:
        srv.serve_forever()
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
