package rules

import (
	"net/netip"
	"strconv"
)

// The ip_prefix mask keeps the network part of an address: the first 24 bits
// of an IPv4 address, the first 48 bits of an IPv6 address (a customer site
// rather than a host), or fewer when the value's own prefix is shorter.
const (
	ipv4PrefixBits = 24
	ipv6PrefixBits = 48
)

// Binary inet/cidr (src/backend/utils/adt/network.c, network_send): family
// (PGSQL_AF_INET = 2, PGSQL_AF_INET6 = 3), bits, is_cidr, address length,
// address bytes.
const (
	pgAFInet  = 2
	pgAFInet6 = 3
)

func isHex(c byte) bool {
	return isDigit(c) || ('a' <= c && c <= 'f') || ('A' <= c && c <= 'F')
}

func hexVal(c byte) int {
	switch {
	case isDigit(c):
		return int(c - '0')
	case 'a' <= c && c <= 'f':
		return int(c-'a') + 10
	default:
		return int(c-'A') + 10
	}
}

// parseIPv4 parses exactly "d.d.d.d" with each part 0..255 and at most three
// digits.
func parseIPv4(b []byte) (ip [4]byte, ok bool) {
	i := 0
	for part := 0; part < 4; part++ {
		if part > 0 {
			if i >= len(b) || b[i] != '.' {
				return ip, false
			}
			i++
		}
		v, n := 0, 0
		for i < len(b) && isDigit(b[i]) && n < 4 {
			v = v*10 + int(b[i]-'0')
			i++
			n++
		}
		if n == 0 || n > 3 || v > 255 {
			return ip, false
		}
		ip[part] = byte(v)
	}
	return ip, i == len(b)
}

// parseIPv6 parses an IPv6 address in any RFC 4291 text form (with ::
// compression and an embedded IPv4 tail), without a zone. It does not
// allocate (netip.ParseAddr needs a string).
func parseIPv6(b []byte) (ip [16]byte, ok bool) {
	ellipsis := -1
	i, j := 0, 0
	if len(b) >= 2 && b[0] == ':' && b[1] == ':' {
		ellipsis = 0
		i = 2
		if i == len(b) {
			return ip, true
		}
	}
	for j < 16 {
		start, val := i, 0
		for i < len(b) && i-start < 4 && isHex(b[i]) {
			val = val<<4 | hexVal(b[i])
			i++
		}
		if i == start {
			return ip, false
		}
		if i < len(b) && b[i] == '.' {
			if (ellipsis < 0 && j != 12) || j > 12 {
				return ip, false
			}
			v4, ok4 := parseIPv4(b[start:])
			if !ok4 {
				return ip, false
			}
			copy(ip[j:], v4[:])
			j += 4
			i = len(b)
			break
		}
		if i < len(b) && isHex(b[i]) {
			return ip, false // more than four hex digits
		}
		ip[j], ip[j+1] = byte(val>>8), byte(val)
		j += 2
		if i == len(b) {
			break
		}
		if b[i] != ':' {
			return ip, false
		}
		i++
		if i < len(b) && b[i] == ':' {
			if ellipsis >= 0 {
				return ip, false
			}
			ellipsis = j
			i++
			if i == len(b) {
				break
			}
		} else if i == len(b) {
			return ip, false
		}
	}
	if i != len(b) {
		return ip, false
	}
	if ellipsis >= 0 {
		if j == 16 {
			return ip, false
		}
		n := 16 - j
		copy(ip[ellipsis+n:], ip[ellipsis:j])
		for k := ellipsis; k < ellipsis+n; k++ {
			ip[k] = 0
		}
	} else if j != 16 {
		return ip, false
	}
	return ip, true
}

// maskBits zeroes every bit of addr after the first bits.
func maskBits(addr []byte, bits int) {
	for i := range addr {
		switch {
		case bits >= 8:
			bits -= 8
		case bits <= 0:
			addr[i] = 0
		default:
			addr[i] &= byte(0xff << (8 - bits))
			bits = 0
		}
	}
}

// parseIPText parses "addr" or "addr/bits" (inet, cidr and plain text).
func parseIPText(v []byte) (addr [16]byte, v4 bool, bits int, ok bool) {
	a := v
	bits = -1
	for i := len(v) - 1; i >= 0; i-- {
		if v[i] == '/' {
			a = v[:i]
			n := v[i+1:]
			if len(n) == 0 || len(n) > 3 || !allDigits(n) {
				return addr, false, 0, false
			}
			bits = 0
			for _, c := range n {
				bits = bits*10 + int(c-'0')
			}
			break
		}
	}
	if ip4, ok4 := parseIPv4(a); ok4 {
		copy(addr[:], ip4[:])
		if bits < 0 {
			bits = 32
		}
		return addr, true, bits, bits <= 32
	}
	ip6, ok6 := parseIPv6(a)
	if !ok6 {
		return addr, false, 0, false
	}
	if bits < 0 {
		bits = 128
	}
	return ip6, false, bits, bits <= 128
}

// appendIPPrefixText masks an address in text form (inet, cidr or text) and
// appends "network/bits".
func appendIPPrefixText(dst, v []byte) ([]byte, bool) {
	addr, v4, bits, ok := parseIPText(v)
	if !ok {
		return dst, false
	}
	if v4 {
		bits = min(bits, ipv4PrefixBits)
		maskBits(addr[:4], bits)
		dst = netip.AddrFrom4([4]byte(addr[:4])).AppendTo(dst)
	} else {
		bits = min(bits, ipv6PrefixBits)
		maskBits(addr[:], bits)
		dst = netip.AddrFrom16(addr).AppendTo(dst)
	}
	dst = append(dst, '/')
	return strconv.AppendInt(dst, int64(bits), 10), true
}

// appendIPPrefixBinary masks a binary inet or cidr value.
func appendIPPrefixBinary(dst, v []byte) ([]byte, bool) {
	if len(v) < 4 {
		return dst, false
	}
	fam, bits, isCIDR, nb := v[0], int(v[1]), v[2], int(v[3])
	var keep int
	switch {
	case fam == pgAFInet && nb == 4 && bits <= 32:
		keep = ipv4PrefixBits
	case fam == pgAFInet6 && nb == 16 && bits <= 128:
		keep = ipv6PrefixBits
	default:
		return dst, false
	}
	if len(v) != 4+nb || isCIDR > 1 {
		return dst, false
	}
	bits = min(bits, keep)
	at := len(dst)
	dst = append(dst, fam, byte(bits), isCIDR, byte(nb))
	dst = append(dst, v[4:]...)
	maskBits(dst[at+4:], bits)
	return dst, true
}
