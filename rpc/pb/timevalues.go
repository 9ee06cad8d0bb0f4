package pb

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Python's datetime values (PB-WIRE.md §3.1):
//
//	['datetime', 'Y M D h m s us']   naive datetime.datetime  <->  time.Time
//	['date', 'Y M D']                datetime.date            ->   time.Time at midnight
//	['timedelta', 'days secs us']    datetime.timedelta       <->  time.Duration
//
// A naive datetime has no zone: one received is a time.Time in UTC, and a
// time.Time goes out as its wall clock in its own location, to the
// microsecond. datetime.time and decimal.Decimal are not supported.

const (
	tagDatetime  = "datetime"
	tagDate      = "date"
	tagTimedelta = "timedelta"
)

// jellyTime returns the expression of t, a datetime.
func jellyTime(t time.Time) (any, error) {
	if t.Year() < 1 || t.Year() > 9999 {
		return nil, fmt.Errorf("%w: year %d is outside Python's datetime range", ErrUnsendable, t.Year())
	}
	return []any{tagDatetime, fmt.Sprintf("%d %d %d %d %d %d %d", t.Year(), int(t.Month()), t.Day(),
		t.Hour(), t.Minute(), t.Second(), t.Nanosecond()/1000)}, nil
}

// jellyDuration returns the expression of d, a timedelta normalized as
// Python keeps it: 0 <= secs < 86400 and 0 <= us < 10^6, days carrying the
// sign. Nanoseconds below a microsecond are dropped, rounding down.
func jellyDuration(d time.Duration) any {
	us := int64(d / time.Microsecond)
	if d%time.Microsecond < 0 {
		us--
	}
	const usPerDay = 86400 * 1e6
	days := us / usPerDay
	rem := us % usPerDay
	if rem < 0 {
		days--
		rem += usPerDay
	}
	return []any{tagTimedelta, fmt.Sprintf("%d %d %d", days, rem/1e6, rem%1e6)}
}

// timeFields parses the space-separated decimal integers of a datetime
// expression.
func timeFields(tag []byte, args []any, n int) ([]int64, error) {
	b, err := oneBytes(tag, args)
	if err != nil {
		return nil, err
	}
	parts := strings.Fields(string(b))
	if len(parts) != n {
		return nil, jellyErrorf("%s %q: want %d fields", tag, b, n)
	}
	out := make([]int64, n)
	for i, p := range parts {
		v, err := strconv.ParseInt(p, 10, 64)
		if err != nil {
			return nil, jellyErrorf("%s %q: field %q is not an integer", tag, b, p)
		}
		out[i] = v
	}
	return out, nil
}

func unjellyDatetime(tag []byte, args []any) (any, error) {
	n := 7
	if string(tag) == tagDate {
		n = 3
	}
	f, err := timeFields(tag, args, n)
	if err != nil {
		return nil, err
	}
	f = append(f, make([]int64, 7-n)...)
	limits := [7][2]int64{{1, 9999}, {1, 12}, {1, 31}, {0, 23}, {0, 59}, {0, 59}, {0, 999999}}
	for i, v := range f {
		if v < limits[i][0] || v > limits[i][1] {
			return nil, jellyErrorf("%s %q: field %d out of range", tag, args[0], i+1)
		}
	}
	t := time.Date(int(f[0]), time.Month(f[1]), int(f[2]), int(f[3]), int(f[4]), int(f[5]), int(f[6])*1000, time.UTC)
	if t.Day() != int(f[2]) {
		return nil, jellyErrorf("%s %q: no such day", tag, args[0])
	}
	return t, nil
}

func unjellyTimedelta(tag []byte, args []any) (any, error) {
	f, err := timeFields(tag, args, 3)
	if err != nil {
		return nil, err
	}
	// Python's own bounds: |days| <= 999999999, and the normalized parts.
	if f[0] < -999999999 || f[0] > 999999999 || f[1] < 0 || f[1] >= 86400 || f[2] < 0 || f[2] >= 1e6 {
		return nil, jellyErrorf("timedelta %q out of range", args[0])
	}
	us := f[0]*86400e6 + f[1]*1e6 + f[2]
	const maxUS = int64(time.Duration(1<<63-1) / time.Microsecond)
	if us > maxUS || us < -maxUS {
		return nil, jellyErrorf("timedelta %q does not fit a time.Duration (about 292 years)", args[0])
	}
	return time.Duration(us) * time.Microsecond, nil
}
