package config

import (
	"fmt"
	"strconv"
	"strings"
)

// Error is a problem with a config file, where it is: the file, the line and
// the field, in one line a user can act on.
type Error struct {
	File  string // "dev.yaml", "-" for standard input
	Line  int    // 0 when not known
	Field string // "options.k3s.extraArgs[1].nodeFilters[0]"; "" for the whole file
	Msg   string
}

func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString("config ")
	b.WriteString(displayName(e.File))
	if e.Line > 0 {
		b.WriteString(":" + strconv.Itoa(e.Line))
	}
	b.WriteString(": ")
	if e.Field != "" {
		b.WriteString(strings.ReplaceAll(e.Field, "\n", `\n`) + ": ")
	}
	// Values quoted from the file may hold line breaks; the error stays one line.
	b.WriteString(strings.ReplaceAll(e.Msg, "\n", `\n`))
	return b.String()
}

func displayName(file string) string {
	if file == "-" {
		return "(standard input)"
	}
	return file
}

// fieldPath writes a JSON-pointer-like path as a user reads it: a.b[0].c.
func fieldPath(path []string) string {
	var b strings.Builder
	for _, p := range path {
		if _, err := strconv.Atoi(p); err == nil {
			fmt.Fprintf(&b, "[%s]", p)
			continue
		}
		if b.Len() > 0 {
			b.WriteByte('.')
		}
		b.WriteString(p)
	}
	return b.String()
}
