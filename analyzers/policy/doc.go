// Package policy turns health-check states and findings into decisions per
// anycast prefix (announce, degrade, withdraw) and carries them out through a
// speakers.Speaker, guarded by hysteresis, a hold-down, self-dampening, a cap on
// withdrawals, a fleet guard, a drain file and dry-run, and recorded in an
// audit log.
package policy
