package flagspec

import (
	"fmt"
	"strings"

	"github.com/k3d/k3d/engine/nodefilter"
)

// Env is a parsed --env value: one environment variable for the nodes.
type Env struct {
	Spec    string // as typed, for messages
	Key     string
	Value   string
	Filters []nodefilter.Filter
}

// String renders KEY=VALUE, the form a runtime takes.
func (e Env) String() string { return e.Key + "=" + e.Value }

// ParseEnv parses `KEY=VALUE[@FILTERS]`. A bare `KEY` takes its value from lookupEnv (pass
// os.LookupEnv), as `docker run -e KEY` does; a nil lookupEnv or an unset KEY is an error,
// because silently setting an empty value hides typos.
func ParseEnv(spec string, lookupEnv func(string) (string, bool)) (Env, error) {
	value, filters, err := nodefilter.Split(spec)
	if err != nil {
		return Env{}, fmt.Errorf("env %q: %w", spec, err)
	}
	if err := rejectSuffix(filters); err != nil {
		return Env{}, fmt.Errorf("env %q: %w", spec, err)
	}
	key, val, hasValue := strings.Cut(value, "=")
	if err := checkKey(key, "variable name", "KEY=VALUE"); err != nil {
		return Env{}, fmt.Errorf("env %q: %w", spec, err)
	}
	if strings.ContainsRune(val, 0) {
		return Env{}, fmt.Errorf("env %q: the value contains a NUL byte, which no environment can hold", spec)
	}
	if !hasValue {
		var ok bool
		if lookupEnv != nil {
			val, ok = lookupEnv(key)
		}
		if !ok {
			return Env{}, fmt.Errorf("env %q: %s has no value and is not set in your environment: write %s=VALUE", spec, key, key)
		}
	}
	return Env{Spec: spec, Key: key, Value: val, Filters: filters}, nil
}

// Label is a parsed --label value: one key=value label for the nodes.
type Label struct {
	Spec    string // as typed, for messages
	Key     string
	Value   string
	Filters []nodefilter.Filter
}

// ParseLabel parses `KEY[=VALUE][@FILTERS]`; a bare KEY has the empty value (as in k3d v5).
// Which keys k3d reserves for itself (app, k3d.*) is the engine's business, not syntax.
func ParseLabel(spec string) (Label, error) {
	value, filters, err := nodefilter.Split(spec)
	if err != nil {
		return Label{}, fmt.Errorf("label %q: %w", spec, err)
	}
	if err := rejectSuffix(filters); err != nil {
		return Label{}, fmt.Errorf("label %q: %w", spec, err)
	}
	key, val, _ := strings.Cut(value, "=")
	if err := checkKey(key, "label key", "KEY=VALUE"); err != nil {
		return Label{}, fmt.Errorf("label %q: %w", spec, err)
	}
	if strings.ContainsAny(val, "\x00\n\r") {
		return Label{}, fmt.Errorf("label %q: the value contains a line break or NUL byte: labels hold one line", spec)
	}
	return Label{Spec: spec, Key: key, Value: val, Filters: filters}, nil
}

// K3sArg is a parsed --k3s-arg value: one argument appended to the k3s command line.
type K3sArg struct {
	Spec    string // as typed, for messages
	Arg     string
	Filters []nodefilter.Filter
}

// ParseK3sArg parses `ARG[@FILTERS]`, e.g. `--disable=traefik@server:*`. An argument
// with a value must be written as one word (`--tls-san=example.com`), since each
// --k3s-arg is one argv entry.
func ParseK3sArg(spec string) (K3sArg, error) {
	value, filters, err := nodefilter.Split(spec)
	if err != nil {
		return K3sArg{}, fmt.Errorf("k3s arg %q: %w", spec, err)
	}
	if err := rejectSuffix(filters); err != nil {
		return K3sArg{}, fmt.Errorf("k3s arg %q: %w", spec, err)
	}
	switch {
	case strings.TrimSpace(value) == "":
		return K3sArg{}, fmt.Errorf("k3s arg %q: no argument given: write e.g. --disable=traefik@server:*", spec)
	case strings.TrimSpace(value) != value:
		return K3sArg{}, fmt.Errorf("k3s arg %q: the argument starts or ends with spaces, which k3s would take literally: write %q", spec, strings.TrimSpace(value))
	case strings.ContainsAny(value, "\x00\n\r"):
		return K3sArg{}, fmt.Errorf("k3s arg %q: the argument contains a line break or NUL byte", spec)
	}
	return K3sArg{Spec: spec, Arg: value, Filters: filters}, nil
}

func checkKey(key, what, form string) error {
	switch {
	case key == "":
		return fmt.Errorf("empty %s before '=': write %s", what, form)
	case strings.ContainsAny(key, " \t"):
		return fmt.Errorf("%s %q contains whitespace: write %s with no spaces in KEY", what, key, form)
	case hasControl(key):
		return fmt.Errorf("%s %q contains a control character: write %s with a printable KEY", what, key, form)
	}
	return nil
}

// rejectSuffix refuses :proxy and :direct outside --port, where they mean nothing.
func rejectSuffix(filters []nodefilter.Filter) error {
	for _, f := range filters {
		if f.Suffix != nodefilter.SuffixNone {
			plain := f
			plain.Suffix = nodefilter.SuffixNone
			return fmt.Errorf("suffix :%s in node filter %q applies only to ports: write @%s", f.Suffix, f.String(), plain.String())
		}
	}
	return nil
}
