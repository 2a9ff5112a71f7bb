package proxy

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
)

// Framing of PostgreSQL protocol-3 messages after startup: a 1-byte type, a
// 4-byte big-endian length that counts itself but not the type, then the body.
// https://www.postgresql.org/docs/current/protocol-overview.html#PROTOCOL-MESSAGE-CONCEPTS

const (
	headerLen = 5

	// defaultReadBufSize is the size of a session's reused read buffer per
	// direction. Postgres itself sends in 8 KiB chunks (PqSendBufferSize), so
	// 16 KiB holds a full upstream send plus a partial frame.
	defaultReadBufSize = 16 << 10

	// defaultFlushThreshold is the output size past which a relay writes even
	// though more input is already buffered.
	defaultFlushThreshold = 32 << 10

	// directWriteThreshold: a frame body at least this large is written
	// straight from the read buffer after flushing what is pending, instead of
	// being copied into the output buffer.
	directWriteThreshold = 64 << 10
)

// ErrMessageTooLarge is returned when a peer announces a message larger than
// the configured maximum.
var ErrMessageTooLarge = errors.New("message too large")

// errBadLength is returned for a length field smaller than the length field
// itself.
var errBadLength = errors.New("invalid message length")

// frameReader reads protocol messages from r into a reused buffer.
//
// The body returned by next aliases the reader's buffer and is valid only
// until the following call to next or fill.
type frameReader struct {
	r       io.Reader
	buf     []byte // reused; len(buf) == cap(buf)
	start   int    // first unread byte
	end     int    // one past the last read byte
	maxBody int
	// quietAfter lists the message types after which the peer sends nothing
	// until it hears from us (for Postgres, ReadyForQuery; for a client, a
	// Query or Sync); last is the type take returned last. See pump.
	quietAfter string
	last       byte
	// big is a larger buffer borrowed from bigPool for a frame that does not
	// fit buf; it is returned on the next call to next.
	big *[]byte
}

func newFrameReader(r io.Reader, size, maxBody int) *frameReader {
	if size <= 0 {
		size = defaultReadBufSize
	}
	return &frameReader{r: r, buf: make([]byte, size), maxBody: maxBody}
}

// hasFrame reports whether a complete frame is already buffered, that is,
// whether the next call to next can return without reading from the socket.
// Relays flush their output before a read that would block.
func (fr *frameReader) hasFrame() bool {
	n := fr.end - fr.start
	if n < headerLen {
		return false
	}
	l := int(binary.BigEndian.Uint32(fr.buf[fr.start+1:]))
	return n >= 1+l
}

// next returns the next message's type and body. The body aliases an internal
// buffer and is valid until the next call.
func (fr *frameReader) next() (byte, []byte, error) {
	if fr.big != nil {
		putBig(fr.big)
		fr.big = nil
	}
	if err := fr.fill(headerLen); err != nil {
		return 0, nil, err
	}
	typ := fr.buf[fr.start]
	fr.last = typ
	l := int(binary.BigEndian.Uint32(fr.buf[fr.start+1:]))
	if l < 4 || l > 1<<30 {
		return typ, nil, errBadLength
	}
	bodyLen := l - 4
	if fr.maxBody > 0 && bodyLen > fr.maxBody {
		return typ, nil, fmt.Errorf("%w: %d bytes, limit %d", ErrMessageTooLarge, bodyLen, fr.maxBody)
	}
	if headerLen+bodyLen <= len(fr.buf) {
		if err := fr.fill(headerLen + bodyLen); err != nil {
			return typ, nil, err
		}
		body := fr.buf[fr.start+headerLen : fr.start+headerLen+bodyLen : fr.start+headerLen+bodyLen]
		fr.start += headerLen + bodyLen
		return typ, body, nil
	}
	// The frame is larger than the read buffer: borrow a buffer that fits.
	fr.start += headerLen
	bp := getBig(bodyLen)
	body := (*bp)[:bodyLen]
	n := copy(body, fr.buf[fr.start:fr.end])
	fr.start += n
	if _, err := io.ReadFull(fr.r, body[n:]); err != nil {
		putBig(bp)
		return typ, nil, noEOF(err)
	}
	fr.big = bp
	return typ, body, nil
}

// take returns the next message if it is completely buffered, without
// reading from the socket; ok is false when it is not. A frame that next
// must handle (larger than the buffer, or with an invalid length) is never
// returned by take: see needsNext.
func (fr *frameReader) take() (typ byte, body []byte, ok bool) {
	if fr.big != nil {
		putBig(fr.big)
		fr.big = nil
	}
	n := fr.end - fr.start
	if n < headerLen {
		return 0, nil, false
	}
	l := int(binary.BigEndian.Uint32(fr.buf[fr.start+1:]))
	if l < 4 || n < 1+l || (fr.maxBody > 0 && l-4 > fr.maxBody) {
		return 0, nil, false
	}
	typ = fr.buf[fr.start]
	body = fr.buf[fr.start+headerLen : fr.start+1+l : fr.start+1+l]
	fr.start += 1 + l
	fr.last = typ
	return typ, body, true
}

