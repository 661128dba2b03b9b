// Package dashboards holds anydiag's Grafana dashboards (grafana/*.json) and
// Prometheus alerting rules with their unit tests (rules/*.yml). It has no
// code: its test checks that every panel and rule is well formed, that every
// PromQL expression parses, and that every metric it queries is one the agent
// exports.
package dashboards
