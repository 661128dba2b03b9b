// Package speakers groups the backends that carry out the policy's
// decisions on a BGP daemon. Each subpackage implements policy.Speaker and
// confirms every change in the daemon before it returns:
//
//   - gobgp: the default, a GoBGP v3 server embedded in the agent;
//   - bird: BIRD 2 over its control socket;
//   - frr: FRR's bgpd through vtysh;
//   - gobgpapi: an external gobgpd over its gRPC API.
package speakers
