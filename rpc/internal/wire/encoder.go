package wire

import (
	"encoding/gob"
	"reflect"
	"unsafe"
)

// Encoder is a lane's encoding state: the lane's gob encoder, which writes
// into the lane's message buffer, what the lane learnt of the record types
// it sent, and the types it announced (see gobtypes.go).
type Encoder struct {
	gob       *gob.Encoder
	buf       *[]byte // the lane's message buffer
	lastWrite int     // where gob's last write began in *buf
	plans     TypeMemo[*Plan]
	// The dynamic type RecordOf was asked of last, and its plan.
	recType unsafe.Pointer
	recPlan *Plan

	ifaceTypes map[reflect.Type]bool // types that can hold interface values
	announced  map[reflect.Type]bool // concrete types described ahead of values
	found      []reflect.Type
}

// Init has e encode into *buf, with a gob encoder of its own.
func (e *Encoder) Init(buf *[]byte) {
	e.buf = buf
	e.gob = gob.NewEncoder(e)
}

// Write appends gob's output to the message being built.
func (e *Encoder) Write(p []byte) (int, error) {
	e.lastWrite = len(*e.buf)
	*e.buf = append(*e.buf, p...)
	return len(p), nil
}

// EncodeGob appends v as one gob value: the types it needs described first
// (announceTypes), then one value message. gob's panics are contained. An
// error means the encoder may believe it sent types that the peer never
// sees.
func (e *Encoder) EncodeGob(v reflect.Value) error {
	e.announceTypes(v)
	return e.encodeRaw(v)
}
