package distributed

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"reflect"
	"slices"
	"strconv"
	"sync"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/fireflyrpc/firefly/registry"
	"github.com/fireflyrpc/firefly/rpc"
)

// ErrTargetExists reports a Map or MapID under a command that is already
// mapped (Firefly's "target already exists"). Unmap it first to replace it.
var ErrTargetExists = errors.New("distributed: target already mapped")

// RunStyle says how a Service runs its targets.
type RunStyle uint8

const (
	// Parallel runs each call at once in the goroutine it arrived with,
	// concurrently with any other call: Firefly's PARALLEL_STYLE, and what the
	// broker does for any object. Targets must be safe for concurrent use.
	Parallel RunStyle = iota
	// Serial runs one target at a time, in arrival order: Firefly's
	// SINGLE_STYLE, an actor. See Service for what arrival means.
	Serial
)

// String returns "Parallel" or "Serial".
func (s RunStyle) String() string {
	switch s {
	case Parallel:
		return "Parallel"
	case Serial:
		return "Serial"
	}
	return "RunStyle(" + strconv.Itoa(int(s)) + ")"
}

// DefaultSerialGrace is how long a Serial service keeps the turn of a call it
// looked up but that never started (see WithSerialGrace).
const DefaultSerialGrace = 500 * time.Millisecond

// Service is a table of named targets, Firefly's Service and CommandService:
// functions mapped under a name (Map) or a numeric command id (MapID) and
// called by that name or id, locally (CallTarget) or by a peer holding a
// reference to the service. It embeds Referenceable and implements
// Dispatcher, so passing a *Service to a peer hands it a *Ref on which
// ref.Call(ctx, "echo", &reply, args...) runs the target "Echo", and
// ref.Call(ctx, "101", ...) the target of command 101. Arguments are decoded
// into the target's own parameter types.
//
// A target has the shape of a remote method (see package registry): an
// optional leading context.Context, parameters gob can carry (a *Ref
// parameter receives a reference), and results (), (error), (T) or (T, error).
// Results come back as they are: 0, "", false and empty structs are results
// like any other. A call of a command that is not mapped fails with an error
// matching ErrNoSuchMethod that names the command; a panicking target fails
// its call with an error matching ErrPanic, and the service goes on.
//
// Map, MapID, Unmap and UnmapID are safe while calls run: a call that has
// looked its target up runs it even if the target is unmapped meanwhile.
//
// # Run styles
//
// A Parallel service (the default) runs every call at once, concurrently.
//
// A Serial service runs one target at a time, in the order the calls arrive,
// like an actor: a call waits until every call that arrived before it has
// finished (or given up: a call whose context ends while it waits leaves the
// queue with the context's error). A call arrives:
//
//   - over a connection, when the broker looks it up, which it does on the
//     read loop of the lane that carried the call, as it reads it and before
//     any handler goroutine starts. Calls read from one lane therefore run in
//     the order they were sent on it, whether the sender waited for them or
//     not (Call, Go and Send alike);
//   - through CallTarget, when CallTarget is called.
//
// A connection sends its calls over several lanes (up to WithMaxLanes, 8 by
// default), taking whichever is free, and reads its lanes independently. So
// two calls a peer has in flight at the same time may arrive in either order,
// and calls arriving over different connections are ordered only by when they
// are read. A sender that needs a sequence of calls run in the order it makes
// them either waits for each before making the next, or sends over one lane:
// rpc.WithMaxLanes(1) on its connection (WithDialOptions for a Node,
// WithServerOptions for a Root). Calls that arrive at the same moment from
// different lanes or connections are never run at the same time, whatever
// their order.
type Service struct {
	rpc.Referenceable

	name  string
	style RunStyle
	reg   *registry.Registry
	log   *slog.Logger

	mu      sync.RWMutex
	targets map[string]*registry.Method // by canonical name or decimal id

	queue *serialQueue // Serial only
}

// NewService returns an empty service called name.
func NewService(name string, opts ...Option) *Service {
	cfg := newConfig(opts)
	s := &Service{
		name:    name,
		style:   cfg.style,
		reg:     rpc.NewRegistry(),
		log:     cfg.logger,
		targets: make(map[string]*registry.Method),
	}
	if cfg.style == Serial {
		s.queue = newSerialQueue(cfg.grace)
	}
	return s
}

// Name returns the service's name.
func (s *Service) Name() string { return s.name }

