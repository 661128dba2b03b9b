package main

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	"github.com/anydiag/anydiag/internal/finding"
	"github.com/spf13/cobra"
)

// emit prints v as one JSON document with --json, or calls human otherwise.
func emit(cmd *cobra.Command, v any, human func(w io.Writer) error) error {
	w := cmd.OutOrStdout()
	if global.json {
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		if err := enc.Encode(v); err != nil {
			return runtimeErr(err)
		}
		return nil
	}
	return human(w)
}

// table writes rows aligned in columns, the header first.
func table(w io.Writer, header []string, rows [][]string) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, strings.Join(header, "\t"))
	for _, r := range rows {
		fmt.Fprintln(tw, strings.Join(r, "\t"))
	}
	return tw.Flush()
}

// emitFindings prints findings worst first and returns the exit status they
// imply: findingsExit when any is warning or worse.
func emitFindings(cmd *cobra.Command, fs []finding.Finding) error {
	if fs == nil {
		fs = []finding.Finding{}
	}
	finding.Sort(fs)
	err := emit(cmd, fs, func(w io.Writer) error {
		if len(fs) == 0 {
			_, err := fmt.Fprintln(w, "no findings")
			return err
		}
		return writeFindings(w, fs)
	})
	if err != nil {
		return err
	}
	return exitFor(fs)
}

// writeFindings prints findings as a readable report.
func writeFindings(w io.Writer, fs []finding.Finding) error {
	for _, f := range fs {
		fmt.Fprintf(w, "%-8s %s  %s\n", strings.ToUpper(f.Severity.String()), f.Code, f.Subject)
		fmt.Fprintf(w, "         %s\n", f.Summary)
		if len(f.Evidence) > 0 {
			b, _ := json.Marshal(f.Evidence)
			fmt.Fprintf(w, "         evidence: %s\n", b)
		}
		fmt.Fprintf(w, "         advice: %s\n", f.Advice)
	}
	return nil
}
