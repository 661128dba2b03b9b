package speakers

import (
	"fmt"
	"strconv"
	"strings"
)

// Community is a BGP community a speaker attaches to an announcement: an
// RFC 1997 standard community ("65010:7", two 16-bit halves) or an RFC 8092
// large community ("65010:1:2", three 32-bit parts). The zero value is the
// standard community 0:0. Community is comparable, so slices of them can be
// compared with slices.Equal; its text form (JSON, logs) is String.
type Community struct {
	large   bool
	a, b, c uint32 // standard: a = ASN half, b = value half; large: global, local 1, local 2
}

// The well-known communities (IANA "BGP Well-known Communities" registry)
// ParseCommunity accepts by name as well as by number.
var (
	// GracefulShutdown is RFC 8326 GRACEFUL_SHUTDOWN: receivers that honour
	// it lower the route's preference so traffic moves away before the route
	// is withdrawn.
	GracefulShutdown  = Standard(65535, 0)
	AcceptOwn         = Standard(65535, 1)     // RFC 7611 ACCEPT_OWN
	LLGRStale         = Standard(65535, 6)     // RFC 9494 LLGR_STALE
	NoLLGR            = Standard(65535, 7)     // RFC 9494 NO_LLGR
	Blackhole         = Standard(65535, 666)   // RFC 7999 BLACKHOLE
	NoExport          = Standard(65535, 65281) // RFC 1997 NO_EXPORT
	NoAdvertise       = Standard(65535, 65282) // RFC 1997 NO_ADVERTISE
	NoExportSubconfed = Standard(65535, 65283) // RFC 1997 NO_EXPORT_SUBCONFED
	NoPeer            = Standard(65535, 65284) // RFC 3765 NOPEER
)

// wellKnown maps the names ParseCommunity accepts to their communities. The
// names are IANA's; "-" may stand for "_" and case does not matter, so FRR's
// "graceful-shutdown" and "no-export" parse too.
var wellKnown = map[string]Community{
	"GRACEFUL_SHUTDOWN":   GracefulShutdown,
	"ACCEPT_OWN":          AcceptOwn,
	"LLGR_STALE":          LLGRStale,
	"NO_LLGR":             NoLLGR,
	"BLACKHOLE":           Blackhole,
	"NO_EXPORT":           NoExport,
	"NO_ADVERTISE":        NoAdvertise,
	"NO_EXPORT_SUBCONFED": NoExportSubconfed,
	"NOPEER":              NoPeer,
}

// Standard returns the RFC 1997 community asn:value.
func Standard(asn, value uint16) Community {
	return Community{a: uint32(asn), b: uint32(value)}
}

// Large returns the RFC 8092 large community global:local1:local2.
func Large(global, local1, local2 uint32) Community {
	return Community{large: true, a: global, b: local1, c: local2}
}

// IsLarge reports whether c is an RFC 8092 large community.
func (c Community) IsLarge() bool { return c.large }

// Uint32 is a standard community's wire value (ASN in the high 16 bits); ok
// is false for a large community.
func (c Community) Uint32() (v uint32, ok bool) {
	if c.large {
		return 0, false
	}
	return c.a<<16 | c.b, true
}

// LargeParts are a large community's three parts; ok is false for a
// standard community.
func (c Community) LargeParts() (global, local1, local2 uint32, ok bool) {
	if !c.large {
		return 0, 0, 0, false
	}
	return c.a, c.b, c.c, true
}

// Name is the well-known name of c ("GRACEFUL_SHUTDOWN"), "" when it has none.
func (c Community) Name() string {
	for n, w := range wellKnown {
		if w == c {
			return n
		}
	}
	return ""
}

// String writes c in numbers ("65535:0", "65010:1:2"), the form routers
// show and ParseCommunity reads back; well-known communities too, so a
// route's communities read the same here as in a looking glass.
func (c Community) String() string {
	if c.large {
		return strconv.FormatUint(uint64(c.a), 10) + ":" + strconv.FormatUint(uint64(c.b), 10) + ":" + strconv.FormatUint(uint64(c.c), 10)
	}
	return strconv.FormatUint(uint64(c.a), 10) + ":" + strconv.FormatUint(uint64(c.b), 10)
}

// MarshalText writes String, so JSON carries "65535:0".
func (c Community) MarshalText() ([]byte, error) { return []byte(c.String()), nil }

// UnmarshalText reads what ParseCommunity reads.
func (c *Community) UnmarshalText(b []byte) error {
	v, err := ParseCommunity(string(b))
	if err != nil {
		return err
	}
	*c = v
	return nil
}

// maxCommunityText bounds the input ParseCommunity looks at: the longest
// valid form is a large community of three 10-digit numbers.
const maxCommunityText = 64

// ParseCommunity reads a community written "ASN:VALUE" (each 0-65535),
// "GLOBAL:LOCAL1:LOCAL2" (each 0-4294967295) or a well-known name
// (GRACEFUL_SHUTDOWN, NO_EXPORT, NO_ADVERTISE, BLACKHOLE, ...).
//
// Numbers are plain decimal: no sign, no spaces and no leading zeros
// ("065535:0" is refused), so every accepted number reads back the same
// from String and two spellings never name one community in a
// configuration. The error says how to write it.
func ParseCommunity(s string) (Community, error) {
	if len(s) > maxCommunityText {
		return Community{}, fmt.Errorf("community %.20q...: too long (write it like 65535:0 or 65010:1:2)", s)
	}
	if c, ok := wellKnown[strings.ToUpper(strings.ReplaceAll(s, "-", "_"))]; ok {
		return c, nil
	}
	parts := strings.Split(s, ":")
	switch len(parts) {
	case 2:
		asn, err := communityPart(s, parts[0], 16)
		if err != nil {
			return Community{}, err
		}
		v, err := communityPart(s, parts[1], 16)
		if err != nil {
			return Community{}, err
		}
		return Standard(uint16(asn), uint16(v)), nil
	case 3:
		var n [3]uint32
		for i, p := range parts {
			v, err := communityPart(s, p, 32)
			if err != nil {
				return Community{}, err
			}
			n[i] = uint32(v)
		}
		return Large(n[0], n[1], n[2]), nil
	}
	return Community{}, fmt.Errorf("community %q: want ASN:VALUE (65535:0), GLOBAL:LOCAL1:LOCAL2 (65010:1:2) or a well-known name (GRACEFUL_SHUTDOWN, NO_EXPORT, ...)", s)
}

// communityPart reads one decimal part of s of at most bits bits.
func communityPart(s, part string, bits int) (uint64, error) {
	if part == "" {
		return 0, fmt.Errorf("community %q: empty part", s)
	}
	for _, r := range part {
		if r < '0' || r > '9' {
			return 0, fmt.Errorf("community %q: %q is not a decimal number", s, part)
		}
	}
	v, err := strconv.ParseUint(part, 10, bits)
	if err != nil {
		return 0, fmt.Errorf("community %q: %s is over %d", s, part, uint64(1)<<bits-1)
	}
	if len(part) > 1 && part[0] == '0' {
		return 0, fmt.Errorf("community %q: leading zero in %q (write %d)", s, part, v)
	}
	return v, nil
}