// RunStyle returns how the service runs its targets.
func (s *Service) RunStyle() RunStyle { return s.style }

// String describes the service.
func (s *Service) String() string { return fmt.Sprintf("distributed.Service(%s, %s)", s.name, s.style) }

// Map maps fn under name (Firefly's mapTarget). Callers may use name or its
// lower-camel form: Map("Echo", f) and Map("echo", f) both answer to "Echo"
// and "echo". name must be a Go identifier starting with a letter. fn must
// have the shape of a remote method; a bad shape is a
// *registry.RegistrationError naming the reason. A name already mapped is an
// error matching ErrTargetExists.
func (s *Service) Map(name string, fn any) error {
	m, err := s.reg.Func(name, fn)
	if err != nil {
		return err
	}
	return s.add(m.Name, m)
}

// MapID maps fn under the numeric command id (Firefly's CommandService). On
// the wire the command's name is the id in decimal ("101"); CallTarget,
// Root.CallChild and Node.CallRemote take the int itself. See Map for fn.
func (s *Service) MapID(id int, fn any) error {
	key := strconv.Itoa(id)
	m, err := s.reg.Func("Command", fn)
	if err != nil {
		var re *registry.RegistrationError
		if errors.As(err, &re) {
			c := *re
			c.Method = "command " + key
			return &c
		}
		return err
	}
	named := *m // the same function, exposed under the id
	named.Name = key
	return s.add(key, &named)
}

// add maps m under key: its canonical name (Map), or a command's decimal id
// (MapID).
func (s *Service) add(key string, m *registry.Method) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.targets[key]; ok {
		return fmt.Errorf("%w: %q in service %q", ErrTargetExists, key, s.name)
	}
	s.targets[key] = m
	return nil
}

// Unmap removes the target mapped under name (or its lower-camel form) and
// reports whether there was one (Firefly's unMapTarget).
func (s *Service) Unmap(name string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, key := range []string{name, registry.Canonical(name)} {
		if _, ok := s.targets[key]; ok {
			delete(s.targets, key)
			return true
		}
	}
	return false
}

// UnmapID removes the target of command id and reports whether there was one.
func (s *Service) UnmapID(id int) bool {
	key := strconv.Itoa(id)
	s.mu.Lock()
	defer s.mu.Unlock()
	_, ok := s.targets[key]
	delete(s.targets, key)
	return ok
}

// Targets returns the mapped commands, sorted: the names in their canonical
// form ("Echo") and the ids in decimal ("101").
func (s *Service) Targets() []string {
	s.mu.RLock()
	keys := make([]string, 0, len(s.targets))
	for k := range s.targets {
		keys = append(keys, k)
	}
	s.mu.RUnlock()
	slices.Sort(keys)
	return keys
}

// Target returns the target mapped under command (a name, as in Lookup, or
// an int id), or nil. Unlike Lookup it never takes a place in a Serial
// service's queue; use it to inspect the service.
func (s *Service) Target(command any) *registry.Method {
	name, err := commandName(command)
	if err != nil {
		return nil
	}
	return s.target(name)
}

// target finds the method called name (canonical, lower-camel or decimal id).
// Every target is mapped under its canonical name or its decimal id (see
// add), so one lookup of name's canonical form finds it.
func (s *Service) target(name string) *registry.Method {
	var m *registry.Method
	s.mu.RLock()
	if r, _ := utf8.DecodeRuneInString(name); unicode.ToUpper(r) == r {
		m = s.targets[name] // canonical already
	} else {
		var buf [64]byte
		m = s.targets[string(registry.AppendCanonical(buf[:0], name))]
	}
	s.mu.RUnlock()
	return m
}

// Lookup returns the target called name: a mapped name, its lower-camel
// form, or a command id in decimal. It returns nil for a command that is not
// mapped. It is the Dispatcher hook the broker calls for each call it reads;
// on a Serial service it also takes the call's place in the queue (and
// returns a method value of its own that identifies the call), so use Target
// to inspect a service. On a Parallel service it is a map access and does not
// allocate.
func (s *Service) Lookup(name string) *registry.Method {
	m := s.target(name)
	if m == nil || s.queue == nil {
		return m
	}
	return s.queue.reserve(m)
}

