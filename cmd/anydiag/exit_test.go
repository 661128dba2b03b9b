package main

import (
	"testing"

	"github.com/anydiag/anydiag/internal/finding"
)

func TestExitFor(t *testing.T) {
	at := func(s finding.Severity) finding.Finding {
		return finding.Finding{Code: "test", Severity: s}
	}
	tests := []struct {
		name string
		fs   []finding.Finding
		want error
	}{
		{"none", nil, nil},
		{"info only", []finding.Finding{at(finding.Info)}, nil},
		{"a warning", []finding.Finding{at(finding.Info), at(finding.Warning)}, findingsExit},
		{"a critical", []finding.Finding{at(finding.Critical)}, findingsExit},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := exitFor(tt.fs); got != tt.want {
				t.Fatalf("exitFor = %v, want %v", got, tt.want)
			}
		})
	}
}
