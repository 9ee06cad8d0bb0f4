package registry

import (
	"context"
	"errors"
	"strings"
	"testing"
)

// marker stands for an embedded marker type such as rpc.Referenceable: its
// methods are not remote and must stay unreachable.
type marker struct{}

func (marker) IsMarker() bool { return true }
func (marker) Release()       {}
func (marker) String() string { return "marker" }

type named1 struct {
	marker
	closed bool
}

func (*named1) RemoteTakeTwo(a, b int) int { return a + b }
func (*named1) RemoteÉtat() string         { return "état" }
func (*named1) RemoteϒX() string           { return "upsilon" }
func (*named1) String() string             { return "named1" }
func (n *named1) Close() error             { n.closed = true; return nil }
func (*named1) remoteFoo() string          { return "unexported" }
func (*named1) REMOTEFoo() string          { return "shouting" }
func (*named1) Remote() string             { return "bare" }
func (*named1) Remotefoo() string          { return "lower after prefix" }
func (*named1) Remote_x() string           { return "underscore" }
func (*named1) Remote9() string            { return "digit" }
func (*named1) TakeTwo(a, b int) int       { return a * b }

var _ = (*named1).remoteFoo

func TestOnlyRemoteMethodsAreReachable(t *testing.T) {
	o := mustObject(t, New(Options{}), &named1{})
	var names []string
	for _, m := range o.Methods() {
		names = append(names, m.Name)
	}
	if got := strings.Join(names, ","); got != "TakeTwo,État,ϒX" {
		t.Errorf("Methods() = %s", got)
	}

	for _, name := range []string{"TakeTwo", "takeTwo"} {
		m := o.Lookup(name)
		if m == nil || m.Name != "TakeTwo" {
			t.Fatalf("Lookup(%q) = %v, want TakeTwo", name, m)
		}
		// It is RemoteTakeTwo (a+b) that runs, not the plain TakeTwo (a*b).
		res, err := o.Call(context.Background(), m, vals(3, 4))
		if err != nil || res.Int() != 7 {
			t.Errorf("Call via %q: %v, %v; want 7", name, res, err)
		}
	}
	for _, name := range []string{"État", "état", "ϒX"} {
		if o.Lookup(name) == nil {
			t.Errorf("Lookup(%q) = nil", name)
		}
	}

	unreachable := []string{
		"", "Remote", "remote", "String", "string", "Close", "close",
		"IsMarker", "isMarker", "Release", "release",
		"remoteFoo", "RemoteFoo", "Foo", "foo", "REMOTEFoo", "rEMOTEFoo",
		"Remotefoo", "remotefoo", "_x", "Remote_x", "x", "9", "Remote9",
		"RemoteTakeTwo", "remoteTakeTwo", "takeTWO", "TAKETWO", "taketwo", "Taketwo",
		"TakeTwo ", " takeTwo", "take_two", "ÉTAT", "etat", "Etat",
	}
	for _, name := range unreachable {
		if m := o.Lookup(name); m != nil {
			t.Errorf("Lookup(%q) = %v, want nil", name, m)
		}
	}
}

// Exposed names are case-stable: a name that finds a method finds the same
// method once canonicalised.
func TestLookupAgreesWithCanonical(t *testing.T) {
	o := mustObject(t, New(Options{}), &named1{})
	for _, m := range o.Methods() {
		for _, name := range []string{m.Name, lowerCamel(m.Name)} {
			if o.Lookup(name) != m || o.Lookup(Canonical(name)) != m {
				t.Errorf("%q: Lookup(name) and Lookup(Canonical(name)) disagree", name)
			}
		}
	}
}

func TestCanonical(t *testing.T) {
	tests := map[string]string{
		"":        "",
		"takeTwo": "TakeTwo",
		"TakeTwo": "TakeTwo",
		"takeTWO": "TakeTWO",
		"t":       "T",
		"état":    "État",
		"_x":      "_x",
		"9lives":  "9lives",
		"ǆx":      "Ǆx",
		"\xffab":  "\xffab",
	}
	for in, want := range tests {
		if got := Canonical(in); got != want {
			t.Errorf("Canonical(%q) = %q, want %q", in, got, want)
		}
	}
	if n := testing.AllocsPerRun(100, func() { _ = Canonical("TakeTwo") }); n != 0 {
		t.Errorf("Canonical of a canonical name allocates %v times", n)
	}
}

// kelvin has RemoteKey and RemoteKey: "Key" lowers to "key", which is
// also the lower-camel form of "Key".
type kelvin struct{}

func (kelvin) RemoteKey() int { return 1 }
func (kelvin) RemoteKey() int { return 2 }

// loneKelvin has only the Kelvin name: no collision, but the name is not
// case-stable ("key" canonicalises to "Key").
type loneKelvin struct{}

func (loneKelvin) RemoteKey() int { return 2 }

// dotted has RemoteID and RemoteİD (U+0130): both answer to "iD".
type dotted struct{}

func (dotted) RemoteID() int { return 1 }
func (dotted) RemoteİD() int { return 2 }

func TestCaseCollisions(t *testing.T) {
	r := New(Options{})
	_, err := r.Object(kelvin{})
	if err == nil {
		t.Fatal("kelvin: no error")
	}
	msg := err.Error()
	for _, want := range []string{
		`registry: method registry.kelvin.RemoteKey: exposed name "Key" is not case-stable: its lower-camel form "key" canonicalises to "Key"`,
		`registry: method registry.kelvin.RemoteKey: exposed name "Key" collides with "Key" of RemoteKey: both answer to "key"`,
	} {
		if !strings.Contains(msg, want) {
			t.Errorf("kelvin: error\n%s\nlacks\n%s", msg, want)
		}
	}

	_, err = r.Object(loneKelvin{})
	want := `registry: method registry.loneKelvin.RemoteKey: exposed name "Key" is not case-stable: its lower-camel form "key" canonicalises to "Key"`
	if err == nil || err.Error() != want {
		t.Errorf("loneKelvin: error %v, want %s", err, want)
	}

	_, err = r.Object(dotted{})
	var re *RegistrationError
	if !errors.As(err, &re) || !strings.Contains(err.Error(), `exposed name "İD" collides with "ID" of RemoteID: both answer to "iD"`) {
		t.Errorf("dotted: %v", err)
	}
}