// Call runs the target m (from Lookup or Target) with args, which must fit
// its parameters, in the service's run style. It is the Dispatcher hook the
// broker calls; CallTarget is the convenient local form. A panicking target
// returns an error matching ErrPanic that also unwraps to the
// *registry.PanicError. On a Serial service, a call whose ctx ends while it
// waits for its turn returns ctx's error without running.
func (s *Service) Call(ctx context.Context, m *registry.Method, args []reflect.Value) (reflect.Value, error) {
	if m == nil {
		return reflect.Value{}, fmt.Errorf("%w: nil target", rpc.ErrBadArguments)
	}
	if s.queue != nil {
		t, err := s.queue.acquire(ctx, m)
		if err != nil {
			return reflect.Value{}, err
		}
		defer s.queue.release(t)
	}
	res, err := m.Call(ctx, reflect.Value{}, args)
	if err != nil {
		var pe *registry.PanicError
		if errors.As(err, &pe) && !errors.Is(err, rpc.ErrPanic) {
			err = fmt.Errorf("%w: %w", rpc.ErrPanic, err)
		}
	}
	return res, err
}

// CallTarget runs the target of command (a name or an int id) with args in
// this process (Firefly's callTarget) and stores its result in reply: a
// pointer to a variable of the result's type, or nil to discard it. reply is
// left alone for a target without a result. Arguments must be assignable to
// the target's parameters; nil stands for a zero value.
//
// A command that is not mapped is an error matching ErrNoSuchMethod naming
// the command; the target's own error is returned as it is.
func (s *Service) CallTarget(ctx context.Context, command any, reply any, args ...any) error {
	name, err := commandName(command)
	if err != nil {
		return err
	}
	m := s.target(name)
	if m == nil {
		s.log.Debug("distributed: no such target", "service", s.name, "command", name)
		return fmt.Errorf("%w: %q in service %q", rpc.ErrNoSuchMethod, name, s.name)
	}
	in, err := rpc.LocalArgs(m, args)
	if err != nil {
		return err
	}
	res, err := s.Call(ctx, m, in)
	if err != nil {
		return err
	}
	if reply == nil || m.Result == nil {
		return nil
	}
	return rpc.SetReply(reply, res)
}

// commandName returns the wire name of a command: a string as it is, an
// integer in decimal.
func commandName(command any) (string, error) {
	switch c := command.(type) {
	case string:
		return c, nil
	case int:
		return strconv.Itoa(c), nil
	case int8:
		return strconv.FormatInt(int64(c), 10), nil
	case int16:
		return strconv.FormatInt(int64(c), 10), nil
	case int32:
		return strconv.FormatInt(int64(c), 10), nil
	case int64:
		return strconv.FormatInt(c, 10), nil
	case uint:
		return strconv.FormatUint(uint64(c), 10), nil
	case uint8:
		return strconv.FormatUint(uint64(c), 10), nil
	case uint16:
		return strconv.FormatUint(uint64(c), 10), nil
	case uint32:
		return strconv.FormatUint(uint64(c), 10), nil
	case uint64:
		return strconv.FormatUint(c, 10), nil
	}
	return "", fmt.Errorf("%w: a command is a string or an integer, not %T", rpc.ErrBadArguments, command)
}

// serialQueue gives a Serial service's calls their turns: a ticket per call,
// numbered in arrival order, and only the ticket at the head runs.
//
// A ticket is taken when the broker looks the call up (reserve), or when the
// call starts if it was not looked up through the queue (acquire). Tickets
// from [head, next) that have not finished are in tickets; a finished or
// abandoned ticket is deleted and head moves past it.
type serialQueue struct {
	grace time.Duration

	mu       sync.Mutex
	next     uint64
	head     uint64
	tickets  map[uint64]*ticket
	reserved map[*registry.Method]*ticket // reserved tickets by their lookup's method value
	waiting  int                          // tickets in state waiting
	timer    *time.Timer                  // expires a reserved head while calls wait
}

type ticketState uint8

const (
	ticketReserved ticketState = iota // looked up; its call has not started
	ticketWaiting                     // its call waits for its turn
	ticketRunning                     // its call runs
)

type ticket struct {
	seq   uint64
	state ticketState
	m     *registry.Method // the lookup's method value (reserved tickets)
	at    time.Time        // when it was taken
	wake  chan struct{}    // closed when a waiting ticket's turn comes
}

