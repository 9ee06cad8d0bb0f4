package transport

// Receive credit: how much a stream's peer may send before this side has
// consumed it.
//
// A stream's window bounds the data in flight on it, and what is in flight on
// one stream is what a frame of another stream, sent after it, waits behind:
// frames leave the sender's writer one per stream per round, but the bytes
// already in the connection (the kernels' buffers, the reader's backlog) are
// read in order. A full window on a bulk stream is so the head-of-line delay
// of every small message beside it. A stream alone on the connection wants the
// whole window (a large transfer over a fast link needs it), and one that
// shares the connection wants little of it. So, while the connection carries
// interleaved streams (mixed), a stream's consumed credit is granted back
// only beyond a reserve of window - mixWindow bytes: its peer then has at most
// mixWindow bytes in flight. When the mix has ended, the next consumption
// grants the reserve back with the rest.
//
// This is a receiver's policy only: the protocol lets a receiver return
// consumed credit whenever it chooses, and the peer is never left with no
// credit while all it sent was consumed (the reserve is less than the
// window by mixWindow, and mixThreshold is a quarter of that).

const (
	// mixWindow is a stream's window while the connection is mixed. At 32
	// KiB a small call's p99 beside a 16 MiB echo on the same connection
	// is about 0.55x of what it is with the whole 256 KiB window, and the
	// echo keeps about three quarters of its throughput.
	mixWindow = 32 << 10
	// mixGap: a DATA frame of a stream whose last frame came at most this
	// many DATA frames earlier, with frames of others between, is
	// interleaved with them.
	mixGap = 8
	// mixFrames is how many DATA frames the connection stays mixed after
	// the last interleaved one.
	mixFrames = 64
)

// initCredit sets the session's credit thresholds for its receive window.
// A window of mixWindow or less keeps nothing back (mixReserve 0).
func (s *Session) initCredit() {
	w := s.cfg.InitialWindow
	s.winThreshold = max(w/4, 1)
	if w > mixWindow {
		s.mixReserve = w - mixWindow
		s.mixThreshold = mixWindow / 4
	}
}

// noteData records, for the reader, a DATA payload of st, and with it whether
// the connection is mixed.
func (s *Session) noteData(st *Stream) {
	s.dataSeq++
	if last := st.lastData; last != 0 && last+1 < s.dataSeq && s.dataSeq-last <= mixGap {
		s.mixUntil = s.dataSeq + mixFrames
		if !s.mixed.Load() {
			s.mixed.Store(true)
		}
	} else if s.dataSeq > s.mixUntil && s.mixed.Load() {
		s.mixed.Store(false)
	}
	st.lastData = s.dataSeq
}

// creditLocked counts n received bytes as consumed and returns the credit
// to grant the peer now (0 until enough has built up). st.rmu must be held.
func (st *Stream) creditLocked(n uint32) (grant uint32) {
	st.rcredit += n
	s := st.s
	thr, keep := s.winThreshold, uint32(0)
	if s.mixReserve > 0 && s.mixed.Load() {
		thr, keep = s.mixThreshold, s.mixReserve
	}
	if st.rcredit >= keep+thr {
		grant = st.rcredit - keep
		st.rcredit = keep
		st.rwin += grant
	}
	return grant
}
