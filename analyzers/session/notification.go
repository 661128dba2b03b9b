package session

import "github.com/anydiag/anydiag/internal/bgpnames"

// advice returns the troubleshooting-matrix line for the NOTIFICATION:
// what it usually means and what to check first. The names of codes and
// subcodes are internal/bgpnames'; the advice is this analyzer's.
func advice(n bgpnames.Notification) string {
	switch n.Code {
	case bgpnames.CodeHoldTimer:
		return "No KEEPALIVE or UPDATE arrived within the hold time: look for packet loss or a link going down between the routers (interface errors, optics, LACP), or a CPU too busy to send keepalives on the side that went silent."
	case bgpnames.CodeCease:
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
	case bgpnames.CodeOpen:
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
	case bgpnames.CodeUpdate:
		return "The peer sent an UPDATE this side could not parse: a software bug or an attribute one side does not support; capture the UPDATE and consider treat-as-withdraw (RFC 7606)."
	case bgpnames.CodeHeader:
		return "A malformed BGP message header: usually corruption in transit or a software bug; check MTU and the TCP path."
	case bgpnames.CodeFSM:
		return "A message arrived in the wrong state: usually a software bug on one side or a connection collision; check both sides' logs."
	}
	return "Read the NOTIFICATION code and subcode and the peer's logs."
}
