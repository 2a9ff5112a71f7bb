package rules

import (
	"encoding/binary"
	"math"
)

// The year mask. Postgres sends dates and timestamps in binary as days or
// microseconds since 2000-01-01 (src/include/datatype/timestamp.h,
// POSTGRES_EPOCH_JDATE), and in text in the ISO DateStyle, which every driver
// the proxy supports requires (pgx, lib/pq and JDBC set or assume it). A text
// value in another DateStyle does not parse and becomes NULL.

const (
	usPerDay        = int64(86400) * 1_000_000
	unixTo2000Days  = 10957 // days from 1970-01-01 to 2000-01-01
	minUsJan1Factor = math.MinInt64 / usPerDay
	maxUsJan1Factor = math.MaxInt64 / usPerDay
)

func floorDiv(a, b int64) int64 {
	q := a / b
	if (a%b != 0) && ((a < 0) != (b < 0)) {
		q--
	}
	return q
}

// daysFromCivil returns the days since 1970-01-01 of a proleptic Gregorian
// date (astronomical years: 1 BC is year 0). Howard Hinnant's algorithm.
func daysFromCivil(y int64, m, d int) int64 {
	if m <= 2 {
		y--
	}
	era := floorDiv(y, 400)
	yoe := y - era*400
	mp := int64((m + 9) % 12)
	doy := (153*mp+2)/5 + int64(d) - 1
	doe := yoe*365 + yoe/4 - yoe/100 + doy
	return era*146097 + doe - 719468
}

// civilYear returns the (astronomical) year of the day z days after
// 1970-01-01.
func civilYear(z int64) int64 {
	z += 719468
	era := floorDiv(z, 146097)
	doe := z - era*146097
	yoe := (doe - doe/1460 + doe/36524 - doe/146096) / 365
	y := yoe + era*400
	doy := doe - (365*yoe + yoe/4 - yoe/100)
	mp := (5*doy + 2) / 153
	if mp >= 10 { // January or February belong to the next civil year
		y++
	}
	return y
}

func daysFrom2000(y int64, m, d int) int32 {
	return int32(daysFromCivil(y, m, d) - unixTo2000Days)
}

// appendYearDateBinary maps a binary date to 1 January of its year.
// Infinity has no year and becomes NULL.
func appendYearDateBinary(dst, v []byte) ([]byte, bool) {
	if len(v) != 4 {
		return dst, false
	}
	d := int32(binary.BigEndian.Uint32(v))
	if d == math.MaxInt32 || d == math.MinInt32 {
		return dst, false
	}
	j := daysFromCivil(civilYear(int64(d)+unixTo2000Days), 1, 1) - unixTo2000Days
	if j < math.MinInt32 || j > math.MaxInt32 {
		return dst, false
	}
	return binary.BigEndian.AppendUint32(dst, uint32(int32(j))), true
}

// appendYearTimestampBinary maps a binary timestamp or timestamptz to
// 00:00 on 1 January of its year (UTC for timestamptz).
func appendYearTimestampBinary(dst, v []byte) ([]byte, bool) {
	if len(v) != 8 {
		return dst, false
	}
	us := int64(binary.BigEndian.Uint64(v))
	if us == math.MaxInt64 || us == math.MinInt64 {
		return dst, false
	}
	days := floorDiv(us, usPerDay)
	j := daysFromCivil(civilYear(days+unixTo2000Days), 1, 1) - unixTo2000Days
	if j < minUsJan1Factor || j > maxUsJan1Factor {
		return dst, false
	}
	return binary.BigEndian.AppendUint64(dst, uint64(j*usPerDay)), true
}

func isDigit(c byte) bool { return '0' <= c && c <= '9' }

func allDigits(b []byte) bool {
	for _, c := range b {
		if !isDigit(c) {
			return false
		}
	}
	return true
}

// isoDate checks that v starts with an ISO date "Y+-MM-DD" (at least four
// year digits) and returns the number of year digits and the index after the
// day.
func isoDate(v []byte) (yearLen, end int, ok bool) {
	i := 0
	for i < len(v) && isDigit(v[i]) {
		i++
	}
	if i < 4 || len(v) < i+6 || v[i] != '-' || v[i+3] != '-' ||
		!isDigit(v[i+1]) || !isDigit(v[i+2]) || !isDigit(v[i+4]) || !isDigit(v[i+5]) {
		return 0, 0, false
	}
	return i, i + 6, true
}

