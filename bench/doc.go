// Package bench runs firefly's end-to-end scenarios against other Go RPC
// systems in one `go test -bench` run. It is a separate module so that the
// peers (gRPC, yamux, arpc) never become dependencies of the library.
//
// Everything lives in the _test.go files; see README.md.
package bench
