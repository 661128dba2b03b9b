package gobgpctl

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"time"

	api "github.com/osrg/gobgp/v3/api"

	"github.com/anydiag/anydiag/speakers"
	"github.com/anydiag/anydiag/speakers/internal/confirm"
)

// API is the part of GoBGP's API the controller uses. *server.BgpServer
// implements it in process; a gRPC client is adapted to it.
type API interface {
	AddPath(ctx context.Context, r *api.AddPathRequest) (*api.AddPathResponse, error)
	DeletePath(ctx context.Context, r *api.DeletePathRequest) error
	ListPath(ctx context.Context, r *api.ListPathRequest, fn func(*api.Destination)) error
	ListPeer(ctx context.Context, r *api.ListPeerRequest, fn func(*api.Peer)) error
}

// DefaultConfirmTimeout bounds the wait for a change to show up when ctx has
// no earlier deadline.
const DefaultConfirmTimeout = 10 * time.Second

// PeerState is the state of one BGP neighbor as the speaker sees it.
type PeerState = speakers.Peer

// FamilyState is one configured address family of a neighbor.
type FamilyState = speakers.FamilyState

// Controller originates prefixes on one GoBGP server and confirms each change.
// It is safe for concurrent use.
type Controller struct {
	api API
	asn uint32
	nh4 netip.Addr
	nh6 netip.Addr
	// poll is the interval between confirmation checks.
	poll time.Duration
	// lastDown, if set, says why and when a neighbor last went down.
	lastDown func(addr string) *speakers.PeerDown
	// originatedOnly: see Options.OriginatedOnly.
	originatedOnly bool

	mu       sync.Mutex
	prefixes map[netip.Prefix]speakers.PrefixState
}

// Options configure a Controller.
type Options struct {
	// ASN is the server's own AS, prepended when asked.
	ASN uint32
	// NextHop4 and NextHop6 are the next hops sent; the zero value means self.
	NextHop4, NextHop6 netip.Addr
	// Poll is the interval between confirmation checks (default 10ms).
	Poll time.Duration
	// LastDown optionally reports why and when a neighbor last went down.
	LastDown func(addr string) *speakers.PeerDown
	// OriginatedOnly says the server's export policy sends exactly the
	// paths it originates, unchanged: confirmations then read the Loc-RIB
	// and the neighbors' sent-UPDATE counters instead of each neighbor's
	// Adj-RIB-Out, which GoBGP rebuilds from the whole RIB on every read
	// (0.25 s per neighbor with 50 000 received routes, before the
	// withdrawal is even sent). The embedded speaker sets it; an external
	// gobgpd's policy is the operator's, so gobgpapi does not.
	OriginatedOnly bool
}

// New returns a controller for the server behind a.
func New(a API, o Options) *Controller {
	if o.Poll <= 0 {
		o.Poll = 10 * time.Millisecond
	}
	return &Controller{api: a, asn: o.ASN, nh4: o.NextHop4, nh6: o.NextHop6, poll: o.Poll,
		lastDown: o.LastDown, originatedOnly: o.OriginatedOnly, prefixes: map[netip.Prefix]speakers.PrefixState{}}
}

