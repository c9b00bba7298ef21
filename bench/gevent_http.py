"""Python gevent counterpart of examples/http_hello for bench/http.sh.

A raw gevent StreamServer (one greenlet per connection, like libgreen's
serve) answering every HTTP/1.1 keep-alive request with the same fixed
response; pywsgi would measure WSGI overhead rather than the event loop.

    python3 bench/gevent_http.py PORT
"""
import sys

from gevent.server import StreamServer

RESPONSE = (b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n"
            b"Content-Length: 13\r\n\r\nHello, World!")


def handle(sock, _address):
    pending = b""
    while True:
        data = sock.recv(8192)
        if not data:
            return
        pending += data
        answers = pending.count(b"\r\n\r\n")
        if answers:
            pending = pending[pending.rindex(b"\r\n\r\n") + 4:]
            sock.sendall(RESPONSE * answers)
        elif len(pending) > 8192:
            return


def main():
    port = int(sys.argv[1])
    server = StreamServer(("127.0.0.1", port), handle, backlog=1024)
    print("listening on 127.0.0.1:%d" % port, flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
