//go:build !linux

package netconnect

import "errors"

// epollReader exists on Linux only.
type epollReader struct{}

func dialEpoll(string, int) (*epollReader, error) {
	return nil, errors.New("the epoll reader needs Linux")
}

func (*epollReader) run(func([]byte, int64)) error { return nil }