// quiet reports whether everything read has been consumed and the last
// message is one after which the peer waits for us (quietAfter).
func (fr *frameReader) quiet() bool {
	return fr.start == fr.end && fr.last != 0 && strings.IndexByte(fr.quietAfter, fr.last) >= 0
}

// needsNext reports whether the buffered head of the next frame shows that
// take can never return it: it does not fit the buffer, or its length is
// invalid or over the limit. next handles such frames (or reports them).
func (fr *frameReader) needsNext() bool {
	if fr.end-fr.start < headerLen {
		return false
	}
	l := int(binary.BigEndian.Uint32(fr.buf[fr.start+1:]))
	return l < 4 || l > 1<<30 || (fr.maxBody > 0 && l-4 > fr.maxBody) || 1+l > len(fr.buf)
}

// readSpace returns the free tail of the buffer for the next read, first
// moving the unconsumed bytes (a partial frame) to the front when the tail
// has become short.
func (fr *frameReader) readSpace() []byte {
	if fr.start == fr.end {
		fr.start, fr.end = 0, 0
	} else if fr.start > 0 && len(fr.buf)-fr.end < len(fr.buf)/2 {
		fr.end = copy(fr.buf, fr.buf[fr.start:fr.end])
		fr.start = 0
	}
	return fr.buf[fr.end:]
}

// pumper is implemented by connections that can read in place of a
// frameReader's loop, staying in one wait on the socket (rawTCP).
type pumper interface {
	// pump calls space for a buffer, reads into it and calls got with the
	// byte count, until got returns stop or an error, or reading fails
	// (io.EOF at the end of the stream). quiet (see frameReader.quiet)
	// allows it to wait for the socket after a short read without first
	// reading again.
	pump(space func() []byte, got func(n int) (stop, quiet bool, err error)) error
}

// pump reads into the buffer and calls handle after every read (and once
// first, for what is already buffered), until handle returns stop or an
// error, or the connection fails. handle consumes the complete frames with
// take; it returns stop when needsNext, so that the caller reads that frame
// with next.
//
// Compared with a loop over next, pump lets a rawTCP skip the read that
// would only report EAGAIN after a short read: one system call fewer per
// statement for a pass-through session. It skips it only when the peer is
// quiet (it waits for us; only Postgres after ReadyForQuery is taken to be):
// a short read does not show that the peer's FIN arrived with the data, and
// Postgres never closes right after ReadyForQuery unless its backend dies.
// Even then the session ends at our next write to it, whose reset wakes the
// wait (TestUpstreamVanishesAfterReadyForQuery).
func (fr *frameReader) pump(handle func() (stop bool, err error)) error {
	if stop, err := handle(); stop || err != nil {
		return err
	}
	got := func(n int) (bool, bool, error) {
		fr.end += n
		stop, err := handle()
		return stop, fr.quiet(), err
	}
	if p, ok := fr.r.(pumper); ok {
		return fr.pumpEOF(p.pump(fr.readSpace, got))
	}
	for {
		n, err := fr.r.Read(fr.readSpace())
		if n > 0 {
			if stop, _, herr := got(n); stop || herr != nil {
				return herr
			}
		}
		if err != nil {
			return fr.pumpEOF(err)
		}
	}
}

// relayFrames hands every frame read from fr to frame, reading with pump
// (and with next for the frames pump stops at), and calls beforeWait when no
// complete frame is left in the buffer, before it waits for more. It returns
// ended with frame's or beforeWait's error (nil after a clean end) when
// either reports done or fails, and otherwise the error that ended reading.
func (fr *frameReader) relayFrames(frame func(typ byte, body []byte) (done bool, err error), beforeWait func() error) (ended bool, err error) {
	var ferr error
	handle := func() (bool, error) {
		for {
			typ, body, ok := fr.take()
			if !ok {
				break
			}
			if done, err := frame(typ, body); done || err != nil {
				ended, ferr = true, err
				return true, nil
			}
		}
		if fr.needsNext() {
			return true, nil
		}
		if err := beforeWait(); err != nil {
			ended, ferr = true, err
			return true, nil
		}
		return false, nil
	}
	for {
		rerr := fr.pump(handle)
		if ended {
			return true, ferr
		}
		if rerr != nil {
			return false, rerr
		}
		// A frame pump leaves to next: too large for the buffer, or
		// malformed (next reports it).
		typ, body, rerr := fr.next()
		if rerr != nil {
			return false, rerr
		}
		if done, err := frame(typ, body); done || err != nil {
			return true, err
		}
	}
}

