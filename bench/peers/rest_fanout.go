// A REST aggregator in Go, the peer peers.sh measures the gateway's REST
// routes beside: net/http in, grpc-go out, protojson between, as a Go team
// would write the same two routes without fanout.
//
//   GET /v1/lab/echo?message=hi   one Lab/Echo, its answer as JSON
//   GET /v1/lab/fanout            Lab/Echo "a", "b" and "c" at once, joined:
//                                 {"a": {...}, "b": {...}, "c": {...}}
//
// JSON as the gateway writes it (lowerCamelCase, unpopulated fields
// printed), a 5 s deadline per request, 502 naming the failed part. One
// HTTP/2 connection to the backend (grpc-go's ClientConn), GOMAXPROCS as
// the environment sets it (peers.sh: 1, one core's worth).
//
// Built by peers.sh (GOPATH mode, Debian's golang-google-grpc-dev and
// golang-google-protobuf-dev; the lab's messages by protoc-gen-go).
//
//   rest_fanout -listen 127.0.0.1:8080 -backend 127.0.0.1:50051
package main

import (
	"context"
	"flag"
	"fmt"
	"log"
	"net/http"
	"sync"
	"time"

	"fanoutpeer/labpb"

	"google.golang.org/grpc"
	"google.golang.org/protobuf/encoding/protojson"
)

var marshal = protojson.MarshalOptions{EmitUnpopulated: true}

type server struct{ lab labpb.LabClient }

func fail(w http.ResponseWriter, part string, err error) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusBadGateway)
	fmt.Fprintf(w, "{\"code\": 502, \"message\": %q}\n", part+": "+err.Error())
}

func (s *server) echo(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), 5*time.Second)
	defer cancel()
	reply, err := s.lab.Echo(ctx, &labpb.EchoRequest{Message: r.URL.Query().Get("message")})
	if err != nil {
		fail(w, "echo", err)
		return
	}
	body, _ := marshal.Marshal(reply)
	w.Header().Set("Content-Type", "application/json")
	w.Write(body)
}

func (s *server) fanout(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), 5*time.Second)
	defer cancel()
	names := [3]string{"a", "b", "c"}
	var replies [3]*labpb.EchoResponse
	var errs [3]error
	var wg sync.WaitGroup
	for i := range names {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			replies[i], errs[i] = s.lab.Echo(ctx, &labpb.EchoRequest{Message: names[i]})
		}(i)
	}
	wg.Wait()
	out := make([]byte, 0, 512)
	out = append(out, '{')
	for i, name := range names {
		if errs[i] != nil {
			fail(w, name, errs[i])
			return
		}
		if i > 0 {
			out = append(out, ',')
		}
		out = append(out, '"')
		out = append(out, name...)
		out = append(out, '"', ':')
		body, _ := marshal.Marshal(replies[i])
		out = append(out, body...)
	}
	out = append(out, '}')
	w.Header().Set("Content-Type", "application/json")
	w.Write(out)
}

func main() {
	listen := flag.String("listen", "127.0.0.1:8080", "where to serve REST")
	backend := flag.String("backend", "127.0.0.1:50051", "the lab backend (gRPC, plaintext)")
	flag.Parse()
	conn, err := grpc.Dial(*backend, grpc.WithInsecure())
	if err != nil {
		log.Fatalf("rest_fanout: %s: %v", *backend, err)
	}
	s := &server{lab: labpb.NewLabClient(conn)}
	mux := http.NewServeMux()
	mux.HandleFunc("/v1/lab/echo", s.echo)
	mux.HandleFunc("/v1/lab/fanout", s.fanout)
	log.Fatal(http.ListenAndServe(*listen, mux))
}
