package registry

import (
	"context"
	"reflect"
	"testing"
)

type smoke struct{}

func (*smoke) RemoteTakeTwo(ctx context.Context, a int, b string) (string, error) {
	return b + b, nil
}

func TestSmoke(t *testing.T) {
	o, err := New(Options{}).Object(&smoke{})
	if err != nil {
		t.Fatal(err)
	}
	m := o.Lookup("takeTwo")
	if m == nil || m.String() != "TakeTwo(ctx, int, string) (string, error)" {
		t.Fatalf("lookup: %v", m)
	}
	res, err := o.Call(context.Background(), m, []reflect.Value{reflect.ValueOf(1), reflect.ValueOf("x")})
	if err != nil || res.String() != "xx" {
		t.Fatalf("call: %v %v", res, err)
	}
}