// pumpEOF turns io.EOF inside a frame into io.ErrUnexpectedEOF, as next does.
func (fr *frameReader) pumpEOF(err error) error {
	if errors.Is(err, io.EOF) && fr.end > fr.start {
		return io.ErrUnexpectedEOF
	}
	return err
}

// fill makes sure at least n bytes are buffered, compacting and reading as
// needed. n must not exceed len(fr.buf).
func (fr *frameReader) fill(n int) error {
	if fr.end-fr.start >= n {
		return nil
	}
	if fr.start+n > len(fr.buf) {
		fr.end = copy(fr.buf, fr.buf[fr.start:fr.end])
		fr.start = 0
	}
	for fr.end-fr.start < n {
		m, err := fr.r.Read(fr.buf[fr.end:])
		fr.end += m
		if err != nil {
			if fr.end-fr.start >= n {
				return nil
			}
			if errors.Is(err, io.EOF) && fr.end-fr.start > 0 {
				return io.ErrUnexpectedEOF
			}
			return err
		}
	}
	return nil
}

// release returns a borrowed large buffer, if any. Call it when the reader is
// discarded.
func (fr *frameReader) release() {
	if fr.big != nil {
		putBig(fr.big)
		fr.big = nil
	}
}

func noEOF(err error) error {
	if errors.Is(err, io.EOF) {
		return io.ErrUnexpectedEOF
	}
	return err
}

// Size-classed pools for frames that do not fit a session's read buffer, in
// the manner of pgx's iobufpool: powers of two from 64 KiB to 64 MiB. Larger
// frames (when the configured limit allows them) are allocated and dropped.
const (
	minBigShift = 16
	maxBigShift = 26
)

var bigPools [maxBigShift - minBigShift + 1]sync.Pool

func bigClass(n int) int {
	for s := minBigShift; s <= maxBigShift; s++ {
		if n <= 1<<s {
			return s - minBigShift
		}
	}
	return -1
}

func getBig(n int) *[]byte {
	c := bigClass(n)
	if c < 0 {
		b := make([]byte, n)
		return &b
	}
	if v := bigPools[c].Get(); v != nil {
		return v.(*[]byte)
	}
	b := make([]byte, 1<<(c+minBigShift))
	return &b
}

func putBig(bp *[]byte) {
	c := bigClass(cap(*bp))
	if c < 0 || cap(*bp) != 1<<(c+minBigShift) {
		return
	}
	*bp = (*bp)[:cap(*bp)]
	bigPools[c].Put(bp)
}

// frameWriter coalesces outgoing messages into one buffer and writes it in a
// single call. It is owned by one relay goroutine.
type frameWriter struct {
	w         io.Writer
	buf       []byte
	threshold int
	// keep is the capacity the buffer is trimmed back to between queries
	// when a large result made it grow.
	keep int
}

func newFrameWriter(w io.Writer, threshold int) *frameWriter {
	if threshold <= 0 {
		threshold = defaultFlushThreshold
	}
	keep := 2 * threshold
	return &frameWriter{w: w, buf: make([]byte, 0, keep), threshold: threshold, keep: keep}
}

// appendFrame appends one message. Large bodies are written through without
// a copy (after flushing what is pending, to keep the order).
func (fw *frameWriter) appendFrame(typ byte, body []byte) error {
	if len(body) >= directWriteThreshold {
		fw.buf = appendHeader(fw.buf, typ, len(body))
		if err := fw.flush(); err != nil {
			return err
		}
		_, err := fw.w.Write(body)
		return err
	}
	fw.buf = appendHeader(fw.buf, typ, len(body))
	fw.buf = append(fw.buf, body...)
	return nil
}

// appendRaw appends bytes that already form complete messages.
func (fw *frameWriter) appendRaw(b []byte) { fw.buf = append(fw.buf, b...) }

// full reports whether the buffer has passed the flush threshold.
func (fw *frameWriter) full() bool { return len(fw.buf) >= fw.threshold }

// pending reports how many bytes wait to be written.
func (fw *frameWriter) pending() int { return len(fw.buf) }

// flush writes everything buffered.
func (fw *frameWriter) flush() error {
	if len(fw.buf) == 0 {
		return nil
	}
	_, err := fw.w.Write(fw.buf)
	fw.buf = fw.buf[:0]
	return err
}

// trim gives back memory after an unusually large batch. Call it only at a
// quiet point (ReadyForQuery), never per flush.
func (fw *frameWriter) trim() {
	if cap(fw.buf) > 4*fw.keep && len(fw.buf) == 0 {
		fw.buf = make([]byte, 0, fw.keep)
	}
}

func appendHeader(dst []byte, typ byte, bodyLen int) []byte {
	return append(dst, typ, byte((bodyLen+4)>>24), byte((bodyLen+4)>>16), byte((bodyLen+4)>>8), byte(bodyLen+4))
}
