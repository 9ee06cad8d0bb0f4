package broker

import (
	"errors"
	"testing"
	"time"
)

func TestNotifications(t *testing.T) {
	var l Notifications
	got := make(chan error, 4)
	l.Add(func(err error) { got <- err })
	cancel := l.Add(func(err error) { got <- errors.New("cancelled, yet called") })
	cancel()
	end := errors.New("end")
	l.Fire(end)
	l.Fire(errors.New("second"))
	if err := <-got; err != end {
		t.Fatalf("added before Fire: got %v, want %v", err, end)
	}
	l.Add(func(err error) { got <- err })
	if err := <-got; err != end {
		t.Fatalf("added after Fire: got %v, want %v", err, end)
	}
	select {
	case err := <-got:
		t.Fatalf("an extra call: %v", err)
	case <-time.After(50 * time.Millisecond):
	}
}
