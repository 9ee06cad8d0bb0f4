//go:build !unix

package firefly_test

import (
	"testing"
	"time"
)

// processCPU is 0 where the process's CPU time is not read.
func processCPU(testing.TB) time.Duration { return 0 }
