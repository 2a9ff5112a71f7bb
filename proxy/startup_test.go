package proxy

import (
	"bytes"
	"encoding/binary"
	"testing"
)

func startupPkt(code uint32, params ...string) []byte {
	b := make([]byte, 8)
	binary.BigEndian.PutUint32(b[4:], code)
	for _, p := range params {
		b = append(b, p...)
		b = append(b, 0)
	}
	if code>>16 == 3 {
		b = append(b, 0)
	}
	binary.BigEndian.PutUint32(b, uint32(len(b)))
	return b
}

func TestStartupParams(t *testing.T) {
	tests := []struct {
		name    string
		raw     []byte
		want    map[string]string
		wantErr bool
	}{
		{"ok", startupPkt(protocol30, "user", "alice", "database", "app"), map[string]string{"user": "alice", "database": "app"}, false},
		{"no user", startupPkt(protocol30, "database", "app"), nil, true},
		{"empty user", startupPkt(protocol30, "user", ""), nil, true},
		{"duplicate", startupPkt(protocol30, "user", "a", "user", "b"), nil, true},
		{"missing terminator", startupPkt(protocol30, "user", "alice")[:18], nil, true},
		{"odd strings", startupPkt(protocol30, "user", "alice", "x"), nil, true},
		{"short", []byte{0, 0, 0, 8, 0, 3, 0, 0}, nil, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := startupParams(tt.raw)
			if (err != nil) != tt.wantErr {
				t.Fatalf("err = %v, wantErr %v", err, tt.wantErr)
			}
			if err == nil && len(got) != len(tt.want) {
				t.Fatalf("got %v, want %v", got, tt.want)
			}
			for k, v := range tt.want {
				if got[k] != v {
					t.Fatalf("%s = %q, want %q", k, got[k], v)
				}
			}
		})
	}
}

func TestReadStartupPacket(t *testing.T) {
	ssl := startupPkt(codeSSLRequest)
	// Bytes after the packet must stay unread: they belong to TLS.
	r := bytes.NewReader(append(ssl, 0x16, 0x03))
	pkt, err := readStartupPacket(r)
	if err != nil || pkt.code != codeSSLRequest {
		t.Fatalf("got %v %v", pkt.code, err)
	}
	if r.Len() != 2 {
		t.Fatalf("read past the packet: %d bytes left, want 2", r.Len())
	}
	if _, err := readStartupPacket(bytes.NewReader([]byte{0, 0, 0, 4, 0, 0, 0, 0})); err == nil {
		t.Fatal("length 4 accepted")
	}
	if _, err := readStartupPacket(bytes.NewReader([]byte{0, 1, 0, 0, 0, 3, 0, 0})); err == nil {
		t.Fatal("oversized packet accepted")
	}
}

func TestFilterSASLMechanisms(t *testing.T) {
	body := []byte("\x00\x00\x00\x0aSCRAM-SHA-256-PLUS\x00SCRAM-SHA-256\x00\x00")
	out, mechs, err := filterSASLMechanisms(body)
	if err != nil {
		t.Fatal(err)
	}
	if want := []byte("\x00\x00\x00\x0aSCRAM-SHA-256\x00\x00"); !bytes.Equal(out, want) {
		t.Fatalf("filtered = %q, want %q", out, want)
	}
	if len(mechs) != 2 {
		t.Fatalf("mechs = %v", mechs)
	}
	only, _, err := filterSASLMechanisms([]byte("\x00\x00\x00\x0aSCRAM-SHA-256-PLUS\x00\x00"))
	if err != nil || len(only) != 5 {
		t.Fatalf("only PLUS: %q %v", only, err)
	}
}

func TestSASLInitial(t *testing.T) {
	body := append([]byte("SCRAM-SHA-256\x00\x00\x00\x00\x05"), "y,,n="...)
	mech, data, err := saslInitial(body)
	if err != nil || mech != mechSCRAM || string(data) != "y,,n=" {
		t.Fatalf("got %q %q %v", mech, data, err)
	}
	if _, _, err := saslInitial([]byte("SCRAM-SHA-256\x00\x00\x00\x00\x09y,,")); err == nil {
		t.Fatal("length mismatch accepted")
	}
}

// FuzzStartup feeds arbitrary bytes to every startup-phase decoder.
func FuzzStartup(f *testing.F) {
	f.Add(startupPkt(protocol30, "user", "alice", "database", "app"))
	f.Add(startupPkt(codeSSLRequest))
	f.Add(startupPkt(codeGSSENCRequest))
	f.Add(append(startupPkt(codeCancelRequest), 0, 0, 0, 1, 1, 2, 3, 4))
	f.Add([]byte{0, 0, 0, 8, 0, 3, 0, 0})
	f.Add([]byte("\x00\x00\x00\x0aSCRAM-SHA-256-PLUS\x00SCRAM-SHA-256\x00\x00"))
	f.Fuzz(func(t *testing.T, data []byte) {
		if pkt, err := readStartupPacket(bytes.NewReader(data)); err == nil {
			if len(pkt.raw) < 8 || len(pkt.raw) > maxStartupPacket {
				t.Fatalf("packet of %d bytes accepted", len(pkt.raw))
			}
			if params, err := startupParams(pkt.raw); err == nil && params["user"] == "" {
				t.Fatal("params without user accepted")
			}
			cancelKey(pkt.raw)
		}
		if out, _, err := filterSASLMechanisms(data); err == nil {
			// The first 4 bytes are the authentication code; the rest is
			// the mechanism list, none of which may be PLUS.
			for _, m := range bytes.Split(out[4:], []byte{0}) {
				if string(m) == mechSCRAMPlus {
					t.Fatal("PLUS survived filtering")
				}
			}
		}
		saslInitial(data)
		isFatal(data)
	})
}
