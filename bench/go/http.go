// Go net/http counterpart of examples/http_hello for bench/http.sh, run
// with GOMAXPROCS=1 (one core, like one libgreen hub): answers every request
// with the same fixed "Hello, World!" response.
//
//	go_http PORT    serve on 127.0.0.1:PORT until killed
//
// Without arguments (as bench/run.sh runs every program) it exits at once:
// bench/http.sh starts it.
package main

import (
	"fmt"
	"net/http"
	"os"
)

func main() {
	if len(os.Args) < 2 {
		return
	}
	body := []byte("Hello, World!")
	http.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h["Content-Type"] = []string{"text/plain"}
		h["Content-Length"] = []string{"13"}
		w.Write(body)
	})
	fmt.Printf("listening on 127.0.0.1:%s\n", os.Args[1])
	if err := http.ListenAndServe("127.0.0.1:"+os.Args[1], nil); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}
