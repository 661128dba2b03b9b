package wire

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/anydiag/anydiag/internal/bgpnames"
)

// errShort is wrapped by every "the bytes end too early" error.
var errShort = errors.New("message ends too early")

func short(what string, have, want int) error {
	return fmt.Errorf("%s: %d bytes, need %d: %w", what, have, want, errShort)
}

// PeerType is the per-peer header's peer type.
type PeerType uint8

// Peer types (RFC 7854 4.2, RFC 9069).
const (
	PeerGlobal   PeerType = 0
	PeerRD       PeerType = 1
	PeerLocal    PeerType = 2
	PeerLocalRIB PeerType = 3
)

// Per-peer header flags (RFC 7854 4.2, RFC 8671, RFC 9069).
const (
	FlagV = 0x80 // peer address is IPv6 (types 0-2)
	FlagF = 0x80 // Loc-RIB is filtered (type 3)
	FlagL = 0x40 // post-policy
	FlagA = 0x20 // AS_PATH uses 2-byte ASNs
	FlagO = 0x10 // Adj-RIB-Out (RFC 8671)
)

// Table is the RIB a route-monitoring message describes.
type Table uint8

// Tables, in the order DESIGN.md lists them.
const (
	AdjRIBInPre Table = iota
	AdjRIBInPost
	AdjRIBOutPre
	AdjRIBOutPost
	LocRIB
	NumTables
)

var tableNames = [NumTables]string{"adj-rib-in-pre", "adj-rib-in-post", "adj-rib-out-pre", "adj-rib-out-post", "loc-rib"}

// String is the table's name in the HTTP API.
func (t Table) String() string {
	if t < NumTables {
		return tableNames[t]
	}
	return "unknown"
}

// ParseTable is the inverse of Table.String.
func ParseTable(s string) (Table, bool) {
	for i, n := range tableNames {
		if n == s {
			return Table(i), true
		}
	}
	return 0, false
}

// PeerHeader is the per-peer header (RFC 7854 4.2).
type PeerHeader struct {
	Type          PeerType
	Flags         uint8
	Distinguisher uint64
	Address       netip.Addr
	AS            uint32
	BGPID         netip.Addr
	// Time is when the router saw the event; zero when the router sent zero.
	Time time.Time
}

// Table is the RIB the header's type and flags designate.
func (h *PeerHeader) Table() Table {
	switch {
	case h.Type == PeerLocalRIB:
		return LocRIB
	case h.Flags&FlagO != 0 && h.Flags&FlagL != 0:
		return AdjRIBOutPost
	case h.Flags&FlagO != 0:
		return AdjRIBOutPre
	case h.Flags&FlagL != 0:
		return AdjRIBInPost
	}
	return AdjRIBInPre
}

// TwoByteAS reports the A flag: the AS_PATH in this peer's messages uses
// 2-byte ASNs.
func (h *PeerHeader) TwoByteAS() bool { return h.Flags&FlagA != 0 }

// Filtered reports RFC 9069's F flag on a Loc-RIB peer.
func (h *PeerHeader) Filtered() bool { return h.Type == PeerLocalRIB && h.Flags&FlagF != 0 }

// DecodePeerHeader decodes the per-peer header at the start of b (the message
// after its common header).
func DecodePeerHeader(b []byte, h *PeerHeader) error {
	if len(b) < PeerHeaderLen {
		return short("per-peer header", len(b), PeerHeaderLen)
	}
	h.Type = PeerType(b[0])
	h.Flags = b[1]
	h.Distinguisher = binary.BigEndian.Uint64(b[2:10])
	h.Address = decodeAddr16(b[10:26], h.Type != PeerLocalRIB && b[1]&FlagV != 0)
	h.AS = binary.BigEndian.Uint32(b[26:30])
	h.BGPID = netip.AddrFrom4([4]byte(b[30:34]))
	sec, usec := binary.BigEndian.Uint32(b[34:38]), binary.BigEndian.Uint32(b[38:42])
	if sec == 0 && usec == 0 {
		h.Time = time.Time{}
	} else {
		h.Time = time.Unix(int64(sec), int64(usec)*1000).UTC()
	}
	return nil
}

// decodeAddr16 reads a 16-byte address field: IPv6 when v6, else IPv4 in the
// last four bytes. Loc-RIB peers have no V flag, so an all-zero or v4-shaped
// field is read as IPv4 there.
func decodeAddr16(b []byte, v6 bool) netip.Addr {
	a := [16]byte(b)
	if v6 {
		return netip.AddrFrom16(a)
	}
	return netip.AddrFrom4([4]byte(b[12:16]))
}

