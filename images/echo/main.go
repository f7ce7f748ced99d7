// Command echo is the example app of deploy/example (image herald-echo): an HTTP server that answers
// every request with a fixed text, taking the flags of hashicorp/http-echo that the example uses
// (-listen, -text) so the manifest reads the same with either image. Standard library only, so it
// builds on a machine that can reach no module proxy. SIGTERM closes the listener and lets in-flight
// requests finish (up to 5 s).
package main

import (
	"context"
	"flag"
	"fmt"
	"log"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"
)

func main() {
	listen := flag.String("listen", ":5678", "address and port to listen on")
	text := flag.String("text", "", "text to answer with")
	flag.Parse()
	if *text == "" {
		fmt.Fprintln(os.Stderr, "echo: -text is required")
		os.Exit(2)
	}
	body := []byte(*text + "\n")
	srv := &http.Server{
		Addr:              *listen,
		ReadHeaderTimeout: 10 * time.Second,
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "text/plain; charset=utf-8")
			_, _ = w.Write(body)
		}),
	}
	stop := make(chan os.Signal, 1)
	signal.Notify(stop, syscall.SIGTERM, syscall.SIGINT)
	go func() {
		<-stop
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(ctx)
	}()
	log.Printf("echo listening on %s", *listen)
	if err := srv.ListenAndServe(); err != nil && err != http.ErrServerClosed {
		log.Fatalf("echo: %v", err)
	}
	log.Printf("echo stopped")
}