// appendYearDateText maps "YYYY-MM-DD[ BC]" to "YYYY-01-01[ BC]".
func appendYearDateText(dst, v []byte) ([]byte, bool) {
	yl, end, ok := isoDate(v)
	if !ok {
		return dst, false
	}
	rest := v[end:]
	if len(rest) != 0 && string(rest) != " BC" {
		return dst, false
	}
	dst = append(dst, v[:yl]...)
	dst = append(dst, "-01-01"...)
	return append(dst, rest...), true
}

// appendYearTimestampText maps "YYYY-MM-DD HH:MM:SS[.f][+TZ][ BC]" to
// "YYYY-01-01 00:00:00[+TZ][ BC]". The offset (timestamptz only) is kept as
// sent, so the result is midnight of 1 January in the session's time zone.
func appendYearTimestampText(dst, v []byte, tz bool) ([]byte, bool) {
	yl, i, ok := isoDate(v)
	if !ok {
		return dst, false
	}
	// " HH:MM:SS"
	if len(v) < i+9 || v[i] != ' ' || v[i+3] != ':' || v[i+6] != ':' ||
		!allDigits(v[i+1:i+3]) || !allDigits(v[i+4:i+6]) || !allDigits(v[i+7:i+9]) {
		return dst, false
	}
	i += 9
	if i < len(v) && v[i] == '.' {
		j := i + 1
		for j < len(v) && isDigit(v[j]) {
			j++
		}
		if j == i+1 {
			return dst, false
		}
		i = j
	}
	off := i
	if tz {
		// [+-]HH[:MM[:SS]]
		if i >= len(v) || (v[i] != '+' && v[i] != '-') || len(v) < i+3 || !allDigits(v[i+1:i+3]) {
			return dst, false
		}
		i += 3
		for k := 0; k < 2 && i < len(v) && v[i] == ':'; k++ {
			if len(v) < i+3 || !allDigits(v[i+1:i+3]) {
				return dst, false
			}
			i += 3
		}
	}
	offEnd := i
	rest := v[i:]
	if len(rest) != 0 && string(rest) != " BC" {
		return dst, false
	}
	dst = append(dst, v[:yl]...)
	dst = append(dst, "-01-01 00:00:00"...)
	dst = append(dst, v[off:offEnd]...)
	return append(dst, rest...), true
}

// appendYearText finds a date written in text and appends its four-digit
// year alone. It understands "YYYY-MM-DD..." (and / or . as separators),
// "YYYYMMDD", "D/M/YYYY" (any order of day and month, - or . as
// separators) and a bare "YYYY". Anything else becomes NULL.
func appendYearText(dst, v []byte) ([]byte, bool) {
	v = trimSpaces(v)
	isSep := func(c byte) bool { return c == '-' || c == '/' || c == '.' }
	switch {
	case len(v) == 4 && allDigits(v):
		return append(dst, v...), true
	case len(v) == 8 && allDigits(v):
		return append(dst, v[:4]...), true
	case len(v) >= 8 && allDigits(v[:4]) && isSep(v[4]) && isDigit(v[5]):
		// YYYY-M[M]-D[D][anything]
		j := 6
		if j < len(v) && isDigit(v[j]) {
			j++
		}
		if j+1 < len(v) && isSep(v[j]) && isDigit(v[j+1]) {
			return append(dst, v[:4]...), true
		}
	}
	// D[D]<sep>M[M]<sep>YYYY at the start, followed by the end or a space.
	i := 0
	for part := 0; part < 2; part++ {
		j := i
		for j < len(v) && j-i < 2 && isDigit(v[j]) {
			j++
		}
		if j == i || j >= len(v) || !isSep(v[j]) {
			return dst, false
		}
		i = j + 1
	}
	if len(v) < i+4 || !allDigits(v[i:i+4]) || (len(v) > i+4 && v[i+4] != ' ' && v[i+4] != 'T') {
		return dst, false
	}
	return append(dst, v[i:i+4]...), true
}

func trimSpaces(v []byte) []byte {
	for len(v) > 0 && v[0] == ' ' {
		v = v[1:]
	}
	return trimRightSpaces(v)
}

func trimRightSpaces(v []byte) []byte {
	for len(v) > 0 && v[len(v)-1] == ' ' {
		v = v[:len(v)-1]
	}
	return v
}