// TLV is a BMP information TLV.
type TLV struct {
	Type  uint16
	Value []byte
}

// decodeTLVs reads 2-byte type, 2-byte length TLVs until b ends. Values are
// copied: these messages are rare and their TLVs are kept.
func decodeTLVs(b []byte) ([]TLV, error) {
	var out []TLV
	for len(b) > 0 {
		if len(b) < 4 {
			return nil, short("information TLV header", len(b), 4)
		}
		t, l := binary.BigEndian.Uint16(b), int(binary.BigEndian.Uint16(b[2:]))
		if len(b) < 4+l {
			return nil, short(fmt.Sprintf("information TLV type %d", t), len(b)-4, l)
		}
		out = append(out, TLV{Type: t, Value: append([]byte(nil), b[4:4+l]...)})
		b = b[4+l:]
	}
	return out, nil
}

// Information TLV types of Initiation and Peer Up (RFC 7854 4.4, RFC 9069).
const (
	InfoString    = 0
	InfoSysDescr  = 1
	InfoSysName   = 2
	InfoTableName = 3
)

// Initiation is the first message of a session.
type Initiation struct {
	SysName  string
	SysDescr string
	TLVs     []TLV
}

// DecodeInitiation decodes the body after the common header.
func DecodeInitiation(body []byte) (*Initiation, error) {
	tlvs, err := decodeTLVs(body)
	if err != nil {
		return nil, fmt.Errorf("initiation: %w", err)
	}
	in := &Initiation{TLVs: tlvs}
	for _, t := range tlvs {
		switch t.Type {
		case InfoSysName:
			in.SysName = string(t.Value)
		case InfoSysDescr:
			in.SysDescr = string(t.Value)
		}
	}
	return in, nil
}

// Termination is the last message of a session.
type Termination struct {
	// Reason is the reason TLV's code (RFC 7854 4.5), or -1 when absent.
	Reason int
	TLVs   []TLV
}

var terminationReasons = []string{"administratively closed", "unspecified reason", "out of resources", "redundant connection", "permanently administratively closed"}

// ReasonText says the reason in words.
func (t *Termination) ReasonText() string {
	if t.Reason < 0 {
		return "no reason given"
	}
	if t.Reason < len(terminationReasons) {
		return terminationReasons[t.Reason]
	}
	return fmt.Sprintf("reason %d", t.Reason)
}

// DecodeTermination decodes the body after the common header.
func DecodeTermination(body []byte) (*Termination, error) {
	tlvs, err := decodeTLVs(body)
	if err != nil {
		return nil, fmt.Errorf("termination: %w", err)
	}
	t := &Termination{Reason: -1, TLVs: tlvs}
	for _, v := range tlvs {
		if v.Type == 1 && len(v.Value) == 2 {
			t.Reason = int(binary.BigEndian.Uint16(v.Value))
		}
	}
	return t, nil
}

// Family is an AFI/SAFI pair.
type Family struct {
	AFI  uint16
	SAFI uint8
}

// Families the RIB keeps.
var (
	IPv4Unicast = Family{AFI: 1, SAFI: 1}
	IPv6Unicast = Family{AFI: 2, SAFI: 1}
)

// String prints the family as BGP implementations do.
func (f Family) String() string {
	switch f {
	case IPv4Unicast:
		return "ipv4-unicast"
	case IPv6Unicast:
		return "ipv6-unicast"
	}
	return fmt.Sprintf("afi%d-safi%d", f.AFI, f.SAFI)
}

// AddPathMode is the ADD-PATH capability's send/receive field (RFC 7911).
type AddPathMode uint8

// ADD-PATH modes.
const (
	AddPathReceive AddPathMode = 1
	AddPathSend    AddPathMode = 2
	AddPathBoth    AddPathMode = 3
)

// Capability codes the station decodes.
const (
	CapMultiprotocol   = 1
	CapExtendedMessage = 6
	CapFourByteAS      = 65
	CapAddPath         = 69
)

// Open is a decoded BGP OPEN message.
type Open struct {
	Version         uint8
	AS              uint32 // the 4-byte AS capability's ASN when present, else My AS
	HoldTimeSeconds uint16
	BGPID           netip.Addr
	// Capabilities lists every capability code, in order.
	Capabilities    []uint8
	FourByteAS      bool
	ExtendedMessage bool
	Multiprotocol   []Family
	AddPath         map[Family]AddPathMode
	Raw             []byte
}

