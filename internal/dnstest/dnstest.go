// Package dnstest is a small authoritative DNS responder for tests: A,
// AAAA and SRV answers over UDP from a zone the test sets, or from a JSON
// zone file read again for every query (for a responder in another
// process). Resolver returns a net.Resolver that asks it and nothing else.
package dnstest

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"net"
	"os"
	"strings"
	"sync"
)

// Record types answered.
const (
	TypeA    = 1
	TypeAAAA = 28
	TypeSRV  = 33
)

// A Record is one answer: an address (A or AAAA, by the IP's length), or
// an SRV record.
type Record struct {
	IP       string `json:"ip,omitempty"`
	Target   string `json:"target,omitempty"`
	Port     uint16 `json:"port,omitempty"`
	Priority uint16 `json:"priority,omitempty"`
	Weight   uint16 `json:"weight,omitempty"`
}

// Zone holds each name's records; names are case-insensitive, with or
// without the trailing dot.
type Zone map[string][]Record

// Server answers queries on a UDP socket until Close.
type Server struct {
	pc       net.PacketConn
	zoneFile string

	mu   sync.Mutex
	zone Zone
}

// Start serves on addr ("127.0.0.1:0" for any port). With zoneFile, each
// query is answered from that file (a JSON Zone) as it is at the time.
func Start(addr, zoneFile string) (*Server, error) {
	pc, err := net.ListenPacket("udp", addr)
	if err != nil {
		return nil, err
	}
	s := &Server{pc: pc, zoneFile: zoneFile, zone: Zone{}}
	go s.serve()
	return s, nil
}

// Addr returns the address the server answers on.
func (s *Server) Addr() string { return s.pc.LocalAddr().String() }

// Close stops the server.
func (s *Server) Close() error { return s.pc.Close() }

// Set replaces name's records (none: the name does not exist).
func (s *Server) Set(name string, recs ...Record) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(recs) == 0 {
		delete(s.zone, canonical(name))
		return
	}
	s.zone[canonical(name)] = recs
}

// Resolver returns a resolver that sends every query to the server at
// addr.
func Resolver(addr string) *net.Resolver {
	return &net.Resolver{PreferGo: true, Dial: func(ctx context.Context, _, _ string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, "udp", addr)
	}}
}

// WriteZone writes z to path as a zone file.
func WriteZone(path string, z Zone) error {
	b, err := json.Marshal(z)
	if err != nil {
		return err
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, b, 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

func canonical(name string) string { return strings.ToLower(strings.TrimSuffix(name, ".")) }

func (s *Server) lookup(name string) ([]Record, bool) {
	if s.zoneFile != "" {
		b, err := os.ReadFile(s.zoneFile)
		if err != nil {
			return nil, false
		}
		var z Zone
		if json.Unmarshal(b, &z) != nil {
			return nil, false
		}
		for n, recs := range z {
			if canonical(n) == name {
				return recs, true
			}
		}
		return nil, false
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	recs, ok := s.zone[name]
	return recs, ok
}

func (s *Server) serve() {
	buf := make([]byte, 512)
	for {
		n, from, err := s.pc.ReadFrom(buf)
		if err != nil {
			return
		}
		if resp, err := s.answer(buf[:n]); err == nil {
			s.pc.WriteTo(resp, from)
		}
	}
}

var errBadQuery = errors.New("dnstest: bad query")

// answer builds the response to one query.
func (s *Server) answer(q []byte) ([]byte, error) {
	if len(q) < 12 || binary.BigEndian.Uint16(q[4:]) != 1 {
		return nil, errBadQuery
	}
	// The question: labels, then type and class.
	var labels []string
	i := 12
	for {
		if i >= len(q) {
			return nil, errBadQuery
		}
		l := int(q[i])
		i++
		if l == 0 {
			break
		}
		if l > 63 || i+l > len(q) {
			return nil, errBadQuery
		}
		labels = append(labels, string(q[i:i+l]))
		i += l
	}
	if i+4 > len(q) {
		return nil, errBadQuery
	}
	qtype := binary.BigEndian.Uint16(q[i:])
	question := q[12 : i+4]
	recs, exists := s.lookup(canonical(strings.Join(labels, ".")))

	var answers [][]byte
	for _, r := range recs {
		var rtype uint16
		var rdata []byte
		switch ip := net.ParseIP(r.IP); {
		case r.Target != "" && qtype == TypeSRV:
			rtype = TypeSRV
			rdata = binary.BigEndian.AppendUint16(rdata, r.Priority)
			rdata = binary.BigEndian.AppendUint16(rdata, r.Weight)
			rdata = binary.BigEndian.AppendUint16(rdata, r.Port)
			rdata = appendName(rdata, r.Target)
		case ip != nil && ip.To4() != nil && qtype == TypeA:
			rtype, rdata = TypeA, ip.To4()
		case ip != nil && ip.To4() == nil && qtype == TypeAAAA:
			rtype, rdata = TypeAAAA, ip.To16()
		default:
			continue
		}
		rr := []byte{0xC0, 12} // the question's name
		rr = binary.BigEndian.AppendUint16(rr, rtype)
		rr = binary.BigEndian.AppendUint16(rr, 1) // IN
		rr = binary.BigEndian.AppendUint32(rr, 0) // TTL
		rr = binary.BigEndian.AppendUint16(rr, uint16(len(rdata)))
		answers = append(answers, append(rr, rdata...))
	}
	flags := uint16(0x8000 | 0x0400 | 0x0080)        // QR, AA, RA
	flags |= binary.BigEndian.Uint16(q[2:]) & 0x7900 // opcode, RD
	if !exists {
		flags |= 3 // NXDOMAIN
	}
	resp := append([]byte{}, q[:2]...)
	resp = binary.BigEndian.AppendUint16(resp, flags)
	resp = binary.BigEndian.AppendUint16(resp, 1)
	resp = binary.BigEndian.AppendUint16(resp, uint16(len(answers)))
	resp = append(resp, 0, 0, 0, 0)
	resp = append(resp, question...)
	for _, a := range answers {
		resp = append(resp, a...)
	}
	return resp, nil
}

// appendName appends name in DNS wire form, uncompressed.
func appendName(b []byte, name string) []byte {
	for l := range strings.SplitSeq(strings.TrimSuffix(name, "."), ".") {
		b = append(b, byte(len(l)))
		b = append(b, l...)
	}
	return append(b, 0)
}
