// Package faultproxy is a TCP proxy for tests that puts network faults
// between a client and a server: delay, refused connections, connections
// dropped or cut in the middle of a frame, and a black hole that swallows
// everything while keeping the connections open.
//
// Every connection accepted by the proxy is a link: the proxy dials the
// target and copies bytes both ways, applying the mode in force as each chunk
// passes. Faults can be switched at any time while links are open.
package faultproxy

import (
	"errors"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"time"
)

// Mode is how the proxy treats the bytes and connections passing through.
type Mode int

const (
	// Pass forwards everything at once.
	Pass Mode = iota
	// Delay forwards each chunk after the delay set with SetDelay.
	Delay
	// BlackHole reads and discards everything, both ways; connections stay
	// open, so only a timeout (keepalive) notices.
	BlackHole
	// Refuse closes new connections as soon as they are accepted; open
	// links are left alone.
	Refuse
)

// Proxy is a fault-injecting TCP proxy. Its methods are safe for concurrent
// use.
type Proxy struct {
	ln     net.Listener
	target string

	mu     sync.Mutex
	mode   Mode
	delay  time.Duration
	links  map[*link]struct{}
	closed bool
	wg     sync.WaitGroup
}

// link is one proxied connection pair.
type link struct {
	client, server net.Conn
	budget         [2]atomic.Int64 // per direction: bytes left before a cut; -1 for no cut
	once           sync.Once
}

func (l *link) close() {
	l.once.Do(func() {
		l.client.Close()
		l.server.Close()
	})
}

// New starts a proxy on a loopback port that forwards to target (host:port).
func New(target string) (*Proxy, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	p := &Proxy{ln: ln, target: target, links: make(map[*link]struct{})}
	p.wg.Add(1)
	go p.accept()
	return p, nil
}

// Addr returns the address clients dial.
func (p *Proxy) Addr() string { return p.ln.Addr().String() }

// SetMode switches the proxy to m for the chunks and connections that come
// next.
func (p *Proxy) SetMode(m Mode) {
	p.mu.Lock()
	p.mode = m
	p.mu.Unlock()
}

// SetDelay switches the proxy to Delay mode with d per chunk.
func (p *Proxy) SetDelay(d time.Duration) {
	p.mu.Lock()
	p.mode, p.delay = Delay, d
	p.mu.Unlock()
}

// CutAfter makes every open link forward at most n more bytes in each
// direction and then close both its connections: a cut that lands inside
// whatever frame or message those bytes belong to.
func (p *Proxy) CutAfter(n int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for l := range p.links {
		l.budget[0].Store(int64(n))
		l.budget[1].Store(int64(n))
	}
}

// DropAll closes both connections of every open link at once, and returns
// how many links there were.
func (p *Proxy) DropAll() int {
	p.mu.Lock()
	links := make([]*link, 0, len(p.links))
	for l := range p.links {
		links = append(links, l)
	}
	p.mu.Unlock()
	for _, l := range links {
		l.close()
	}
	return len(links)
}

// Links returns the number of open links.
func (p *Proxy) Links() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.links)
}

// Close stops the proxy, closes every link and waits for its goroutines.
func (p *Proxy) Close() error {
	p.mu.Lock()
	p.closed = true
	p.mu.Unlock()
	err := p.ln.Close()
	p.DropAll()
	p.wg.Wait()
	return err
}

func (p *Proxy) accept() {
	defer p.wg.Done()
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		p.mu.Lock()
		mode, closed := p.mode, p.closed
		p.mu.Unlock()
		if closed || mode == Refuse {
			c.Close()
			continue
		}
		s, err := net.DialTimeout("tcp", p.target, 5*time.Second)
		if err != nil {
			c.Close()
			continue
		}
		l := &link{client: c, server: s}
		l.budget[0].Store(-1)
		l.budget[1].Store(-1)
		p.mu.Lock()
		if p.closed {
			p.mu.Unlock()
			l.close()
			return
		}
		p.links[l] = struct{}{}
		p.wg.Add(2)
		p.mu.Unlock()
		var done sync.WaitGroup
		done.Add(2)
		go func() { defer p.wg.Done(); defer done.Done(); p.pump(l, 0, s, c) }()
		go func() { defer p.wg.Done(); defer done.Done(); p.pump(l, 1, c, s) }()
		p.wg.Add(1)
		go func() {
			defer p.wg.Done()
			done.Wait()
			p.mu.Lock()
			delete(p.links, l)
			p.mu.Unlock()
		}()
	}
}

// pump copies src to dst (direction dir of l) under the proxy's mode. An
// end of file is passed on as a half-close; any other failure, and a cut,
// closes both connections of the link.
func (p *Proxy) pump(l *link, dir int, dst, src net.Conn) {
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		if n > 0 {
			p.mu.Lock()
			mode, delay := p.mode, p.delay
			p.mu.Unlock()
			chunk := buf[:n]
			cut := false
			if b := l.budget[dir].Load(); b >= 0 {
				if int64(n) >= b {
					chunk, cut = buf[:b], true
				} else {
					l.budget[dir].Add(-int64(n))
				}
			}
			switch mode {
			case BlackHole:
				chunk = nil
			case Delay:
				time.Sleep(delay)
			}
			if len(chunk) > 0 {
				if _, werr := dst.Write(chunk); werr != nil {
					l.close()
					return
				}
			}
			if cut {
				l.close()
				return
			}
		}
		if err != nil {
			tc, ok := dst.(*net.TCPConn)
			if errors.Is(err, io.EOF) && ok {
				tc.CloseWrite()
				return
			}
			l.close()
			return
		}
	}
}
