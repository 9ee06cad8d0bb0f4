package pb

import (
	"reflect"
	"time"

	"github.com/fireflyrpc/firefly/registry"
)

// workerIdle is how long an idle handler goroutine waits for another call
// before it ends.
const workerIdle = 2 * time.Second

// handlerJob is one call for a handler goroutine: its target, method,
// converted arguments and how to answer it.
type handlerJob struct {
	t     *target
	m     *registry.Method
	in    []reflect.Value
	reqID int64
	want  bool
}

// dispatch hands job to an idle handler goroutine of the connection, or
// starts one. It never blocks: the send on the unbuffered jobs channel
// succeeds only when a goroutine is waiting in it. Reusing goroutines keeps
// their grown stacks; a new goroutine per call grows its stack through
// reflect on every call.
func (c *Conn) dispatch(job handlerJob) {
	select {
	case c.jobs <- job:
	default:
		go c.worker(job)
	}
}

// worker runs job, then the calls dispatched to it, until it has been idle
// for workerIdle or the connection is gone.
func (c *Conn) worker(job handlerJob) {
	var idle *time.Timer
	for {
		c.serve(job.t, job.m, job.in, job.reqID, job.want)
		job = handlerJob{}
		if idle == nil {
			idle = time.NewTimer(workerIdle)
			defer idle.Stop()
		} else {
			idle.Reset(workerIdle)
		}
		select {
		case job = <-c.jobs:
		case <-idle.C:
			return
		case <-c.done:
			return
		}
	}
}
