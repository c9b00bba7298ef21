// Go crypto/tls peer of bench/tls_epoll_server.c for bench/tls.sh, run with
// GOMAXPROCS=1 (one core, like one libgreen hub): a goroutine per
// connection on a crypto/tls listener; TLS 1.3 only, X25519, Go's defaults
// otherwise (a session ticket after each full handshake, a close_notify on
// Close).  The HTTP service finds request
// heads as bench/epoll_server.c does, not through net/http, so that the
// rows compare TLS and scheduling rather than HTTP parsers.
//
//	go_tls http PORT CERT KEY   HTTPS keep-alive "Hello, World!"
//	go_tls echo PORT CERT KEY   echo every byte back
//
// Without arguments (as bench/run.sh runs every program) it exits at once:
// bench/tls.sh starts it.
package main

import (
	"bytes"
	"crypto/tls"
	"fmt"
	"net"
	"os"
)

const response = "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 13\r\n" +
	"\r\nHello, World!"

const bufferSize = 64 * 1024

// serveHTTP answers each complete request head; keeps the unfinished rest.
func serveHTTP(conn net.Conn) {
	defer conn.Close()
	buffer := make([]byte, bufferSize)
	answer := []byte(response)
	have := 0
	for {
		n, err := conn.Read(buffer[have:])
		if err != nil {
			return
		}
		have += n
		start := 0
		for {
			end := bytes.Index(buffer[start:have], []byte("\r\n\r\n"))
			if end < 0 {
				break
			}
			start += end + 4
			if _, err := conn.Write(answer); err != nil {
				return
			}
		}
		have = copy(buffer, buffer[start:have])
		if have == bufferSize {
			return
		}
	}
}

func serveEcho(conn net.Conn) {
	defer conn.Close()
	buffer := make([]byte, bufferSize)
	for {
		n, err := conn.Read(buffer)
		if err != nil {
			return
		}
		if _, err := conn.Write(buffer[:n]); err != nil {
			return
		}
	}
}

func main() {
	if len(os.Args) < 5 {
		if len(os.Args) > 1 {
			os.Exit(2)
		}
		return
	}
	certificate, err := tls.LoadX509KeyPair(os.Args[3], os.Args[4])
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	config := &tls.Config{
		Certificates:     []tls.Certificate{certificate},
		MinVersion:       tls.VersionTLS13,
		CurvePreferences: []tls.CurveID{tls.X25519},
	}
	listener, err := tls.Listen("tcp", "127.0.0.1:"+os.Args[2], config)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	serve := serveHTTP
	if os.Args[1] == "echo" {
		serve = serveEcho
	}
	fmt.Printf("listening on 127.0.0.1:%s\n", os.Args[2])
	for {
		conn, err := listener.Accept()
		if err != nil {
			continue
		}
		go serve(conn)
	}
}
