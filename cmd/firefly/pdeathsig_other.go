//go:build !linux

package main

import "os/exec"

// setPdeathsig does nothing outside Linux.
func setPdeathsig(cmd *exec.Cmd) {}
