package audit

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"
	"google.golang.org/protobuf/proto"
)

// The spool is a directory of batch files, one record per file, replayed in
// the order of their sequence numbers:
//
//	<dir>/LOCK                         flock'ed while a pgveil uses the dir
//	<dir>/00000000000000000001.batch   oldest record
//	<dir>/00000000000000000002.batch
//	<dir>/....tmp                      a record being written (removed on open)
//	<dir>/....corrupt                  a record that failed its check (kept for forensics)
//
// A record is a 16-byte header and a payload:
//
//	[0:4]   magic "PVS1"
//	[4:8]   payload length L, big endian
//	[8:12]  span count, big endian
//	[12:16] CRC-32C (Castagnoli) of bytes [4:12] and of the payload
//	[16:]   payload: an OTLP TracesData message (protobuf), L bytes
//
// Writing a record: write <seq>.tmp, fsync it, rename it to <seq>.batch,
// fsync the directory (once for a group of records). A crash leaves either
// no file, a .tmp file (removed on open) or a complete record. A record is
// removed (unlink, fsync the directory) only after the collector
// acknowledged its export. A record whose length, magic or checksum is
// wrong (a torn write on a file system that reorders writes, a truncated
// file, bit rot) is renamed to .corrupt, counted and skipped; the records
// after it replay normally.
//
// The spool is owned by the pipeline's pump goroutine and is not safe for
// concurrent use.
type spool struct {
	dir     string
	max     int64
	lock    *os.File
	entries []spoolEntry // oldest first
	used    int64        // bytes of the records in entries
	spans   int64        // spans of the records in entries
	next    uint64       // sequence number of the next record
}

type spoolEntry struct {
	seq   uint64
	size  int64
	spans int64
}

const (
	spoolMagic     = "PVS1"
	spoolHeaderLen = 16
	spoolExt       = ".batch"
	spoolTmpExt    = ".tmp"
	spoolBadExt    = ".corrupt"
	// maxRecordLen bounds one record's payload; larger lengths in a header
	// mean corruption.
	maxRecordLen = 64 << 20
)

var (
	errSpoolFull    = errors.New("audit spool full")
	errSpoolCorrupt = errors.New("audit spool record corrupt")
	crcTable        = crc32.MakeTable(crc32.Castagnoli)
)

// spoolOpenReport says what opening found.
type spoolOpenReport struct {
	Records, Spans int64
	Corrupt        int   // records set aside as .corrupt
	CorruptSpans   int64 // the spans their headers claimed (when readable)
	TmpRemoved     int   // half-written records removed
}

// openSpool opens (creating if needed) the spool in dir, bounded to max
// bytes, checks every record's header and length, and sets aside the bad
// ones. It fails if another process holds the directory.
func openSpool(dir string, maxBytes int64) (*spool, spoolOpenReport, error) {
	var rep spoolOpenReport
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, rep, fmt.Errorf("audit spool: %w", err)
	}
	lock, err := lockDir(dir)
	if err != nil {
		return nil, rep, fmt.Errorf("audit spool %s: %w", dir, err)
	}
	s := &spool{dir: dir, max: maxBytes, lock: lock, next: 1}
	ents, err := os.ReadDir(dir)
	if err != nil {
		s.close()
		return nil, rep, fmt.Errorf("audit spool: %w", err)
	}
	for _, de := range ents {
		name := de.Name()
		switch {
		case strings.HasSuffix(name, spoolTmpExt):
			if err := os.Remove(filepath.Join(dir, name)); err != nil && !errors.Is(err, fs.ErrNotExist) {
				s.close()
				return nil, rep, fmt.Errorf("audit spool: %w", err)
			}
			rep.TmpRemoved++
		case strings.HasSuffix(name, spoolExt):
			seq, err := strconv.ParseUint(strings.TrimSuffix(name, spoolExt), 10, 64)
			if err != nil || seq == 0 {
				continue // not ours
			}
			s.next = max(s.next, seq+1)
			e, err := s.check(seq)
			if err != nil {
				if qerr := s.quarantine(seq); qerr != nil {
					s.close()
					return nil, rep, qerr
				}
				rep.Corrupt++
				rep.CorruptSpans += e.spans
				continue
			}
			s.entries = append(s.entries, e)
		case strings.HasSuffix(name, spoolBadExt):
			if seq, err := strconv.ParseUint(strings.TrimSuffix(name, spoolBadExt), 10, 64); err == nil {
				s.next = max(s.next, seq+1)
			}
		}
	}
	slices.SortFunc(s.entries, func(a, b spoolEntry) int {
		switch {
		case a.seq < b.seq:
			return -1
		case a.seq > b.seq:
			return 1
		}
		return 0
	})
	for _, e := range s.entries {
		s.used += e.size
		s.spans += e.spans
	}
	if rep.TmpRemoved > 0 || rep.Corrupt > 0 {
		if err := syncDir(dir); err != nil {
			s.close()
			return nil, rep, fmt.Errorf("audit spool: %w", err)
		}
	}
	rep.Records, rep.Spans = int64(len(s.entries)), s.spans
	return s, rep, nil
}

