package transport

import (
	"bufio"
	"sync/atomic"
)

// The session reader's buffer starts small and grows while the connection
// carries bulk data, then shrinks back once traffic is light again: an idle or
// chatty connection keeps little memory, and a bulk transfer is read in large
// pieces, with few read syscalls and the kernel's receive buffer drained fast.
// The smallest buffer need not hold a whole frame: payloads of directPayload
// bytes or more are read around it, and frames for no open stream are skipped
// through it.
const (
	readBufferMin = directPayload
	readBufferMax = 1 << 20
	// shrinkAfter is how many light rounds in a row (each used at most an
	// eighth of the buffer) let a grown buffer shrink.
	shrinkAfter = 64
)

// readBuffer tracks how much of the reader's buffer each round uses. A round
// runs from one moment the buffer is empty to the next: it is what one read
// from the network (and any refills it needed) brought in.
type readBuffer struct {
	floor  int          // smallest size (readBufferFloor)
	mark   uint64       // bytesIn at the start of the round
	direct uint64       // payload bytes read around the buffer, straight into chunks
	dmark  uint64       // direct at the start of the round
	light  int          // light rounds in a row
	size   atomic.Int64 // the buffer's size, for observers
}

// readBufferFloor is the smallest reader's buffer: room for a payload too
// small to be read around the buffer (see handleData), whatever the frame
// size.
func readBufferFloor() int { return readBufferMin }

// resizeReadBuffer is called with the buffer empty, before the next read from
// the network: a round that used the whole buffer doubles it (up to
// readBufferMax), and a run of light rounds halves it (down to the floor).
func (s *Session) resizeReadBuffer() {
	rb := &s.rb
	if rb.floor == 0 {
		rb.floor = readBufferFloor()
	}
	in := s.bytesIn.Load()
	used := int((in - rb.mark) - (rb.direct - rb.dmark))
	rb.mark, rb.dmark = in, rb.direct
	size := s.br.Size()
	next := size
	switch {
	case used >= size:
		rb.light = 0
		next = min(2*size, max(readBufferMax, rb.floor))
	case used <= size/8 && size > rb.floor:
		if rb.light++; rb.light >= shrinkAfter {
			rb.light = 0
			next = max(size/2, rb.floor)
		}
	default:
		rb.light = 0
	}
	if next != size {
		s.br = bufio.NewReaderSize(s.in, next)
		rb.size.Store(int64(next))
	}
}
