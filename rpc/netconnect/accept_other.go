//go:build !unix

package netconnect

import "errors"

// errTooManyFiles is never returned where descriptors are not counted so.
var errTooManyFiles = errors.New("netconnect: too many open files")
