package nodefilter

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// acceptedGroups is how every "what to write instead" message names the choices.
const acceptedGroups = "server, agent, loadbalancer or all (e.g. @server:0, @agent:*, @agent:0-2), " +
	"the seed's workers[0,2-3] or masters, or a node's full name (e.g. @k3d-dev-agent-0)"

// unknownGroupError marks the one parse failure that often means the user wanted a literal
// '@' in the value, so Split can add the escaping hint.
type unknownGroupError struct{ msg string }

func (e *unknownGroupError) Error() string { return e.msg }

// Parse reads a filter chain: the text after the '@' that ends a flag value, such as
// `server:0;agent:*`, `workers[0,2-3]` or `k3d-test-master-0@workers[1-5]`. One leading
// '@' is allowed and ignored. Filters are separated by '@', ';' or ";@"; spaces around a
// filter are ignored. An empty chain or an empty filter is an error.
func Parse(chain string) ([]Filter, error) {
	chain = strings.TrimPrefix(chain, "@")
	if strings.TrimSpace(chain) == "" {
		return nil, errors.New("empty node filter: write " + acceptedGroups)
	}
	var filters []Filter
	for _, seg := range splitSegments(strings.ReplaceAll(chain, ";@", ";")) {
		f, err := parseFilter(strings.TrimSpace(seg))
		if err != nil {
			return nil, err
		}
		filters = append(filters, f)
	}
	return filters, nil
}

// splitSegments splits at every '@' and ';', keeping empty pieces so that `a;;b` is an error.
func splitSegments(s string) []string {
	var out []string
	start := 0
	for i := 0; i < len(s); i++ {
		if s[i] == '@' || s[i] == ';' {
			out = append(out, s[start:i])
			start = i + 1
		}
	}
	return append(out, s[start:])
}

// MustParse is Parse for filters fixed in code (defaults, tests); it panics on a bad chain.
func MustParse(chain string) []Filter {
	f, err := Parse(chain)
	if err != nil {
		panic(err)
	}
	return f
}

func parseFilter(seg string) (Filter, error) {
	if seg == "" {
		return Filter{}, errors.New("empty node filter between separators: write one filter between each '@' or ';', e.g. @server:0;agent:*")
	}
	fail := func(format string, args ...any) (Filter, error) {
		return Filter{}, fmt.Errorf("node filter %q: %s", seg, fmt.Sprintf(format, args...))
	}

	var word, subset, suffix string
	var hasSubset, bracket bool
	if open := strings.IndexByte(seg, '['); open >= 0 {
		closing := strings.IndexByte(seg, ']')
		if closing < open {
			return fail("'[' is not closed: write e.g. workers[0,2-3]")
		}
		bracket, hasSubset = true, true
		word, subset = seg[:open], seg[open+1:closing]
		if rest := seg[closing+1:]; rest != "" {
			if rest[0] != ':' {
				return fail("unexpected %q after ']': only a suffix may follow, e.g. workers[0]:direct", rest)
			}
			suffix = rest[1:]
			if suffix == "" {
				return fail("empty suffix after ':': write :proxy or :direct, or drop the ':'")
			}
		}
	} else {
		parts := strings.Split(seg, ":")
		word = parts[0]
		switch len(parts) {
		case 1:
		case 2:
			if looksLikeSubset(parts[1]) {
				subset, hasSubset = parts[1], true
			} else {
				suffix = parts[1]
			}
		case 3:
			subset, suffix, hasSubset = parts[1], parts[2], true
			if suffix == "" {
				return fail("empty suffix after ':': write :proxy or :direct, or drop the ':'")
			}
		default:
			return fail("too many ':': write GROUP[:SUBSET][:SUFFIX], e.g. agent:0-2:direct")
		}
	}

	f := Filter{}
	switch suffix {
	case "":
	case string(SuffixProxy), string(SuffixDirect):
		f.Suffix = Suffix(suffix)
	default:
		return fail("unknown suffix %q: write :proxy or :direct (ports only)", suffix)
	}

	if word == "" {
		return fail("missing node group before the subset: write %s", acceptedGroups)
	}
	group, isGroup := groupWords[word]
	switch {
	case isGroup:
		f.Group = group
	case strings.HasPrefix(word, "k3d-") && validName(word):
		if hasSubset {
			return fail("a node name selects one node and takes no index: write @%s", word)
		}
		f.Group, f.Name = GroupNode, word
		return f, nil
	default:
		return Filter{}, &unknownGroupError{fmt.Sprintf("node filter %q: unknown node group %q: write %s", seg, word, acceptedGroups)}
	}

	if !hasSubset {
		return f, nil
	}
	if subset == "" {
		return fail("empty subset: write an index (0), a list (0,2), a range (0-2) or * for every node")
	}
	if f.Group == GroupAll {
		if subset != "*" {
			example := "0"
			if _, err := parseSubset(subset, false); err == nil {
				example = subset
			}
			return fail("'all' takes no index: write @all, or name a group, e.g. @agent:%s", example)
		}
		return f, nil
	}
	ranges, err := parseSubset(subset, bracket)
	if err != nil {
		return fail("%v", err)
	}
	f.Ranges = ranges
	return f, nil
}

// looksLikeSubset tells `server:0` (a subset) from `server:direct` (a suffix).
func looksLikeSubset(s string) bool {
	if s == "" {
		return true
	}
	c := s[0]
	return c >= '0' && c <= '9' || c == '*' || c == '-' || c == ','
}

// parseSubset reads `*`, `0`, `0,2`, `0-2`, `2-`, `-2` and lists of them; inside the
// seed's brackets k3d v4's `1:3` range spelling is accepted too. nil means every node.
func parseSubset(s string, bracket bool) ([]Range, error) {
	if s == "*" {
		return nil, nil
	}
	var ranges []Range
	for _, item := range strings.Split(s, ",") {
		if item == "" {
			return nil, fmt.Errorf("empty item in subset %q: write indexes separated by single commas, e.g. 0,2", s)
		}
		if item == "*" {
			return nil, fmt.Errorf("'*' already means every node and cannot be part of a list: write * alone")
		}
		sep := strings.IndexByte(item, '-')
		if sep < 0 && bracket {
			sep = strings.IndexByte(item, ':')
		}
		if sep < 0 {
			n, err := parseIndex(item)
			if err != nil {
				return nil, err
			}
			ranges = append(ranges, Range{First: n, Last: n})
			continue
		}
		lo, hi := item[:sep], item[sep+1:]
		r := Range{First: 0, Last: OpenEnd}
		var err error
		if lo != "" {
			if r.First, err = parseIndex(lo); err != nil {
				return nil, err
			}
		}
		if hi != "" {
			if r.Last, err = parseIndex(hi); err != nil {
				return nil, err
			}
			if r.Last < r.First {
				return nil, fmt.Errorf("range %s runs backwards: write %s-%s", item, hi, lo)
			}
		}
		ranges = append(ranges, r)
	}
	return ranges, nil
}

func parseIndex(s string) (int, error) {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return 0, fmt.Errorf("index %q is not a number: write e.g. 0, 0,2 or 0-2", s)
		}
	}
	if len(s) > 5 {
		return 0, fmt.Errorf("index %s is too large (at most %d)", s, maxIndex)
	}
	n, _ := strconv.Atoi(s)
	if n > maxIndex {
		return 0, fmt.Errorf("index %s is too large (at most %d)", s, maxIndex)
	}
	return n, nil
}

// validName accepts what container runtimes accept in a container name.
func validName(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '.' || c == '-') {
			return false
		}
	}
	return len(s) > len("k3d-")
}
