//go:build linux

package proxy

import (
	"io"
	"net"
	"syscall"
	"unsafe"
)

// rawTCP is a *net.TCPConn whose Read and Write issue the read(2) and
// write(2) system calls with syscall.RawSyscall, waiting for readiness
// through the runtime's network poller (syscall.RawConn) as net.Conn does.
//
// Why: every ordinary system call enters the scheduler (entersyscall), and
// when all Ps were idle that wakes the runtime's sysmon thread. A proxy that
// relays one small request and one small response per transaction goes idle
// between them, so it paid a sysmon wake-up (a futex and a context switch)
// on almost every call: measured here, 3.9 context switches per pgbench
// select-only transaction against pgbouncer's 2.0. The sockets are
// non-blocking, so read and write never block the thread and do not need
// the scheduler's hand-off. unsafe is used for the system call ABI only.
//
// Deadlines, Close and the netpoller behave exactly as for net.TCPConn,
// because waiting goes through RawConn. A rawTCP is read by one goroutine
// and written by one goroutine at a time (the relays guarantee that).
type rawTCP struct {
	*net.TCPConn
	rc syscall.RawConn

	// Per-call state for the bound callbacks below: binding the methods
	// once avoids allocating a closure per call.
	rbuf   []byte
	rn     int
	rerr   syscall.Errno
	readFn func(uintptr) bool
	// Note: skipping the read that would fail with EAGAIN (waiting in the
	// poller first) is not possible through RawConn.Read: it clears the
	// poller's ready flag before calling us, so an edge that arrived before
	// the call would be lost.

	// pump's state (see pump).
	pspace func() []byte
	pgot   func(int) (bool, bool, error)
	perr   error
	pumpFn func(uintptr) bool

	wbuf    []byte
	wn      int
	werr    syscall.Errno
	writeFn func(uintptr) bool
}

// newRawTCP wraps c; it returns c unchanged when c is not a TCP connection.
func newRawTCP(c net.Conn) net.Conn {
	tc, ok := c.(*net.TCPConn)
	if !ok {
		return c
	}
	rc, err := tc.SyscallConn()
	if err != nil {
		return c
	}
	r := &rawTCP{TCPConn: tc, rc: rc}
	r.readFn = r.doRead
	r.writeFn = r.doWrite
	r.pumpFn = r.doPump
	return r
}

func (c *rawTCP) doRead(fd uintptr) bool {
	for {
		n, _, e := syscall.RawSyscall(syscall.SYS_READ, fd, uintptr(unsafe.Pointer(unsafe.SliceData(c.rbuf))), uintptr(len(c.rbuf)))
		switch e {
		case 0:
			c.rn = int(n)
			return true
		case syscall.EINTR:
			continue
		case syscall.EAGAIN:
			return false // wait in the poller, then try again
		default:
			c.rerr = e
			return true
		}
	}
}

// Read reads into p like net.Conn.Read.
func (c *rawTCP) Read(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	c.rbuf, c.rn, c.rerr = p, 0, 0
	err := c.rc.Read(c.readFn)
	c.rbuf = nil
	if err != nil {
		return 0, &net.OpError{Op: "read", Net: "tcp", Source: c.LocalAddr(), Addr: c.RemoteAddr(), Err: err}
	}
	if c.rerr != 0 {
		return 0, &net.OpError{Op: "read", Net: "tcp", Source: c.LocalAddr(), Addr: c.RemoteAddr(), Err: c.rerr}
	}
	if c.rn == 0 {
		return 0, io.EOF
	}
	return c.rn, nil
}

func (c *rawTCP) doWrite(fd uintptr) bool {
	for c.wn < len(c.wbuf) {
		rest := c.wbuf[c.wn:]
		n, _, e := syscall.RawSyscall(syscall.SYS_WRITE, fd, uintptr(unsafe.Pointer(unsafe.SliceData(rest))), uintptr(len(rest)))
		switch e {
		case 0:
			c.wn += int(n)
		case syscall.EINTR:
		case syscall.EAGAIN:
			return false
		default:
			c.werr = e
			return true
		}
	}
	return true
}

// Write writes all of p like net.Conn.Write.
func (c *rawTCP) Write(p []byte) (int, error) {
	c.wbuf, c.wn, c.werr = p, 0, 0
	err := c.rc.Write(c.writeFn)
	n := c.wn
	c.wbuf = nil
	if err == nil && c.werr != 0 {
		err = c.werr
	}
	if err != nil {
		return n, &net.OpError{Op: "write", Net: "tcp", Source: c.LocalAddr(), Addr: c.RemoteAddr(), Err: err}
	}
	return n, nil
}

// pump implements pumper: it reads inside a single RawConn.Read call, handing
// each read to got, and waits in the poller between reads.
//
// Staying inside one RawConn.Read is what makes a short read enough when got
// reports the peer quiet: the poller's ready flag is cleared only when
// RawConn.Read begins, so data that arrives after our last read(2) sets it
// and ends the wait at once, and a read that returned less than the
// buffer's size means the socket held no more data (a FIN that came with
// it is the exception frameReader.pump explains). A loop over Read cannot
// skip the read that reports EAGAIN, because each Read call begins by
// clearing the flag (see Read's note above).
func (c *rawTCP) pump(space func() []byte, got func(int) (bool, bool, error)) error {
	c.pspace, c.pgot, c.perr = space, got, nil
	err := c.rc.Read(c.pumpFn)
	c.pspace, c.pgot = nil, nil
	if err != nil {
		return &net.OpError{Op: "read", Net: "tcp", Source: c.LocalAddr(), Addr: c.RemoteAddr(), Err: err}
	}
	return c.perr
}

func (c *rawTCP) doPump(fd uintptr) bool {
	for {
		p := c.pspace()
		n, _, e := syscall.RawSyscall(syscall.SYS_READ, fd, uintptr(unsafe.Pointer(unsafe.SliceData(p))), uintptr(len(p)))
		switch e {
		case 0:
		case syscall.EINTR:
			continue
		case syscall.EAGAIN:
			return false
		default:
			c.perr = &net.OpError{Op: "read", Net: "tcp", Source: c.LocalAddr(), Addr: c.RemoteAddr(), Err: e}
			return true
		}
		if n == 0 {
			c.perr = io.EOF
			return true
		}
		stop, quiet, err := c.pgot(int(n))
		if stop || err != nil {
			c.perr = err
			return true
		}
		if quiet && int(n) < len(p) {
			return false // the socket is drained: wait for the next edge
		}
	}
}
