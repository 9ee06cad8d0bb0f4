//go:build linux

package bench

import (
	"context"
	"net"
	"slices"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// tapListener hands the connections it accepts to conns, when there is
// room, and returns them unchanged: a server still gets its *net.TCPConn
// and writes to it as it always does.
type tapListener struct {
	net.Listener
	conns chan net.Conn
}

func (l tapListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err == nil {
		select {
		case l.conns <- c:
		default:
		}
	}
	return c, err
}

// wireBytes returns the bytes c's socket has received and the bytes it
// sent that its peer acknowledged, together, from the kernel's TCP_INFO.
func wireBytes(c *net.TCPConn) (uint64, error) {
	rc, err := c.SyscallConn()
	if err != nil {
		return 0, err
	}
	var info *unix.TCPInfo
	var infoErr error
	if err := rc.Control(func(fd uintptr) {
		info, infoErr = unix.GetsockoptTCPInfo(int(fd), unix.IPPROTO_TCP, unix.TCP_INFO)
	}); err != nil {
		return 0, err
	}
	if infoErr != nil {
		return 0, infoErr
	}
	return info.Bytes_received + info.Bytes_acked, nil
}

// quietBytes: a small call in whose time fewer bytes than this crossed its
// connection met no bulk there (every system's small call and answer,
// headers and all, take a few hundred bytes at most).
const quietBytes = 1 << 10

// BenchmarkWireUnderBulk is CallUnderBulk with the server's socket read,
// from the kernel, after each small call. It reports the median of the
// bytes that crossed the connection, either way, from the end of one small
// call to the end of the next (p50-wire-B); the share of the small calls in
// whose time fewer than quietBytes did (quiet-%); and the median latency of
// those quiet calls and of the others (quiet-p50-ns, shared-p50-ns). The
// bytes are the call's own and those of the bulk that shared the wire with
// it: a system whose small calls mostly find their connection free of bulk
// shows a high quiet-%, one that cuts the bulk into frames around its small
// calls shows those frames. The getsockopt, one a call, is made outside the
// call's time, but it is work on the machine, so this benchmark's
// latencies are not CallUnderBulk's.
func BenchmarkWireUnderBulk(b *testing.B) {
	for _, s := range systems {
		b.Run(s.name, func(b *testing.B) {
			conns := make(chan net.Conn, 1)
			c := s.start(b, tapListener{listen(b), conns})
			if _, err := c.Add(context.Background(), Args{1, 2}); err != nil {
				b.Fatal(err) // some systems dial at their first call
			}
			var tc *net.TCPConn
			select {
			case sc := <-conns:
				tc = sc.(*net.TCPConn)
			case <-time.After(10 * time.Second):
				b.Fatal("the server accepted no connection")
			}
			last, err := wireBytes(tc)
			if err != nil {
				b.Fatal(err)
			}
			var moved []uint64
			var lat []time.Duration
			underBulk(b, c, func(d time.Duration) {
				n, err := wireBytes(tc)
				if err != nil {
					b.Fatal(err)
				}
				moved = append(moved, n-last)
				lat = append(lat, d)
				last = n
			})
			if len(moved) > 1 {
				// The first call's bytes include the bulk transfer's start.
				moved, lat = moved[1:], lat[1:]
			}
			var quiet, shared []time.Duration
			for i, n := range moved {
				if n < quietBytes {
					quiet = append(quiet, lat[i])
				} else {
					shared = append(shared, lat[i])
				}
			}
			slices.Sort(moved)
			b.ReportMetric(float64(moved[len(moved)/2]), "p50-wire-B")
			b.ReportMetric(100*float64(len(quiet))/float64(len(moved)), "quiet-%")
			for _, part := range []struct {
				lat  []time.Duration
				unit string
			}{{quiet, "quiet-p50-ns"}, {shared, "shared-p50-ns"}} {
				if len(part.lat) > 0 {
					slices.Sort(part.lat)
					b.ReportMetric(float64(part.lat[len(part.lat)/2].Nanoseconds()), part.unit)
				}
			}
		})
	}
}
