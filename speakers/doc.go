// Package speakers is the contract between the withdrawal policy and the
// BGP daemons that carry out its decisions, and the home of the backends
// that implement it.
//
// The contract: Speaker (Announce, Withdraw, State), the Attributes of an
// announcement (MED, AS-path prepend, Communities), PrefixState, the typed
// Community (standard, large and the well-known names, GracefulShutdown
// among them; ParseCommunity and String) and Capabilities, which each
// backend declares so that a configuration asking a speaker for what it
// cannot do is refused by `anydiag config check` instead of failing at run
// time. analyzers/policy imports this package; no backend imports the
// policy or any analyzer's decisions.
//
// The backends confirm every change in the daemon before they return:
//
//   - gobgp: the default, a GoBGP v3 server embedded in the agent;
//   - bird: BIRD 2 over its control socket;
//   - frr: FRR's bgpd through vtysh;
//   - gobgpapi: an external gobgpd over its gRPC API.
package speakers
