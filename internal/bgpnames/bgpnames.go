// Package bgpnames is anydiag's one BGP vocabulary: the names of NOTIFICATION
// error codes and subcodes (RFC 4271 §4.5 and the IANA "BGP Error
// (Notification) Codes" and subcodes registries) and of BMP Peer Down
// reasons (RFC 7854 §4.9, RFC 9069).
//
// It is a leaf (standard library only) so that bmp/wire, which decodes
// them, the speakers, which read them from their daemon, and
// analyzers/session, which advises on them, share the words without any of
// them importing another. The advice stays in analyzers/session.
package bgpnames

import (
	"fmt"
	"unicode/utf8"
)

// NOTIFICATION error codes (RFC 4271 §4.5, RFC 7313).
const (
	CodeHeader       uint8 = 1
	CodeOpen         uint8 = 2
	CodeUpdate       uint8 = 3
	CodeHoldTimer    uint8 = 4
	CodeFSM          uint8 = 5
	CodeCease        uint8 = 6
	CodeRouteRefresh uint8 = 7
)

var codeNames = map[uint8]string{
	CodeHeader: "Message Header Error", CodeOpen: "OPEN Message Error", CodeUpdate: "UPDATE Message Error",
	CodeHoldTimer: "Hold Timer Expired", CodeFSM: "Finite State Machine Error", CodeCease: "Cease",
	CodeRouteRefresh: "ROUTE-REFRESH Message Error",
}

// subcodeNames are the subcodes of RFC 4271, 4486, 6608, 7313, 8538, 9234
// and 9384, worded as the IANA registries word them.
var subcodeNames = map[uint8]map[uint8]string{
	CodeHeader: {1: "Connection Not Synchronized", 2: "Bad Message Length", 3: "Bad Message Type"},
	CodeOpen: {1: "Unsupported Version Number", 2: "Bad Peer AS", 3: "Bad BGP Identifier",
		4: "Unsupported Optional Parameter", 6: "Unacceptable Hold Time", 7: "Unsupported Capability",
		11: "Role Mismatch"},
	CodeUpdate: {1: "Malformed Attribute List", 2: "Unrecognized Well-known Attribute",
		3: "Missing Well-known Attribute", 4: "Attribute Flags Error", 5: "Attribute Length Error",
		6: "Invalid ORIGIN Attribute", 8: "Invalid NEXT_HOP Attribute", 9: "Optional Attribute Error",
		10: "Invalid Network Field", 11: "Malformed AS_PATH"},
	CodeFSM: {1: "Receive Unexpected Message in OpenSent State", 2: "Receive Unexpected Message in OpenConfirm State",
		3: "Receive Unexpected Message in Established State"},
	CodeCease: {1: "Maximum Number of Prefixes Reached", 2: "Administrative Shutdown",
		3: "Peer De-configured", 4: "Administrative Reset", 5: "Connection Rejected",
		6: "Other Configuration Change", 7: "Connection Collision Resolution", 8: "Out of Resources",
		9: "Hard Reset", 10: "BFD Down"},
	CodeRouteRefresh: {1: "Invalid Message Length"},
}

// Notification is a BGP NOTIFICATION: error code, subcode and data.
type Notification struct {
	Code    uint8  `json:"code"`
	Subcode uint8  `json:"subcode"`
	Data    []byte `json:"data,omitempty"`
}

// String names the code and subcode with their numbers, so that both the
// words and what a router's log shows can be searched:
// "Cease/Administrative Shutdown (6/2)", "Hold Timer Expired (4/0)",
// "code 99 (99/7)".
func (n Notification) String() string {
	c, ok := codeNames[n.Code]
	if !ok {
		c = fmt.Sprintf("code %d", n.Code)
	}
	if s, ok := subcodeNames[n.Code][n.Subcode]; ok {
		return fmt.Sprintf("%s/%s (%d/%d)", c, s, n.Code, n.Subcode)
	}
	return fmt.Sprintf("%s (%d/%d)", c, n.Code, n.Subcode)
}

// ShutdownMessage returns the operator's text carried by an Administrative
// Shutdown or Reset (RFC 9003: one length octet, then UTF-8), if any.
func (n Notification) ShutdownMessage() string {
	if n.Code != CodeCease || (n.Subcode != 2 && n.Subcode != 4) || len(n.Data) < 2 {
		return ""
	}
	l := int(n.Data[0])
	if l == 0 || l > len(n.Data)-1 || !utf8.Valid(n.Data[1:1+l]) {
		return ""
	}
	return string(n.Data[1 : 1+l])
}

// PeerDownReason is the reason of a BMP Peer Down (RFC 7854 §4.9, RFC 9069),
// also used for sessions a speaker reports down.
type PeerDownReason uint8

// Peer Down reasons.
const (
	PeerDownUnknown              PeerDownReason = 0
	PeerDownLocalNotification    PeerDownReason = 1
	PeerDownLocalNoNotification  PeerDownReason = 2
	PeerDownRemoteNotification   PeerDownReason = 3
	PeerDownRemoteNoNotification PeerDownReason = 4
	PeerDownDeconfigured         PeerDownReason = 5
	PeerDownLocalTLV             PeerDownReason = 6
)

// The local system is the BMP router, or the node's own speaker.
var peerDownNames = [...]string{
	PeerDownUnknown:              "unknown reason",
	PeerDownLocalNotification:    "local system closed the session with a NOTIFICATION",
	PeerDownLocalNoNotification:  "local system closed the session without a NOTIFICATION",
	PeerDownRemoteNotification:   "remote system closed the session with a NOTIFICATION",
	PeerDownRemoteNoNotification: "remote system closed the session without a NOTIFICATION",
	PeerDownDeconfigured:         "peer de-configured",
	PeerDownLocalTLV:             "local system closed the session (Loc-RIB), TLVs follow",
}

func (r PeerDownReason) String() string {
	if int(r) < len(peerDownNames) {
		return peerDownNames[r]
	}
	return fmt.Sprintf("reason %d", uint8(r))
}
