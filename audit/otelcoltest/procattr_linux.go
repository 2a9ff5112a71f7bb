package otelcoltest

import "syscall"

// procAttr puts the collector in its own process group and has the kernel
// send it SIGTERM if the test process dies, so a panicking test leaves no
// collector behind.
func procAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGTERM}
}
