package session

import (
	"fmt"
	"unicode/utf8"
)

// Notification is the BGP NOTIFICATION that closed a session (RFC 4271 §4.5).
type Notification struct {
	Code    uint8  `json:"code"`
	Subcode uint8  `json:"subcode"`
	Data    []byte `json:"data,omitempty"`
}

// NOTIFICATION error codes this package gives advice for.
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

// subcodes names the subcodes of RFC 4271, 4486, 8538, 9234 and 9384.
var subcodes = map[uint8]map[uint8]string{
	CodeHeader: {1: "Connection Not Synchronized", 2: "Bad Message Length", 3: "Bad Message Type"},
	CodeOpen: {1: "Unsupported Version Number", 2: "Bad Peer AS", 3: "Bad BGP Identifier",
		4: "Unsupported Optional Parameter", 6: "Unacceptable Hold Time", 7: "Unsupported Capability",
		11: "Role Mismatch"},
	CodeUpdate: {1: "Malformed Attribute List", 2: "Unrecognized Well-known Attribute",
		3: "Missing Well-known Attribute", 4: "Attribute Flags Error", 5: "Attribute Length Error",
		6: "Invalid ORIGIN Attribute", 8: "Invalid NEXT_HOP Attribute", 9: "Optional Attribute Error",
		10: "Invalid Network Field", 11: "Malformed AS_PATH"},
	CodeFSM: {1: "Unexpected Message in OpenSent", 2: "Unexpected Message in OpenConfirm",
		3: "Unexpected Message in Established"},
	CodeCease: {1: "Maximum Number of Prefixes Reached", 2: "Administrative Shutdown",
		3: "Peer De-configured", 4: "Administrative Reset", 5: "Connection Rejected",
		6: "Other Configuration Change", 7: "Connection Collision Resolution", 8: "Out of Resources",
		9: "Hard Reset", 10: "BFD Down"},
}

// String names the code and subcode, e.g. "Cease/Administrative Shutdown (6/2)".
func (n Notification) String() string {
	c, ok := codeNames[n.Code]
	if !ok {
		c = fmt.Sprintf("code %d", n.Code)
	}
	if s, ok := subcodes[n.Code][n.Subcode]; ok {
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

// advice returns the troubleshooting-matrix line for the NOTIFICATION:
// what it usually means and what to check first.
func (n Notification) advice() string {
	switch n.Code {
	case CodeHoldTimer:
		return "No KEEPALIVE or UPDATE arrived within the hold time: look for packet loss or a link going down between the routers (interface errors, optics, LACP), or a CPU too busy to send keepalives on the side that went silent."
	case CodeCease:
		switch n.Subcode {
		case 1:
			return "The peer sent more prefixes than the maximum-prefix limit: check the peer for a route leak or deaggregation before raising the limit."
		case 2:
			return "Someone or some automation shut the session down (neighbor shutdown): check the change log and the shutdown message."
		case 3:
			return "The peer was removed from the configuration on one side: restore it if the removal was not intended."
		case 4:
			return "The session was reset by hand (clear bgp): check who reset it and why."
		case 5:
			return "The peer refuses the connection: the neighbor is not configured for this address or AS on the other side, or an ACL, TCP-MD5 or TTL-security setting rejects it."
		case 6:
			return "A configuration change (policy, timers, capabilities) reset the session: check the recent change."
		case 7:
			return "Both sides opened a connection at once and one was closed: harmless unless it repeats."
		case 8:
			return "The peer ran out of memory or another resource: check its RIB size and memory."
		case 9:
			return "A hard reset discarded graceful-restart state: look for the reason the session was reset."
		case 10:
			return "BFD declared the forwarding path down: the link or a device in between is losing packets."
		}
		return "The session was closed with a Cease NOTIFICATION: read the subcode and the peer's logs."
	case CodeOpen:
		switch n.Subcode {
		case 2:
			return "The peer AS does not match the remote-as configured: fix the AS on one side."
		case 3:
			return "The BGP identifier is invalid or equal to ours: give each router a unique router-id."
		case 6:
			return "The hold time proposed is unacceptable to the peer: align the timers."
		case 4, 7:
			return "A capability or optional parameter is not supported by the peer: align the address families and capabilities (add-path, 4-octet AS, extended messages)."
		case 11:
			return "The BGP roles (RFC 9234) of the two sides do not match: align the role configuration."
		}
		return "The OPEN was rejected: compare AS numbers, router IDs, timers and capabilities on both sides."
	case CodeUpdate:
		return "The peer sent an UPDATE this side could not parse: a software bug or an attribute one side does not support; capture the UPDATE and consider treat-as-withdraw (RFC 7606)."
	case CodeHeader:
		return "A malformed BGP message header: usually corruption in transit or a software bug; check MTU and the TCP path."
	case CodeFSM:
		return "A message arrived in the wrong state: usually a software bug on one side or a connection collision; check both sides' logs."
	}
	return "Read the NOTIFICATION code and subcode and the peer's logs."
}
