package main

import (
	"net"
	"net/http"
	"time"
)

// okBody is the baseline's whole answer.
var okBody = []byte("ok")

// startBaseline starts the hello-world server the cityops figure is
// compared with: plain net/http on 127.0.0.1, in this process.
func startBaseline() (string, func(), error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", nil, err
	}
	srv := &http.Server{
		Handler:           http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.Write(okBody) }),
		ReadHeaderTimeout: 10 * time.Second,
	}
	go srv.Serve(ln)
	return "http://" + ln.Addr().String() + "/", func() { srv.Close() }, nil
}