func (s *spool) path(seq uint64, ext string) string {
	return filepath.Join(s.dir, fmt.Sprintf("%020d%s", seq, ext))
}

// check reads a record's header and size (not its checksum: that is
// checked when the record is read for replay). On a size mismatch the
// entry still carries the header's span count.
func (s *spool) check(seq uint64) (spoolEntry, error) {
	f, err := os.Open(s.path(seq, spoolExt))
	if err != nil {
		return spoolEntry{}, err
	}
	defer f.Close()
	var h [spoolHeaderLen]byte
	n, _ := f.Read(h[:])
	fi, err := f.Stat()
	if err != nil {
		return spoolEntry{}, err
	}
	l, count, err := parseHeader(h[:n])
	if err != nil {
		return spoolEntry{}, err
	}
	if fi.Size() != spoolHeaderLen+int64(l) {
		return spoolEntry{seq: seq, spans: int64(count)}, fmt.Errorf("%w: size %d, header says %d", errSpoolCorrupt, fi.Size(), spoolHeaderLen+int64(l))
	}
	return spoolEntry{seq: seq, size: fi.Size(), spans: int64(count)}, nil
}

func parseHeader(h []byte) (length, count uint32, err error) {
	if len(h) < spoolHeaderLen || string(h[:4]) != spoolMagic {
		return 0, 0, fmt.Errorf("%w: bad header", errSpoolCorrupt)
	}
	length = binary.BigEndian.Uint32(h[4:])
	count = binary.BigEndian.Uint32(h[8:])
	if length > maxRecordLen {
		return 0, 0, fmt.Errorf("%w: length %d", errSpoolCorrupt, length)
	}
	return length, count, nil
}

// encodeRecord marshals one record.
func encodeRecord(rss []*tracepb.ResourceSpans, spans int) ([]byte, error) {
	payload, err := proto.MarshalOptions{Deterministic: true}.Marshal(&tracepb.TracesData{ResourceSpans: rss})
	if err != nil {
		return nil, fmt.Errorf("audit spool: encode: %w", err)
	}
	if len(payload) > maxRecordLen {
		return nil, fmt.Errorf("audit spool: record of %d bytes exceeds %d", len(payload), maxRecordLen)
	}
	rec := make([]byte, spoolHeaderLen, spoolHeaderLen+len(payload))
	copy(rec, spoolMagic)
	binary.BigEndian.PutUint32(rec[4:], uint32(len(payload)))
	binary.BigEndian.PutUint32(rec[8:], uint32(spans))
	rec = append(rec, payload...)
	crc := crc32.Update(0, crcTable, rec[4:12])
	crc = crc32.Update(crc, crcTable, rec[spoolHeaderLen:])
	binary.BigEndian.PutUint32(rec[12:], crc)
	return rec, nil
}

// decodeRecord checks and unmarshals one record.
func decodeRecord(rec []byte) ([]*tracepb.ResourceSpans, error) {
	l, _, err := parseHeader(rec)
	if err != nil {
		return nil, err
	}
	if int64(len(rec)) != spoolHeaderLen+int64(l) {
		return nil, fmt.Errorf("%w: %d bytes, header says %d", errSpoolCorrupt, len(rec), spoolHeaderLen+int64(l))
	}
	crc := crc32.Update(0, crcTable, rec[4:12])
	crc = crc32.Update(crc, crcTable, rec[spoolHeaderLen:])
	if crc != binary.BigEndian.Uint32(rec[12:]) {
		return nil, fmt.Errorf("%w: checksum mismatch", errSpoolCorrupt)
	}
	var td tracepb.TracesData
	if err := proto.Unmarshal(rec[spoolHeaderLen:], &td); err != nil {
		return nil, fmt.Errorf("%w: %v", errSpoolCorrupt, err)
	}
	return td.ResourceSpans, nil
}

