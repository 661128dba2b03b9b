package main

import (
	"io"

	"github.com/anydiag/anydiag/internal/finding"
	"github.com/spf13/cobra"
)

func init() { register(newFindingsCmd) }

func newFindingsCmd() *cobra.Command {
	c := &cobra.Command{
		Use:   "findings",
		Short: "The catalogue of finding codes",
	}
	c.AddCommand(&cobra.Command{
		Use:     "codes",
		Short:   "Print every finding code with its default severity and advice",
		Example: "  anydiag findings codes\n  anydiag findings codes --json | jq '.[].code'",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cs := finding.Catalogue()
			return emit(cmd, cs, func(w io.Writer) error {
				rows := make([][]string, 0, len(cs))
				for _, c := range cs {
					rows = append(rows, []string{c.Code, c.Severity.String(), c.Title})
				}
				return table(w, []string{"CODE", "SEVERITY", "TITLE"}, rows)
			})
		},
	})
	return c
}