// DecodeOpen decodes a BGP OPEN message, marker and header included. It
// accepts RFC 9072 extended optional parameters.
func DecodeOpen(b []byte) (*Open, error) {
	if len(b) < 29 {
		return nil, short("OPEN", len(b), 29)
	}
	if l := int(binary.BigEndian.Uint16(b[16:18])); l != len(b) {
		return nil, fmt.Errorf("OPEN: header length %d, message is %d bytes", l, len(b))
	}
	if b[18] != 1 {
		return nil, fmt.Errorf("OPEN: BGP message type %d, want 1", b[18])
	}
	o := &Open{
		Version:         b[19],
		AS:              uint32(binary.BigEndian.Uint16(b[20:22])),
		HoldTimeSeconds: binary.BigEndian.Uint16(b[22:24]),
		BGPID:           netip.AddrFrom4([4]byte(b[24:28])),
		Raw:             append([]byte(nil), b...),
	}
	optLen := int(b[28])
	p := b[29:]
	wide := false
	if optLen == 255 && len(p) >= 3 && p[0] == 255 {
		optLen, wide, p = int(binary.BigEndian.Uint16(p[1:3])), true, p[3:]
	}
	if len(p) != optLen {
		return nil, fmt.Errorf("OPEN: optional parameters length %d, %d bytes follow", optLen, len(p))
	}
	for len(p) > 0 {
		hl := 2
		if wide {
			hl = 3
		}
		if len(p) < hl {
			return nil, short("OPEN parameter header", len(p), hl)
		}
		typ, l := p[0], int(p[1])
		if wide {
			l = int(binary.BigEndian.Uint16(p[1:3]))
		}
		if len(p) < hl+l {
			return nil, short(fmt.Sprintf("OPEN parameter %d", typ), len(p)-hl, l)
		}
		if typ == 2 {
			if err := o.decodeCapabilities(p[hl : hl+l]); err != nil {
				return nil, err
			}
		}
		p = p[hl+l:]
	}
	return o, nil
}

func (o *Open) decodeCapabilities(b []byte) error {
	for len(b) > 0 {
		if len(b) < 2 {
			return short("capability header", len(b), 2)
		}
		code, l := b[0], int(b[1])
		if len(b) < 2+l {
			return short(fmt.Sprintf("capability %d", code), len(b)-2, l)
		}
		v := b[2 : 2+l]
		o.Capabilities = append(o.Capabilities, code)
		switch code {
		case CapMultiprotocol:
			if l != 4 {
				return fmt.Errorf("multiprotocol capability: length %d, want 4", l)
			}
			o.Multiprotocol = append(o.Multiprotocol, Family{AFI: binary.BigEndian.Uint16(v), SAFI: v[3]})
		case CapFourByteAS:
			if l != 4 {
				return fmt.Errorf("4-byte AS capability: length %d, want 4", l)
			}
			o.FourByteAS = true
			o.AS = binary.BigEndian.Uint32(v)
		case CapExtendedMessage:
			o.ExtendedMessage = true
		case CapAddPath:
			if l%4 != 0 {
				return fmt.Errorf("ADD-PATH capability: length %d is not a multiple of 4", l)
			}
			if o.AddPath == nil {
				o.AddPath = make(map[Family]AddPathMode)
			}
			for i := 0; i < l; i += 4 {
				o.AddPath[Family{AFI: binary.BigEndian.Uint16(v[i:]), SAFI: v[i+2]}] = AddPathMode(v[i+3])
			}
		}
		b = b[2+l:]
	}
	return nil
}

// PeerUp is a Peer Up notification (RFC 7854 4.10, RFC 9069 for Loc-RIB).
type PeerUp struct {
	LocalAddress netip.Addr
	LocalPort    uint16
	RemotePort   uint16
	// Sent is the OPEN the monitored router sent, Received the one it got.
	Sent, Received *Open
	TLVs           []TLV
	// TableName is RFC 9069's VRF/table name TLV.
	TableName string
}

// AddPathRx reports whether UPDATEs the monitored router receives from this
// peer carry path IDs for f: the router's OPEN offered Receive and the peer's
// offered Send (RFC 7911 section 4).
func (u *PeerUp) AddPathRx(f Family) bool {
	return u.Sent.AddPath[f]&AddPathReceive != 0 && u.Received.AddPath[f]&AddPathSend != 0
}