// len returns the number of records.
func (s *spool) len() int { return len(s.entries) }

// free returns how many more bytes the spool may hold.
func (s *spool) free() int64 { return s.max - s.used }

// appendRecords writes records (encodeRecord) in order, each with its span
// count, and makes them durable with one directory fsync. It stops at the
// first record that does not fit (errSpoolFull) or fails, and returns how
// many were written; those are durable even when err is not nil.
func (s *spool) appendRecords(recs [][]byte, spans []int) (int, error) {
	written := 0
	var err error
	for i, rec := range recs {
		if int64(len(rec)) > s.free() {
			err = errSpoolFull
			break
		}
		seq := s.next
		if err = s.writeRecord(seq, rec); err != nil {
			break
		}
		s.next++
		s.entries = append(s.entries, spoolEntry{seq: seq, size: int64(len(rec)), spans: int64(spans[i])})
		s.used += int64(len(rec))
		s.spans += int64(spans[i])
		written++
	}
	if written > 0 {
		if serr := syncDir(s.dir); serr != nil && err == nil {
			err = fmt.Errorf("audit spool: %w", serr)
		}
	}
	return written, err
}

func (s *spool) writeRecord(seq uint64, rec []byte) error {
	tmp := s.path(seq, spoolTmpExt)
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return fmt.Errorf("audit spool: %w", err)
	}
	_, werr := f.Write(rec)
	if werr == nil {
		werr = f.Sync()
	}
	if cerr := f.Close(); werr == nil {
		werr = cerr
	}
	if werr == nil {
		werr = os.Rename(tmp, s.path(seq, spoolExt))
	}
	if werr != nil {
		os.Remove(tmp)
		return fmt.Errorf("audit spool: write record: %w", werr)
	}
	return nil
}

// head returns the oldest record.
func (s *spool) head() (spoolEntry, bool) {
	if len(s.entries) == 0 {
		return spoolEntry{}, false
	}
	return s.entries[0], true
}

// readHead reads and checks the oldest record.
func (s *spool) readHead() ([]*tracepb.ResourceSpans, spoolEntry, error) {
	e, ok := s.head()
	if !ok {
		return nil, e, errors.New("audit spool: empty")
	}
	rec, err := os.ReadFile(s.path(e.seq, spoolExt))
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, e, fmt.Errorf("%w: %v", errSpoolCorrupt, err)
		}
		return nil, e, fmt.Errorf("audit spool: %w", err)
	}
	rss, err := decodeRecord(rec)
	return rss, e, err
}

// removeHead deletes the oldest record once its export was acknowledged.
// The record leaves the index even if the unlink fails, so it is not sent
// twice by this process (after a restart it would be).
func (s *spool) removeHead() error {
	e, ok := s.head()
	if !ok {
		return nil
	}
	s.drop()
	if err := os.Remove(s.path(e.seq, spoolExt)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("audit spool: remove record: %w", err)
	}
	if err := syncDir(s.dir); err != nil {
		return fmt.Errorf("audit spool: %w", err)
	}
	return nil
}

// quarantineHead sets the oldest record aside as corrupt.
func (s *spool) quarantineHead() error {
	e, ok := s.head()
	if !ok {
		return nil
	}
	s.drop()
	if err := s.quarantine(e.seq); err != nil {
		return err
	}
	return syncDir(s.dir)
}

func (s *spool) drop() {
	e := s.entries[0]
	s.entries[0] = spoolEntry{}
	s.entries = s.entries[1:]
	if len(s.entries) == 0 {
		s.entries = nil // let the backing array go
	}
	s.used -= e.size
	s.spans -= e.spans
}

func (s *spool) quarantine(seq uint64) error {
	err := os.Rename(s.path(seq, spoolExt), s.path(seq, spoolBadExt))
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("audit spool: set aside corrupt record: %w", err)
	}
	return nil
}

func (s *spool) close() {
	if s.lock != nil {
		unlockDir(s.lock)
		s.lock = nil
	}
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	return err
}