func newSerialQueue(grace time.Duration) *serialQueue {
	return &serialQueue{
		grace:    grace,
		tickets:  make(map[uint64]*ticket),
		reserved: make(map[*registry.Method]*ticket),
	}
}

// reserve takes a ticket for a call of m being looked up and returns the
// method value that identifies it: a copy of m.
func (q *serialQueue) reserve(m *registry.Method) *registry.Method {
	id := new(registry.Method)
	*id = *m
	now := time.Now()
	q.mu.Lock()
	t := &ticket{seq: q.next, m: id, at: now}
	q.next++
	q.tickets[t.seq] = t
	q.reserved[id] = t
	q.update(now)
	q.mu.Unlock()
	return id
}

// acquire waits for the turn of the call of m: the ticket reserved by its
// lookup, or a new one.
func (q *serialQueue) acquire(ctx context.Context, m *registry.Method) (*ticket, error) {
	now := time.Now()
	q.mu.Lock()
	t := q.reserved[m]
	if t != nil {
		delete(q.reserved, m)
		t.m = nil
	} else {
		t = &ticket{seq: q.next, at: now}
		q.next++
		q.tickets[t.seq] = t
	}
	t.state = ticketWaiting
	t.wake = make(chan struct{})
	q.waiting++
	q.update(now)
	if t.state == ticketRunning {
		q.mu.Unlock()
		return t, nil
	}
	q.mu.Unlock()
	select {
	case <-t.wake:
		return t, nil
	case <-ctx.Done():
	}
	q.mu.Lock()
	if t.state == ticketWaiting {
		q.waiting--
	}
	delete(q.tickets, t.seq) // gives up its turn, or the turn it was just given
	q.update(time.Now())
	q.mu.Unlock()
	return nil, ctx.Err()
}

// release ends a running call's turn.
func (q *serialQueue) release(t *ticket) {
	q.mu.Lock()
	delete(q.tickets, t.seq)
	q.update(time.Now())
	q.mu.Unlock()
}

// update moves head past finished tickets and reserved ones whose grace is
// over, starts the head's call if it waits, and arms the timer when calls
// wait behind a reserved head. q.mu is held.
func (q *serialQueue) update(now time.Time) {
	var t *ticket
	for ; q.head < q.next; q.head++ {
		t = q.tickets[q.head]
		if t == nil {
			continue
		}
		if t.state == ticketReserved && now.Sub(t.at) >= q.grace {
			delete(q.tickets, t.seq)
			delete(q.reserved, t.m)
			continue
		}
		break
	}
	if q.head == q.next {
		return
	}
	switch t.state {
	case ticketWaiting:
		t.state = ticketRunning
		q.waiting--
		close(t.wake)
	case ticketReserved:
		if q.waiting > 0 {
			d := t.at.Add(q.grace).Sub(now)
			if q.timer == nil {
				q.timer = time.AfterFunc(d, q.expire)
			} else {
				q.timer.Reset(d)
			}
		}
	}
}

// abandon frees the ticket reserved by the lookup that returned m.
func (q *serialQueue) abandon(m *registry.Method) {
	q.mu.Lock()
	if t := q.reserved[m]; t != nil {
		delete(q.reserved, m)
		delete(q.tickets, t.seq)
		q.update(time.Now())
	}
	q.mu.Unlock()
}

// expire runs when a reserved head's grace may be over.
func (q *serialQueue) expire() {
	q.mu.Lock()
	q.update(time.Now())
	q.mu.Unlock()
}

// Methods returns the mapped targets, sorted by their command (for
// introspection). A target mapped by id is listed under its decimal id.
func (s *Service) Methods() []*registry.Method {
	keys := s.Targets()
	ms := make([]*registry.Method, 0, len(keys))
	for _, k := range keys {
		if m := s.target(k); m != nil {
			ms = append(ms, m)
		}
	}
	return ms
}

// ContextFree reports whether the broker's calls of target m never use
// their context (see rpc.ContextFree): on a Parallel service, for a target
// that takes none. A Serial service's calls wait for their turn bounded by
// it.
func (s *Service) ContextFree(m *registry.Method) bool {
	return s.queue == nil && !m.HasContext()
}

// Abandon frees the place in a Serial service's queue that Lookup reserved
// for m, whose call the broker refused (see Abandoner). It does nothing on a
// Parallel service.
func (s *Service) Abandon(m *registry.Method) {
	if s.queue != nil {
		s.queue.abandon(m)
	}
}
