//go:build unix

package netconnect

import "syscall"

// errTooManyFiles is the accept error of a process out of descriptors.
const errTooManyFiles = syscall.EMFILE