// AddPathTx reports whether UPDATEs the router sends to this peer (its
// Adj-RIB-Out) carry path IDs for f.
func (u *PeerUp) AddPathTx(f Family) bool {
	return u.Sent.AddPath[f]&AddPathSend != 0 && u.Received.AddPath[f]&AddPathReceive != 0
}

// FourByteAS reports whether both sides negotiated 4-byte ASNs.
func (u *PeerUp) FourByteAS() bool { return u.Sent.FourByteAS && u.Received.FourByteAS }

// DecodePeerUp decodes the body after the per-peer header. v6 is the peer
// header's V flag, which also governs the local address.
func DecodePeerUp(b []byte, v6 bool) (*PeerUp, error) {
	if len(b) < 20 {
		return nil, short("peer up", len(b), 20)
	}
	u := &PeerUp{
		LocalAddress: decodeAddr16(b[:16], v6),
		LocalPort:    binary.BigEndian.Uint16(b[16:18]),
		RemotePort:   binary.BigEndian.Uint16(b[18:20]),
	}
	b = b[20:]
	var err error
	for i, dst := range []**Open{&u.Sent, &u.Received} {
		if len(b) < 19 {
			return nil, short(fmt.Sprintf("peer up OPEN %d", i+1), len(b), 19)
		}
		l := int(binary.BigEndian.Uint16(b[16:18]))
		if l < 19 || l > len(b) {
			return nil, fmt.Errorf("peer up OPEN %d: length %d, %d bytes left: %w", i+1, l, len(b), errShort)
		}
		if *dst, err = DecodeOpen(b[:l]); err != nil {
			return nil, fmt.Errorf("peer up OPEN %d: %w", i+1, err)
		}
		b = b[l:]
	}
	if u.TLVs, err = decodeTLVs(b); err != nil {
		return nil, fmt.Errorf("peer up: %w", err)
	}
	for _, t := range u.TLVs {
		if t.Type == InfoTableName {
			u.TableName = string(t.Value)
		}
	}
	return u, nil
}

// PeerDown is a Peer Down notification.
type PeerDown struct {
	// Reason is the Peer Down reason (bgpnames.PeerDownReason's numbers).
	Reason uint8
	// Notification is set for reasons 1 and 3.
	Notification *Notification
	// FSMEvent is set for reason 2.
	FSMEvent uint16
	TLVs     []TLV
}

// ReasonText says the reason, and the NOTIFICATION when there is one, in words:
// "remote system closed the session with a NOTIFICATION: Hold Timer Expired (4/0)".
func (d *PeerDown) ReasonText() string {
	s := bgpnames.PeerDownReason(d.Reason).String()
	if d.Notification != nil {
		s += ": " + d.Notification.String()
	}
	return s
}

// DecodePeerDown decodes the body after the per-peer header.
func DecodePeerDown(b []byte) (*PeerDown, error) {
	if len(b) < 1 {
		return nil, short("peer down", 0, 1)
	}
	d := &PeerDown{Reason: b[0]}
	b = b[1:]
	switch bgpnames.PeerDownReason(d.Reason) {
	case bgpnames.PeerDownLocalNotification, bgpnames.PeerDownRemoteNotification:
		n, err := DecodeNotification(b)
		if err != nil {
			return nil, fmt.Errorf("peer down reason %d: %w", d.Reason, err)
		}
		d.Notification = n
	case bgpnames.PeerDownLocalNoNotification:
		if len(b) >= 2 {
			d.FSMEvent = binary.BigEndian.Uint16(b)
		}
	case bgpnames.PeerDownLocalTLV:
		tlvs, err := decodeTLVs(b)
		if err != nil {
			return nil, fmt.Errorf("peer down reason 6: %w", err)
		}
		d.TLVs = tlvs
	}
	return d, nil
}

// Notification is a BGP NOTIFICATION message; its String names the code and
// subcode from the one BGP vocabulary, internal/bgpnames.
type Notification = bgpnames.Notification

// DecodeNotification decodes a BGP NOTIFICATION, header included.
func DecodeNotification(b []byte) (*Notification, error) {
	if len(b) < 21 {
		return nil, short("NOTIFICATION", len(b), 21)
	}
	l := int(binary.BigEndian.Uint16(b[16:18]))
	if l < 21 || l > len(b) {
		return nil, fmt.Errorf("NOTIFICATION: length %d, %d bytes present", l, len(b))
	}
	if b[18] != 3 {
		return nil, fmt.Errorf("NOTIFICATION: BGP message type %d, want 3", b[18])
	}
	return &Notification{Code: b[19], Subcode: b[20], Data: append([]byte(nil), b[21:l]...)}, nil
}

