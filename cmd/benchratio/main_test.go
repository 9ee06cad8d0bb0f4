package main

import (
	"strings"
	"testing"
)

func TestParse(t *testing.T) {
	out := `goos: linux
cpu: Some CPU
BenchmarkCallSeq-2               	   53608	     38474 ns/op	     473 B/op	       8 allocs/op
BenchmarkNetRPCCallUnderBulk-2   	     154	  13607111 ns/op	  11971195 p50-ns	 168004259 p99-ns
BenchmarkEcho1MiB-2              	     883	   2704150 ns/op	 775.53 MB/s	 2119450 B/op	      27 allocs/op
PASS
`
	res, header, err := parse(strings.NewReader(out))
	if err != nil {
		t.Fatal(err)
	}
	if len(header) != 2 {
		t.Fatalf("header %q", header)
	}
	if got := res["CallSeq"]["ns/op"]; got != 38474 {
		t.Fatalf("CallSeq ns/op = %v", got)
	}
	if got := res["CallSeq"]["allocs/op"]; got != 8 {
		t.Fatalf("CallSeq allocs/op = %v", got)
	}
	if got := res["NetRPCCallUnderBulk"]["p99-ns"]; got != 168004259 {
		t.Fatalf("p99 = %v", got)
	}
	if got := res["Echo1MiB"]["MB/s"]; got != 775.53 {
		t.Fatalf("MB/s = %v", got)
	}
}
