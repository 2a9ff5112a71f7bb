package proxy

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"testing"
	"testing/iotest"
	"time"
)

// msg builds one protocol message.
func msg(typ byte, body ...[]byte) []byte {
	b := []byte{typ, 0, 0, 0, 0}
	for _, p := range body {
		b = append(b, p...)
	}
	binary.BigEndian.PutUint32(b[1:], uint32(len(b)-1))
	return b
}

func TestFrameReader(t *testing.T) {
	big := bytes.Repeat([]byte("x"), 100_000)
	stream := bytes.Join([][]byte{
		msg('Q', []byte("select 1\x00")),
		msg('S'),
		msg('D', big),
		msg('X'),
	}, nil)
	want := []struct {
		typ  byte
		body []byte
	}{
		{'Q', []byte("select 1\x00")},
		{'S', []byte{}},
		{'D', big},
		{'X', []byte{}},
	}
	readers := map[string]func(io.Reader) io.Reader{
		"whole":   func(r io.Reader) io.Reader { return r },
		"onebyte": iotest.OneByteReader,
		"half":    iotest.HalfReader,
	}
	for name, wrap := range readers {
		t.Run(name, func(t *testing.T) {
			fr := newFrameReader(wrap(bytes.NewReader(stream)), 64, 1<<20)
			for i, w := range want {
				typ, body, err := fr.next()
				if err != nil {
					t.Fatalf("frame %d: %v", i, err)
				}
				if typ != w.typ || !bytes.Equal(body, w.body) {
					t.Fatalf("frame %d: got %q len %d, want %q len %d", i, typ, len(body), w.typ, len(w.body))
				}
			}
			if _, _, err := fr.next(); !errors.Is(err, io.EOF) {
				t.Fatalf("after last frame: err = %v, want EOF", err)
			}
		})
	}
}

var frameErrorCases = []struct {
	name  string
	input []byte
	max   int
	want  error
}{
	{"length below 4", []byte{'Q', 0, 0, 0, 3}, 1024, errBadLength},
	{"negative length", []byte{'Q', 0xff, 0xff, 0xff, 0xff}, 1024, errBadLength},
	{"over limit", msg('Q', make([]byte, 2000)), 1024, ErrMessageTooLarge},
	{"truncated header", []byte{'Q', 0, 0}, 1024, io.ErrUnexpectedEOF},
	{"truncated body", msg('Q', []byte("abcdef"))[:8], 1024, io.ErrUnexpectedEOF},
	{"truncated big body", msg('D', make([]byte, 5000))[:3000], 1 << 20, io.ErrUnexpectedEOF},
	{"empty", nil, 1024, io.EOF},
}

func TestFrameReaderErrors(t *testing.T) {
	for _, tt := range frameErrorCases {
		t.Run(tt.name, func(t *testing.T) {
			fr := newFrameReader(bytes.NewReader(tt.input), 256, tt.max)
			_, _, err := fr.next()
			if !errors.Is(err, tt.want) {
				t.Fatalf("err = %v, want %v", err, tt.want)
			}
		})
	}
}

// pumpAll reads every frame of fr the way the pass-through relays do
// (relayFrames).
func pumpAll(fr *frameReader) (typs []byte, bodies [][]byte, err error) {
	frame := func(typ byte, body []byte) (bool, error) {
		typs, bodies = append(typs, typ), append(bodies, bytes.Clone(body))
		return false, nil
	}
	_, err = fr.relayFrames(frame, func() error { return nil })
	return typs, bodies, err
}

// TestFramePump: pump and take return the same frames and errors as next,
// whatever the read sizes, over a plain reader and over a rawTCP socket.
func TestFramePump(t *testing.T) {
	big := bytes.Repeat([]byte("x"), 100_000)
	frames := [][]byte{msg('Q', []byte("select 1\x00")), msg('S'), msg('D', big), msg('Z', []byte("I")), msg('X')}
	stream := bytes.Join(frames, nil)
	check := func(t *testing.T, fr *frameReader) {
		t.Helper()
		typs, bodies, err := pumpAll(fr)
		if !errors.Is(err, io.EOF) {
			t.Fatalf("err = %v, want EOF", err)
		}
		if string(typs) != "QSDZX" {
			t.Fatalf("types %q, want QSDZX", typs)
		}
		for i, f := range frames {
			if !bytes.Equal(bodies[i], f[5:]) {
				t.Fatalf("frame %d: body of %d bytes differs", i, len(bodies[i]))
			}
		}
	}
	for name, wrap := range map[string]func(io.Reader) io.Reader{
		"whole":   func(r io.Reader) io.Reader { return r },
		"onebyte": iotest.OneByteReader,
		"half":    iotest.HalfReader,
	} {
		t.Run(name, func(t *testing.T) { check(t, newFrameReader(wrap(bytes.NewReader(stream)), 64, 1<<20)) })
	}
	t.Run("rawTCP", func(t *testing.T) {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer ln.Close()
		go func() {
			c, err := net.Dial("tcp", ln.Addr().String())
			if err != nil {
				return
			}
			defer c.Close()
			// Frames in pieces, with pauses, so that reads end
			// mid-frame and after quiet frames.
			for i := 0; i < len(stream); i += 7000 {
				c.Write(stream[i:min(i+7000, len(stream))])
				time.Sleep(time.Millisecond)
			}
		}()
		c, err := ln.Accept()
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		rc := newRawTCP(c)
		if _, ok := rc.(pumper); !ok {
			t.Skip("no rawTCP on this platform")
		}
		fr := newFrameReader(rc, 1024, 1<<20)
		fr.quietAfter = "QSZ"
		check(t, fr)
	})
	for _, tt := range frameErrorCases {
		t.Run(tt.name, func(t *testing.T) {
			_, _, err := pumpAll(newFrameReader(bytes.NewReader(tt.input), 256, tt.max))
			if !errors.Is(err, tt.want) {
				t.Fatalf("err = %v, want %v", err, tt.want)
			}
		})
	}
}