// StatKind says how a statistic behaves.
type StatKind uint8

// Statistic kinds.
const (
	StatCounter StatKind = iota
	StatGauge
)

// Stat is one statistic of a Statistics Report.
type Stat struct {
	Type uint16
	// Family is set for the per-AFI/SAFI types (9, 10, 16, 17).
	Family *Family
	Kind   StatKind
	Value  uint64
}

// Name is the statistic's RFC 7854 / RFC 8671 meaning as a metric-friendly word.
func (s Stat) Name() string {
	if int(s.Type) < len(statNames) {
		return statNames[s.Type]
	}
	return fmt.Sprintf("type_%d", s.Type)
}

var statNames = [...]string{
	"rejected_prefixes", "duplicate_prefix_advertisements", "duplicate_withdraws",
	"invalid_cluster_list_loop", "invalid_as_path_loop", "invalid_originator_id",
	"invalid_as_confed_loop", "adj_rib_in_routes", "loc_rib_routes",
	"adj_rib_in_routes_per_afi_safi", "loc_rib_routes_per_afi_safi",
	"updates_treated_as_withdraw", "prefixes_treated_as_withdraw", "duplicate_updates",
	"adj_rib_out_pre_policy_routes", "adj_rib_out_post_policy_routes",
	"adj_rib_out_pre_policy_routes_per_afi_safi", "adj_rib_out_post_policy_routes_per_afi_safi",
}

// DecodeStats decodes a Statistics Report body after the per-peer header.
// Types 7-10 and 14-17 are gauges, the others counters; per-AFI/SAFI types
// carry the family. Unknown types of 4 or 8 bytes are kept as counters,
// others are skipped, so a new type never fails the whole report.
func DecodeStats(b []byte) ([]Stat, error) {
	if len(b) < 4 {
		return nil, short("statistics report", len(b), 4)
	}
	count := binary.BigEndian.Uint32(b)
	b = b[4:]
	out := make([]Stat, 0, min(count, 64))
	for i := uint32(0); i < count; i++ {
		if len(b) < 4 {
			return nil, short(fmt.Sprintf("statistic %d of %d", i+1, count), len(b), 4)
		}
		t, l := binary.BigEndian.Uint16(b), int(binary.BigEndian.Uint16(b[2:]))
		if len(b) < 4+l {
			return nil, short(fmt.Sprintf("statistic type %d", t), len(b)-4, l)
		}
		v := b[4 : 4+l]
		b = b[4+l:]
		s := Stat{Type: t}
		switch t {
		case 7, 8, 14, 15:
			s.Kind = StatGauge
		case 9, 10, 16, 17:
			s.Kind = StatGauge
			if l != 11 {
				return nil, fmt.Errorf("statistic type %d: length %d, want 11", t, l)
			}
			s.Family = &Family{AFI: binary.BigEndian.Uint16(v), SAFI: v[2]}
			v = v[3:]
		}
		switch len(v) {
		case 4:
			s.Value = uint64(binary.BigEndian.Uint32(v))
		case 8:
			s.Value = binary.BigEndian.Uint64(v)
		default:
			if int(t) < len(statNames) {
				return nil, fmt.Errorf("statistic type %d: length %d, want 4 or 8", t, l)
			}
			continue
		}
		out = append(out, s)
	}
	return out, nil
}

// RouteMirroring counts what a Route Mirroring message carries.
type RouteMirroring struct {
	// Messages is the number of BGP message TLVs.
	Messages int
	// Lost is set when the information TLV says messages were lost.
	Lost bool
}

// DecodeRouteMirroring decodes the body after the per-peer header.
func DecodeRouteMirroring(b []byte) (RouteMirroring, error) {
	var m RouteMirroring
	for len(b) > 0 {
		if len(b) < 4 {
			return m, short("route mirroring TLV header", len(b), 4)
		}
		t, l := binary.BigEndian.Uint16(b), int(binary.BigEndian.Uint16(b[2:]))
		if len(b) < 4+l {
			return m, short(fmt.Sprintf("route mirroring TLV %d", t), len(b)-4, l)
		}
		switch t {
		case 0:
			m.Messages++
		case 1:
			if l == 2 && binary.BigEndian.Uint16(b[4:]) == 1 {
				m.Lost = true
			}
		}
		b = b[4+l:]
	}
	return m, nil
}