// Announce originates prefix with attrs, replacing an earlier announcement
// of it, and returns once the server's Loc-RIB and the Adj-RIB-Out of every
// established peer that negotiated the family carry it with attrs, and an
// UPDATE has been written to each peer whose Adj-RIB-Out changed.
func (c *Controller) Announce(ctx context.Context, prefix netip.Prefix, attrs speakers.Attributes) error {
	nh := c.nh4
	if prefix.Addr().Is6() {
		nh = c.nh6
	}
	path, err := BuildPath(prefix, attrs, c.asn, nh)
	if err != nil {
		return fmt.Errorf("announce %s: %w", prefix, err)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	before, err := c.snapshot(ctx, prefix)
	if err != nil {
		return fmt.Errorf("announce %s: %w", prefix, err)
	}
	if _, err := c.api.AddPath(ctx, &api.AddPathRequest{TableType: api.TableType_GLOBAL, Path: path}); err != nil {
		return fmt.Errorf("announce %s: add path: %w", prefix, err)
	}
	c.prefixes[prefix] = speakers.PrefixState{Prefix: prefix, Announced: true, Attributes: cloneAttrs(attrs)}
	if err := c.confirm(ctx, prefix, c.announced(before, attrs)); err != nil {
		return fmt.Errorf("announce %s: %w", prefix, err)
	}
	return nil
}

// Withdraw stops originating prefix and returns once the Loc-RIB no longer
// holds the local path, no established peer's Adj-RIB-Out holds the prefix,
// and the withdrawal has been written to each peer that had it.
func (c *Controller) Withdraw(ctx context.Context, prefix netip.Prefix) error {
	if err := CheckPrefix(prefix); err != nil {
		return fmt.Errorf("withdraw %s: %w", prefix, err)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	before, err := c.snapshot(ctx, prefix)
	if err != nil {
		return fmt.Errorf("withdraw %s: %w", prefix, err)
	}
	if before.local != nil {
		// The request names the path: a DeletePath with neither path nor
		// UUID would delete every locally originated path.
		path, err := BuildPath(prefix, speakers.Attributes{}, c.asn, netip.Addr{})
		if err != nil {
			return fmt.Errorf("withdraw %s: %w", prefix, err)
		}
		path.IsWithdraw = true
		if err := c.api.DeletePath(ctx, &api.DeletePathRequest{TableType: api.TableType_GLOBAL, Family: path.Family, Path: path}); err != nil {
			return fmt.Errorf("withdraw %s: delete path: %w", prefix, err)
		}
	}
	if st, ok := c.prefixes[prefix]; ok {
		st.Announced = false
		c.prefixes[prefix] = st
	}
	if err := c.confirm(ctx, prefix, c.withdrawn(before)); err != nil {
		return fmt.Errorf("withdraw %s: %w", prefix, err)
	}
	return nil
}

// State lists the prefixes this controller announced or withdrew, sorted.
func (c *Controller) State(ctx context.Context) ([]speakers.PrefixState, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make([]speakers.PrefixState, 0, len(c.prefixes))
	for _, st := range c.prefixes {
		st.Attributes = cloneAttrs(st.Attributes)
		out = append(out, st)
	}
	slices.SortFunc(out, func(a, b speakers.PrefixState) int { return a.Prefix.Addr().Compare(b.Prefix.Addr()) })
	return out, ctx.Err()
}

// Announced lists the prefixes currently announced with their attributes.
func (c *Controller) Announced() map[netip.Prefix]speakers.Attributes {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := map[netip.Prefix]speakers.Attributes{}
	for p, st := range c.prefixes {
		if st.Announced {
			out[p] = cloneAttrs(st.Attributes)
		}
	}
	return out
}

// Peers reports every configured neighbor.
func (c *Controller) Peers(ctx context.Context) ([]PeerState, error) {
	var raw []*api.Peer
	if err := c.api.ListPeer(ctx, &api.ListPeerRequest{EnableAdvertised: true}, func(p *api.Peer) { raw = append(raw, p) }); err != nil {
		return nil, fmt.Errorf("list peers: %w", err)
	}
	out := make([]PeerState, 0, len(raw))
	for _, p := range raw {
		out = append(out, c.peerState(p))
	}
	slices.SortFunc(out, func(a, b PeerState) int { return strings.Compare(a.Address, b.Address) })
	return out, nil
}

func (c *Controller) peerState(p *api.Peer) PeerState {
	st := PeerState{
		Address: p.GetState().GetNeighborAddress(),
		ASN:     p.GetState().GetPeerAsn(),
		State:   sessionState(p.GetState().GetSessionState()),
	}
	if st.Address == "" {
		st.Address = p.GetConf().GetNeighborAddress()
	}
	if st.ASN == 0 {
		st.ASN = p.GetConf().GetPeerAsn()
	}
	st.AdminDown = p.GetState().GetAdminState() != api.PeerState_UP
	if up := p.GetTimers().GetState().GetUptime(); up != nil && st.Established() {
		st.Since = up.AsTime()
	}
	var neg map[string]bool
	if st.Established() {
		neg = negotiated(p)
		for f := range neg {
			st.Families = append(st.Families, f)
		}
		slices.Sort(st.Families)
	}
	for _, af := range p.GetAfiSafis() {
		st.Received += af.GetState().GetReceived()
		st.Accepted += af.GetState().GetAccepted()
		st.Advertised += af.GetState().GetAdvertised()
		if !af.GetConfig().GetEnabled() {
			continue
		}
		f := familyKey(af.GetConfig().GetFamily())
		st.PerFamily = append(st.PerFamily, FamilyState{Family: f, Negotiated: neg[f],
			Received: af.GetState().GetReceived(), Accepted: af.GetState().GetAccepted(), Advertised: af.GetState().GetAdvertised()})
	}
	slices.SortFunc(st.PerFamily, func(a, b FamilyState) int { return strings.Compare(a.Family, b.Family) })
	if c.lastDown != nil {
		if d := c.lastDown(st.Address); d != nil {
			st.LastDown = d
			st.LastError = DescribeDown(*d)
		}
	}
	return st
}

func sessionState(s api.PeerState_SessionState) string {
	switch s {
	case api.PeerState_IDLE:
		return "Idle"
	case api.PeerState_CONNECT:
		return "Connect"
	case api.PeerState_ACTIVE:
		return "Active"
	case api.PeerState_OPENSENT:
		return "OpenSent"
	case api.PeerState_OPENCONFIRM:
		return "OpenConfirm"
	case api.PeerState_ESTABLISHED:
		return "Established"
	}
	return "Unknown"
}

func familyKey(f *api.Family) string {
	switch {
	case f.GetAfi() == api.Family_AFI_IP && f.GetSafi() == api.Family_SAFI_UNICAST:
		return "ipv4-unicast"
	case f.GetAfi() == api.Family_AFI_IP6 && f.GetSafi() == api.Family_SAFI_UNICAST:
		return "ipv6-unicast"
	}
	return fmt.Sprintf("afi%d-safi%d", f.GetAfi(), f.GetSafi())
}

// negotiated returns the families both ends enabled on an established
// session: configured locally and offered by the peer (a peer without any
// multiprotocol capability speaks IPv4 unicast only, RFC 4760).
func negotiated(p *api.Peer) map[string]bool {
	local := map[string]bool{}
	for _, af := range p.GetAfiSafis() {
		if af.GetConfig().GetEnabled() {
			local[familyKey(af.GetConfig().GetFamily())] = true
		}
	}
	remote := map[string]bool{}
	for _, c := range p.GetState().GetRemoteCap() {
		m, err := c.UnmarshalNew()
		if err != nil {
			continue
		}
		if mp, ok := m.(*api.MultiProtocolCapability); ok {
			remote[familyKey(mp.GetFamily())] = true
		}
	}
	if len(remote) == 0 {
		remote["ipv4-unicast"] = true
	}
	out := map[string]bool{}
	for f := range local {
		if remote[f] {
			out[f] = true
		}
	}
	return out
}

// peerView is one established peer's view of the prefix.
type peerView struct {
	local *api.Path // the locally originated path in its Adj-RIB-Out, or nil
	extra int       // how often GoBGP adds the own AS on export to this peer
	sent  uint64    // UPDATE messages written to the peer so far
	up    int64     // when the session came up (Unix seconds)
}

type snapshot struct {
	local *api.Path // the locally originated path in the Loc-RIB, or nil
	peers map[string]peerView
}

// isLocal reports whether a listed path was originated by this server
// (GoBGP lists no neighbor for those).
func isLocal(p *api.Path) bool {
	n := p.GetNeighborIp()
	return !p.GetIsWithdraw() && !p.GetIsFromExternal() && (n == "" || n == "<nil>")
}

// snapshot reads the Loc-RIB and the Adj-RIB-Out of every established peer
// that negotiated the prefix's family.
func (c *Controller) snapshot(ctx context.Context, prefix netip.Prefix) (snapshot, error) {
	s := snapshot{peers: map[string]peerView{}}
	family := Family(prefix)
	locRIB, err := c.lookup(ctx, api.TableType_GLOBAL, "", prefix)
	if err != nil {
		return s, fmt.Errorf("read Loc-RIB: %w", err)
	}
	for _, p := range locRIB {
		if isLocal(p) {
			s.local = p
		}
	}
	var peers []*api.Peer
	if err := c.api.ListPeer(ctx, &api.ListPeerRequest{}, func(p *api.Peer) { peers = append(peers, p) }); err != nil {
		return s, fmt.Errorf("list peers: %w", err)
	}
	for _, p := range peers {
		if p.GetState().GetSessionState() != api.PeerState_ESTABLISHED || !negotiated(p)[familyKey(family)] {
			continue
		}
		addr := p.GetState().GetNeighborAddress()
		if addr == "" {
			addr = p.GetConf().GetNeighborAddress()
		}
		v := peerView{sent: p.GetState().GetMessages().GetSent().GetUpdate(), up: p.GetTimers().GetState().GetUptime().GetSeconds()}
		if c.originatedOnly {
			// The export policy sends the Loc-RIB's local path unchanged
			// (bar the own AS on eBGP, which extra 0 leaves out of the
			// comparison); the sent-UPDATE counter still proves it left.
			v.local = s.local
			s.peers[addr] = v
			continue
		}
		out, err := c.lookup(ctx, api.TableType_ADJ_OUT, addr, prefix)
		if err != nil {
			// The neighbor may have been removed between the two calls;
			// the next round looks again.
			if strings.Contains(err.Error(), "doesn't exist") {
				continue
			}
			return s, fmt.Errorf("read Adj-RIB-Out of %s: %w", addr, err)
		}
		if p.GetState().GetType() == api.PeerType_EXTERNAL {
			if l := p.GetConf().GetLocalAsn(); l == 0 || l == c.asn {
				v.extra = 1
			}
		}
		for _, path := range out {
			if isLocal(path) {
				v.local = path
			}
		}
		s.peers[addr] = v
	}
	return s, nil
}

// lookup lists the paths for exactly prefix in one table.
func (c *Controller) lookup(ctx context.Context, t api.TableType, name string, prefix netip.Prefix) ([]*api.Path, error) {
	var paths []*api.Path
	err := c.api.ListPath(ctx, &api.ListPathRequest{
		TableType: t,
		Name:      name,
		Family:    Family(prefix),
		Prefixes:  []*api.TableLookupPrefix{{Prefix: prefix.String(), Type: api.TableLookupPrefix_EXACT}},
	}, func(d *api.Destination) {
		if p, err := netip.ParsePrefix(d.GetPrefix()); err == nil && p == prefix {
			paths = append(paths, d.GetPaths()...)
		}
	})
	return paths, err
}

// confirm polls until check accepts a snapshot, or the deadline passes; the
// error then says what did not happen.
func (c *Controller) confirm(ctx context.Context, prefix netip.Prefix, check func(snapshot) error) error {
	return confirm.Poll(ctx, c.poll, DefaultConfirmTimeout, func(ctx context.Context) error {
		s, err := c.snapshot(ctx, prefix)
		if err != nil {
			return err
		}
		return check(s)
	})
}

// announced is the confirmation of Announce.
func (c *Controller) announced(before snapshot, attrs speakers.Attributes) func(snapshot) error {
	matches := func(p *api.Path, extra int) bool {
		if p == nil {
			return false
		}
		pa, err := decodeAttrs(p)
		return err == nil && pa.matches(attrs, c.asn, attrs.Prepend+extra)
	}
	return func(s snapshot) error {
		if !matches(s.local, 0) {
			return errors.New("the Loc-RIB does not hold the local path with the requested attributes")
		}
		var missing []string
		for addr, v := range s.peers {
			switch {
			case !matches(v.local, v.extra):
				missing = append(missing, addr+" (Adj-RIB-Out)")
			case updateOwed(before, addr, v, func(b peerView) bool { return matches(b.local, b.extra) }):
				missing = append(missing, addr+" (UPDATE not yet sent)")
			}
		}
		return peersError("announced to", missing)
	}
}

// withdrawn is the confirmation of Withdraw.
func (c *Controller) withdrawn(before snapshot) func(snapshot) error {
	return func(s snapshot) error {
		if s.local != nil {
			return errors.New("the Loc-RIB still holds the local path")
		}
		var missing []string
		for addr, v := range s.peers {
			switch {
			case v.local != nil:
				missing = append(missing, addr+" (Adj-RIB-Out)")
			case updateOwed(before, addr, v, func(b peerView) bool { return b.local == nil }):
				missing = append(missing, addr+" (withdrawal not yet sent)")
			}
		}
		return peersError("withdrawn from", missing)
	}
}

// updateOwed reports whether a peer that was established before the change,
// and whose Adj-RIB-Out then differed from the goal, has not yet been sent
// an UPDATE since.
func updateOwed(before snapshot, addr string, now peerView, wasDone func(peerView) bool) bool {
	b, ok := before.peers[addr]
	if !ok || wasDone(b) || b.up != now.up {
		// A new session starts with a full table dump.
		return false
	}
	return now.sent <= b.sent
}

func peersError(verb string, missing []string) error {
	if len(missing) == 0 {
		return nil
	}
	slices.Sort(missing)
	return fmt.Errorf("not %s neighbor(s) %s", verb, strings.Join(missing, ", "))
}

func cloneAttrs(a speakers.Attributes) speakers.Attributes {
	a.Communities = slices.Clone(a.Communities)
	if a.MED != nil {
		m := *a.MED
		a.MED = &m
	}
	return a
}
