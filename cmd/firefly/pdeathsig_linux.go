package main

import (
	"os/exec"
	"syscall"
)

// setPdeathsig has the child terminated if the launcher dies without
// stopping it.
func setPdeathsig(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGTERM}
}
