//go:build !linux

package otelcoltest

import "syscall"

// procAttr: without Pdeathsig, a collector outlives a test process that
// dies without running its cleanups.
func procAttr() *syscall.SysProcAttr { return nil }