func TestHasFrame(t *testing.T) {
	two := append(msg('C', []byte("SELECT 1\x00")), msg('Z', []byte("I"))...)
	fr := newFrameReader(bytes.NewReader(two), 1024, 1024)
	if fr.hasFrame() {
		t.Fatal("hasFrame before any read")
	}
	if _, _, err := fr.next(); err != nil {
		t.Fatal(err)
	}
	if !fr.hasFrame() {
		t.Fatal("second frame is buffered but hasFrame is false")
	}
	if _, _, err := fr.next(); err != nil {
		t.Fatal(err)
	}
	if fr.hasFrame() {
		t.Fatal("hasFrame with nothing buffered")
	}
}

func TestFrameWriterCoalesces(t *testing.T) {
	var w countingWriter
	fw := newFrameWriter(&w, 1024)
	for range 10 {
		fw.appendFrame('D', []byte("0123456789"))
	}
	if w.writes != 0 {
		t.Fatalf("wrote before flush: %d", w.writes)
	}
	if err := fw.flush(); err != nil {
		t.Fatal(err)
	}
	if w.writes != 1 || w.n != 10*15 {
		t.Fatalf("writes=%d bytes=%d, want 1 write of 150 bytes", w.writes, w.n)
	}
	// A large body bypasses the buffer but keeps the order.
	fw.appendFrame('T', []byte("a"))
	big := make([]byte, directWriteThreshold)
	fw.appendFrame('D', big)
	fw.flush()
	if got := w.buf.Bytes()[150:]; !bytes.Equal(got, append(msg('T', []byte("a")), msg('D', big)...)) {
		t.Fatal("large frame out of order or corrupted")
	}
}

type countingWriter struct {
	buf    bytes.Buffer
	writes int
	n      int
}

func (w *countingWriter) Write(p []byte) (int, error) {
	w.writes++
	w.n += len(p)
	return w.buf.Write(p)
}

// loopReader serves the same bytes forever.
type loopReader struct {
	data []byte
	off  int
}

func (r *loopReader) Read(p []byte) (int, error) {
	n := 0
	for n < len(p) {
		c := copy(p[n:], r.data[r.off:])
		n += c
		r.off = (r.off + c) % len(r.data)
	}
	return n, nil
}

// TestPassthroughAllocs pins the pass-through path (read a frame, append it
// to the output, flush) at zero allocations per message.
func TestPassthroughAllocs(t *testing.T) {
	row := msg('D', []byte{0, 2, 0, 0, 0, 3, 'a', 'b', 'c', 0xff, 0xff, 0xff, 0xff})
	fr := newFrameReader(&loopReader{data: row}, 0, 1<<20)
	fw := newFrameWriter(io.Discard, 0)
	allocs := testing.AllocsPerRun(1000, func() {
		typ, body, err := fr.next()
		if err != nil {
			t.Fatal(err)
		}
		fw.appendFrame(typ, body)
		if fw.full() || !fr.hasFrame() {
			fw.flush()
		}
	})
	if allocs != 0 {
		t.Fatalf("allocs per message = %v, want 0", allocs)
	}
}

func BenchmarkPassthrough(b *testing.B) {
	row := msg('D', bytes.Repeat([]byte("x"), 100))
	fr := newFrameReader(&loopReader{data: row}, 0, 1<<20)
	fw := newFrameWriter(io.Discard, 0)
	b.SetBytes(int64(len(row)))
	b.ReportAllocs()
	for b.Loop() {
		typ, body, _ := fr.next()
		fw.appendFrame(typ, body)
		if fw.full() {
			fw.flush()
		}
	}
}

// FuzzFrameReader: whatever the bytes, the reader never panics, never
// returns a body over the limit, and the frames it returns re-encode to a
// prefix of the input.
func FuzzFrameReader(f *testing.F) {
	f.Add(msg('Q', []byte("select 1\x00")))
	f.Add(append(msg('P', []byte("\x00select $1\x00\x00\x00")), msg('S')...))
	f.Add([]byte{'Q', 0, 0, 0, 3})
	f.Add([]byte{'Q', 0xff, 0xff, 0xff, 0xff})
	f.Add([]byte{'D', 0, 0, 0x10, 0})
	f.Add(msg('D', make([]byte, 300)))
	f.Fuzz(func(t *testing.T, data []byte) {
		const limit = 4096
		fr := newFrameReader(bytes.NewReader(data), 64, limit)
		var out []byte
		for {
			typ, body, err := fr.next()
			if err != nil {
				break
			}
			if len(body) > limit {
				t.Fatalf("body of %d bytes over limit", len(body))
			}
			out = append(out, msg(typ, body)...)
		}
		if !bytes.HasPrefix(data, out) {
			t.Fatal("frames do not re-encode to a prefix of the input")
		}
	})
}
