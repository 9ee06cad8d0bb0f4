package pb

import (
	"math/big"
	"reflect"
	"time"
)

// Python values as Jelly carries them (PB-WIRE.md §3.1). A value decoded by
// unjelly, and a value jelly accepts, is one of:
//
//	nil          None
//	bool         bool
//	int64        int that fits in 64 bits; *big.Int beyond (always int64 when it fits)
//	float64      float
//	[]byte       bytes on Python 3, str on Python 2 (a bare Banana string)
//	string       str on Python 3, unicode on Python 2 (['unicode', utf8])
//	[]any        list
//	Tuple        tuple
//	Set          set
//	FrozenSet    frozenset
//	*Dict        dict, its items in order; keys of any hashable type
//	*Instance    a pb.Copyable (class name and state)
//	*Failure     twisted.spread.pb.CopyableFailure
//	*Unpersistable  a value the sender could not serialize
//	time.Time    naive datetime.datetime (and datetime.date on receipt)
//	time.Duration  datetime.timedelta
//
// and whatever the broker's hooks return for remote and local references.
// A structure reached twice in one serialization decodes to the same Go
// value twice (the same slice or pointer), cycles included.

// Tuple is a Python tuple.
type Tuple []any

// Set is a Python set.
type Set []any

// FrozenSet is a Python frozenset.
type FrozenSet []any

// Dict is a Python dict: its items in insertion order. Keys are any hashable
// jelly value, tuples included, so it is not a Go map.
type Dict struct {
	Items []DictItem
}

// DictItem is one key and value of a Dict.
type DictItem struct {
	Key, Value any
}

// Get returns the value of the last item whose key equals key (as Python
// compares keys: a string matches a []byte of the same bytes only when
// byteKeys is true, which is how Twisted treats keyword and state keys), and
// whether there is one.
func (d *Dict) Get(key any, byteKeys bool) (any, bool) {
	if d == nil {
		return nil, false
	}
	for i := len(d.Items) - 1; i >= 0; i-- {
		if keyEqual(d.Items[i].Key, key, byteKeys) {
			return d.Items[i].Value, true
		}
	}
	return nil, false
}

// Instance is a pb.Copyable: the class name the sender gave it (its
// getTypeToCopyFor, by default "module.Class") and its state.
type Instance struct {
	Class string
	State *Dict
}

// Failure is Twisted's CopyableFailure: an exception that crossed the wire.
// Type is the exception's qualified class name ("builtins.ValueError"), Value
// its str(), Parents the qualified names along its MRO, which Python's
// Failure.check and trap compare against.
type Failure struct {
	Type      string
	Value     string
	Traceback string
	Parents   []string
}

// Error returns the failure as Twisted prints it: "Type: Value".
func (f *Failure) Error() string { return f.Type + ": " + f.Value }

// Unpersistable is a value the sender could not serialize
// (['unpersistable', reason]).
type Unpersistable struct {
	Reason string
}

// Error returns the reason the peer could not serialise the value.
func (u *Unpersistable) Error() string { return "pb: unpersistable: " + u.Reason }

// keyEqual compares two dict keys the way Python would for the key types
// jelly carries; with byteKeys a string and a []byte of the same bytes are
// equal.
func keyEqual(a, b any, byteKeys bool) bool {
	switch a := a.(type) {
	case nil:
		return b == nil
	case string:
		switch b := b.(type) {
		case string:
			return a == b
		case []byte:
			return byteKeys && a == string(b)
		}
	case []byte:
		switch b := b.(type) {
		case []byte:
			return string(a) == string(b)
		case string:
			return byteKeys && string(a) == b
		}
	case bool, float64:
		return a == b
	case int64:
		switch b := b.(type) {
		case int64:
			return a == b
		case int:
			return a == int64(b)
		}
	case int:
		return keyEqual(int64(a), b, byteKeys)
	case *big.Int:
		b, ok := b.(*big.Int)
		return ok && a.Cmp(b) == 0
	case time.Time:
		b, ok := b.(time.Time)
		return ok && a.Equal(b)
	case time.Duration:
		return a == b
	case Tuple:
		b, ok := b.(Tuple)
		if !ok || len(a) != len(b) {
			return false
		}
		for i := range a {
			if !keyEqual(a[i], b[i], byteKeys) {
				return false
			}
		}
		return true
	}
	return false
}

// pythonType names the Python type of a jelly value, for errors.
func pythonType(v any) string {
	switch v := v.(type) {
	case nil:
		return "None"
	case bool:
		return "bool"
	case int64, *big.Int, int:
		return "int"
	case float64:
		return "float"
	case []byte:
		return "bytes"
	case string:
		return "str"
	case []any:
		return "list"
	case Tuple:
		return "tuple"
	case Set:
		return "set"
	case FrozenSet:
		return "frozenset"
	case *Dict:
		return "dict"
	case *Instance:
		return "instance of " + v.Class
	case *Failure:
		return "CopyableFailure"
	case *Unpersistable:
		return "unpersistable"
	case time.Time:
		return "datetime"
	case time.Duration:
		return "timedelta"
	}
	return reflect.TypeOf(v).String()
}
