package registry

import (
	"errors"
	"fmt"
	"strings"
)

// ErrBadArguments is wrapped by the error [Method.Call] and [Object.Call] return
// when the arguments do not fit the method: wrong count, wrong types, invalid
// or unexported reflect values, a receiver of the wrong type, or a nil method.
// The method is not run in that case.
var ErrBadArguments = errors.New("registry: bad arguments")

// RegistrationError reports why a value or a function could not be registered.
//
// Type is the Go type being registered ("" for [Registry.Func]); Method is the
// Go name of the offending method (for example "RemoteTakeTwo"), or the name
// given to [Registry.Func], or "" when the problem is the value itself (a nil
// pointer, for example). Reason says what is wrong.
//
// When several methods of one type are bad, [Registry.Object] returns them
// all, joined with [errors.Join]; [errors.As] finds the first.
type RegistrationError struct {
	Type, Method, Reason string
}

// Error names the type and method and gives the reason, for example
//
//	registry: method (*main.One).RemoteTakeTwo: parameter 1 (chan int): gob cannot carry chan int
func (e *RegistrationError) Error() string {
	var b strings.Builder
	b.WriteString("registry: ")
	switch {
	case e.Type != "" && e.Method != "":
		b.WriteString("method ")
		if strings.HasPrefix(e.Type, "*") {
			b.WriteString("(" + e.Type + ")")
		} else {
			b.WriteString(e.Type)
		}
		b.WriteString("." + e.Method)
	case e.Method != "":
		b.WriteString("func " + e.Method)
	case e.Type != "":
		b.WriteString("type " + e.Type)
	default:
		b.WriteString(e.Reason)
		return b.String()
	}
	b.WriteString(": ")
	b.WriteString(e.Reason)
	return b.String()
}

// PanicError is the error [Method.Call] returns when the method panicked.
// The panic is recovered so that the process, and the connection that
// carried the call, live on.
type PanicError struct {
	// Method is the exposed name of the method that panicked.
	Method string
	// Value is the value passed to panic.
	Value any
	// Stack is the stack of the goroutine at the moment of the panic,
	// as printed by runtime/debug.Stack.
	Stack []byte
}

// Error names the method and the panic value. The stack is not included.
func (e *PanicError) Error() string {
	return fmt.Sprintf("registry: method %s panicked: %v", e.Method, e.Value)
}

// Unwrap returns the panic value when it is an error, so that errors.Is and
// errors.As see through a panic(err).
func (e *PanicError) Unwrap() error {
	if err, ok := e.Value.(error); ok {
		return err
	}
	return nil
}

// joinErrors returns nil, the only error, or all of them joined.
func joinErrors(errs []error) error {
	switch len(errs) {
	case 0:
		return nil
	case 1:
		return errs[0]
	}
	return errors.Join(errs...)
}
