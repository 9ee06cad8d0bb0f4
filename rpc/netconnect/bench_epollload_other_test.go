//go:build !linux

package netconnect

import "testing"

// epollLoad needs Linux; elsewhere the load is requestLoad's.
func epollLoad(b *testing.B, addr string, clients int, rate float64, body []byte, want string) {
	requestLoad(b, addr, clients, rate, body, want)
}
