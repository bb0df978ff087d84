package app

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	"github.com/alecthomas/kong"

	"sigs.k8s.io/yaml"
)

// printStructured writes v as json or yaml.
func printStructured(w io.Writer, format string, v any) error {
	switch format {
	case "json":
		b, err := json.MarshalIndent(v, "", "  ")
		if err != nil {
			return fmt.Errorf("encode json: %w", err)
		}
		_, err = fmt.Fprintln(w, string(b))
		return err
	case "yaml":
		b, err := yaml.Marshal(v)
		if err != nil {
			return fmt.Errorf("encode yaml: %w", err)
		}
		_, err = w.Write(b)
		return err
	}
	return fmt.Errorf("unknown output format %q: use table, json or yaml", format)
}

// printTable writes rows under headers (unless noHeaders), aligned.
func printTable(w io.Writer, noHeaders bool, headers []string, rows [][]string) error {
	tw := tabwriter.NewWriter(w, 0, 0, 3, ' ', 0)
	if !noHeaders {
		fmt.Fprintln(tw, strings.Join(headers, "\t"))
	}
	for _, r := range rows {
		fmt.Fprintln(tw, strings.Join(r, "\t"))
	}
	return tw.Flush()
}

// rawValues is a repeatable flag whose values may start with '-'
// (`--k3s-arg --disable=traefik@server:*`). Kong's own slice decoder refuses
// those even with hyphen-prefixed parameters enabled, so the value is popped
// as is.
type rawValues []string

func (r *rawValues) Decode(ctx *kong.DecodeContext) error {
	t := ctx.Scan.Pop()
	if t.IsEOL() {
		return fmt.Errorf("missing value")
	}
	*r = append(*r, fmt.Sprint(t.Value))
	return nil
}
