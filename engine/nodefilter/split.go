package nodefilter

import (
	"errors"
	"fmt"
	"strings"
)

// Split separates a flag value from its node filters: `8080:80@loadbalancer` gives
// "8080:80" and [loadbalancer]; `/tmp:/tmp@agent:0;server:1` gives "/tmp:/tmp" and two
// filters; a spec without '@' gives the spec and no filters.
//
// The value ends at the FIRST unescaped '@'; everything after it is the filter chain (so
// the seed's `80@k3d-test-master-0@workers[1-5]` works). A literal '@' in the value is
// written `\@` (as in k3d v5), and `\\@` is a literal backslash followed by the separator.
// Backslashes elsewhere are left alone. Splitting at the first '@' rather than guessing
// keeps the rule predictable: `EMAIL=me@example.com` is an error that says to escape,
// never a silently truncated value.
func Split(spec string) (value string, filters []Filter, err error) {
	var b strings.Builder
	for i := 0; i < len(spec); i++ {
		c := spec[i]
		if c == '\\' {
			// Only a run of backslashes directly before '@' is an escape.
			j := i
			for j < len(spec) && spec[j] == '\\' {
				j++
			}
			n := j - i
			if j < len(spec) && spec[j] == '@' {
				b.WriteString(strings.Repeat(`\`, n/2))
				if n%2 == 1 {
					b.WriteByte('@')
					i = j
					continue
				}
				i = j - 1 // the '@' is a separator: handled by the next iteration
				continue
			}
			b.WriteString(spec[i:j])
			i = j - 1
			continue
		}
		if c != '@' {
			b.WriteByte(c)
			continue
		}
		chain := spec[i+1:]
		if strings.TrimSpace(chain) == "" {
			return "", nil, fmt.Errorf("%q ends with '@' but names no node: write a filter after it "+
				"(e.g. @server:0, @agent:*, @loadbalancer or @all), or \\@ for a literal '@'", spec)
		}
		filters, err := Parse(chain)
		if err != nil {
			var unknown *unknownGroupError
			if errors.As(err, &unknown) {
				return "", nil, fmt.Errorf("%w; if the '@' belongs to the value, write it as \\@", err)
			}
			return "", nil, err
		}
		return b.String(), filters, nil
	}
	return b.String(), nil, nil
}

// Join is Split's inverse: it writes value and filters as one flag value, escaping every
// '@' in value (and the backslashes that would otherwise escape it) so that Split gives
// value and filters back. With no filters it only escapes.
func Join(value string, filters []Filter) string {
	var b strings.Builder
	run := 0 // backslashes just written
	for i := 0; i < len(value); i++ {
		c := value[i]
		if c == '@' {
			b.WriteString(strings.Repeat(`\`, run)) // double the run before an escaped '@'
			b.WriteString(`\@`)
			run = 0
			continue
		}
		if c == '\\' {
			run++
		} else {
			run = 0
		}
		b.WriteByte(c)
	}
	if len(filters) == 0 {
		return b.String()
	}
	b.WriteString(strings.Repeat(`\`, run)) // so the separator stays a separator
	b.WriteByte('@')
	b.WriteString(Format(filters))
	return b.String()
}