var peerTypeNames = [...]string{"global", "rd", "local", "loc-rib"}

// String is the peer type's name in the HTTP API: global, rd (RD instance:
// a VRF / L3VPN), local, loc-rib; unknown types are "type-N".
func (t PeerType) String() string {
	if int(t) < len(peerTypeNames) {
		return peerTypeNames[t]
	}
	return "type-" + strconv.Itoa(int(t))
}

// ParsePeerType reads what String writes ("l3vpn" too, for rd).
func ParsePeerType(s string) (PeerType, bool) {
	if s == "l3vpn" {
		return PeerRD, true
	}
	for i, n := range peerTypeNames {
		if n == s {
			return PeerType(i), true
		}
	}
	return 0, false
}

// FormatDistinguisher writes a peer distinguisher (a route distinguisher,
// RFC 4364 4.2) as TYPE:ADMINISTRATOR:ASSIGNED, the way pmacct does: type 0
// "0:65000:1" (2-byte ASN), type 1 "1:192.0.2.1:7" (IPv4 address), type 2
// "2:4226809946:907" (4-byte ASN). Other types are "TYPE:0x" + 12 hex digits.
func FormatDistinguisher(d uint64) string {
	typ := d >> 48
	switch typ {
	case 0:
		return fmt.Sprintf("0:%d:%d", (d>>32)&0xffff, d&0xffffffff)
	case 1:
		return fmt.Sprintf("1:%d.%d.%d.%d:%d", byte(d>>40), byte(d>>32), byte(d>>24), byte(d>>16), d&0xffff)
	case 2:
		return fmt.Sprintf("2:%d:%d", (d>>16)&0xffffffff, d&0xffff)
	}
	return fmt.Sprintf("%d:0x%012x", typ, d&0xffffffffffff)
}

// ParseDistinguisher reads what FormatDistinguisher writes. Without the
// leading type (ADMIN:ASSIGNED, as routers print RDs) the type follows from
// the administrator: an IPv4 address is type 1, an ASN above 65535 type 2,
// else type 0.
func ParseDistinguisher(s string) (uint64, error) {
	bad := func(why string) (uint64, error) {
		return 0, fmt.Errorf("distinguisher %q: %s (want TYPE:ADMIN:NUMBER such as 0:65000:1, 1:192.0.2.1:7 or 2:4226809946:907)", s, why)
	}
	parts := strings.Split(s, ":")
	typ := -1
	switch len(parts) {
	case 3:
		t, err := strconv.ParseUint(parts[0], 10, 16)
		if err != nil || t > 2 {
			return bad("the type is 0, 1 or 2")
		}
		typ, parts = int(t), parts[1:]
	case 2:
	default:
		return bad("wrong number of fields")
	}
	admin, num := parts[0], parts[1]
	if a, err := netip.ParseAddr(admin); err == nil {
		if !a.Is4() || (typ != -1 && typ != 1) {
			return bad("an IPv4 administrator goes with type 1")
		}
		n, err := strconv.ParseUint(num, 10, 16)
		if err != nil {
			return bad("the number of a type 1 distinguisher is 0 to 65535")
		}
		b := a.As4()
		return 1<<48 | uint64(b[0])<<40 | uint64(b[1])<<32 | uint64(b[2])<<24 | uint64(b[3])<<16 | n, nil
	}
	as, err := strconv.ParseUint(admin, 10, 32)
	if err != nil {
		return bad("the administrator is neither an ASN nor an IPv4 address")
	}
	if typ == -1 {
		typ = 0
		if as > 0xffff {
			typ = 2
		}
	}
	switch typ {
	case 0:
		if as > 0xffff {
			return bad("a type 0 administrator is a 2-byte ASN")
		}
		n, err := strconv.ParseUint(num, 10, 32)
		if err != nil {
			return bad("the number of a type 0 distinguisher is 0 to 4294967295")
		}
		return as<<32 | n, nil
	case 2:
		n, err := strconv.ParseUint(num, 10, 16)
		if err != nil {
			return bad("the number of a type 2 distinguisher is 0 to 65535")
		}
		return 2<<48 | as<<16 | n, nil
	}
	return bad("an ASN administrator goes with type 0 or 2")
}
