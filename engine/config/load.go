package config

import (
	"bytes"
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"github.com/santhosh-tekuri/jsonschema/v6/kind"
	"go.yaml.in/yaml/v3"
	"golang.org/x/text/language"
	"golang.org/x/text/message"
)

// Schema is the JSON schema files are checked against: k3d v5.9's
// v1alpha5 Simple, plus options.runtime.name.
//
//go:embed schema.json
var Schema []byte

// compiled is the schema, compiled on first use; it never changes after.
var compiled = sync.OnceValues(func() (*jsonschema.Schema, error) {
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(Schema))
	if err != nil {
		return nil, err
	}
	c := jsonschema.NewCompiler()
	if err := c.AddResource("schema.json", doc); err != nil {
		return nil, err
	}
	return c.Compile("schema.json")
})

// File is a config file that parsed and passed the schema.
type File struct {
	Simple Simple
	// Path is where it was read ("-": standard input).
	Path string
	root *yaml.Node
}

// Read reads and checks the config file at path; "-" reads stdin. Variables
// ($VAR, ${VAR}) are expanded from lookupEnv before parsing, as k3d does.
func Read(path string, stdin io.Reader, lookupEnv func(string) (string, bool)) (*File, error) {
	var data []byte
	var err error
	if path == "-" {
		data, err = io.ReadAll(stdin)
	} else {
		if st, serr := os.Stat(path); serr == nil && st.IsDir() {
			return nil, &Error{File: path, Msg: "is a directory: give the path of a config file (k3d config init writes one)"}
		}
		data, err = os.ReadFile(path)
	}
	if err != nil {
		var pe *os.PathError
		if errors.As(err, &pe) {
			err = pe.Err
		}
		return nil, &Error{File: path, Msg: fmt.Sprintf("cannot read it: %v", err)}
	}
	return Parse(path, data, lookupEnv)
}

// Parse checks data as the config file named name.
func Parse(name string, data []byte, lookupEnv func(string) (string, bool)) (*File, error) {
	root, err := parseYAML(name, expand(data, lookupEnv))
	if err != nil {
		return nil, err
	}
	f := &File{Path: name, root: root}
	if err := f.checkVersion(); err != nil {
		return nil, err
	}
	if err := f.validate(); err != nil {
		return nil, err
	}
	if err := root.Decode(&f.Simple); err != nil {
		return nil, f.errorf(nil, "%v", yamlMessage(err))
	}
	if err := f.checkUnsupported(); err != nil {
		return nil, err
	}
	return f, nil
}

// expand replaces $VAR and ${VAR} with the environment's values (unset: empty).
func expand(data []byte, lookupEnv func(string) (string, bool)) []byte {
	if lookupEnv == nil || !bytes.Contains(data, []byte("$")) {
		return data
	}
	return []byte(os.Expand(string(data), func(k string) string {
		v, _ := lookupEnv(k)
		return v
	}))
}

// parseYAML reads exactly one YAML document holding a mapping.
func parseYAML(name string, data []byte) (*yaml.Node, error) {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, &Error{File: name, Msg: "is empty: a k3d config starts with apiVersion: " + APIVersion + " and kind: " + KindSimple}
		}
		line, msg := yamlLine(yamlMessage(err))
		return nil, &Error{File: name, Line: line, Msg: "is not YAML: " + msg}
	}
	var more yaml.Node
	if err := dec.Decode(&more); err == nil {
		return nil, &Error{File: name, Line: more.Line, Msg: "holds more than one YAML document: put one cluster in each file"}
	}
	root := &doc
	if root.Kind == yaml.DocumentNode && len(root.Content) == 1 {
		root = root.Content[0]
	}
	if root.Kind != yaml.MappingNode {
		return nil, &Error{File: name, Line: root.Line, Msg: "is not a k3d config: want a mapping with apiVersion: " + APIVersion + " and kind: " + KindSimple}
	}
	return root, nil
}

// yamlLine takes the "line N: " the YAML parser puts in front of its message.
func yamlLine(msg string) (int, string) {
	if rest, ok := strings.CutPrefix(msg, "line "); ok {
		if num, after, ok := strings.Cut(rest, ": "); ok {
			if n, err := strconv.Atoi(num); err == nil {
				return n, after
			}
		}
	}
	return 0, msg
}

// yamlMessage drops the library's "yaml: " prefix.
func yamlMessage(err error) string {
	return strings.TrimPrefix(strings.ReplaceAll(err.Error(), "\n", "; "), "yaml: ")
}

// olderVersions are the apiVersions `k3d config migrate` converts.
var olderVersions = []string{"k3d.io/v1alpha2", "k3d.io/v1alpha3", "k3d.io/v1alpha4"}

// checkVersion tells a file of another apiVersion or kind, or no k3d config
// at all, before the schema would only say "const".
func (f *File) checkVersion() error {
	api, apiNode := f.scalar("apiVersion")
	k, kindNode := f.scalar("kind")
	switch {
	case apiNode == nil && kindNode == nil:
		return f.errorf(nil, "is not a k3d config: it has no apiVersion and kind (want apiVersion: %s, kind: %s)", APIVersion, KindSimple)
	case !strings.HasPrefix(api, "k3d.io/"):
		return &Error{File: f.Path, Line: lineOf(apiNode, kindNode), Msg: fmt.Sprintf("is not a k3d config but apiVersion %q, kind %q: want apiVersion: %s, kind: %s", api, k, APIVersion, KindSimple)}
	case slices.Contains(olderVersions, api):
		return &Error{File: f.Path, Line: apiNode.Line, Field: "apiVersion", Msg: fmt.Sprintf("%q is an older k3d config format: convert it with `k3d config migrate %s %s`", api, displayName(f.Path), "NEW.yaml")}
	case api != APIVersion:
		return &Error{File: f.Path, Line: apiNode.Line, Field: "apiVersion", Msg: fmt.Sprintf("%q is not supported: this k3d reads %s (and migrates v1alpha2 to v1alpha4 with `k3d config migrate`)", api, APIVersion)}
	case k == "Cluster" || k == "ClusterList":
		return &Error{File: f.Path, Line: kindNode.Line, Field: "kind", Msg: fmt.Sprintf("%s is not supported (k3d v5 does not create clusters from it either): write kind: %s", k, KindSimple)}
	case k != KindSimple:
		return &Error{File: f.Path, Line: lineOf(kindNode, apiNode), Field: "kind", Msg: fmt.Sprintf("kind %q is not a k3d config kind: write kind: %s", k, KindSimple)}
	}
	return nil
}

func lineOf(nodes ...*yaml.Node) int {
	for _, n := range nodes {
		if n != nil {
			return n.Line
		}
	}
	return 0
}

// scalar is a top-level scalar's value and node.
func (f *File) scalar(key string) (string, *yaml.Node) {
	n, _ := f.lookup([]string{key})
	if n == nil || n.Kind != yaml.ScalarNode {
		return "", n
	}
	return n.Value, n
}

// lookup finds the node at path, and the key node of its last element (nil
// in a sequence).
func (f *File) lookup(path []string) (value, key *yaml.Node) {
	n := f.root
	for _, p := range path {
		if n == nil {
			return nil, nil
		}
		switch n.Kind {
		case yaml.MappingNode:
			var next *yaml.Node
			for i := 0; i+1 < len(n.Content); i += 2 {
				if n.Content[i].Value == p {
					key, next = n.Content[i], n.Content[i+1]
					break
				}
			}
			n = next
		case yaml.SequenceNode:
			i, err := strconv.Atoi(p)
			if err != nil || i < 0 || i >= len(n.Content) {
				return nil, nil
			}
			key, n = nil, n.Content[i]
		default:
			return nil, nil
		}
	}
	return n, key
}

// line is the line of the field at path, or of its nearest parent.
func (f *File) line(path []string) int {
	for p := path; ; p = p[:len(p)-1] {
		if v, k := f.lookup(p); v != nil {
			if k != nil {
				return k.Line
			}
			return v.Line
		}
		if len(p) == 0 {
			return 0
		}
	}
}

func (f *File) errorf(path []string, format string, args ...any) *Error {
	return &Error{File: f.Path, Line: f.line(path), Field: fieldPath(path), Msg: fmt.Sprintf(format, args...)}
}

// validate checks the file against the schema and reports the first
// problem in the file's order.
func (f *File) validate() error {
	sch, err := compiled()
	if err != nil {
		return fmt.Errorf("config schema: %w", err) // a bug in the embedded schema
	}
	var v any
	if err := f.root.Decode(&v); err != nil {
		return f.errorf(nil, "%v", yamlMessage(err))
	}
	js, err := json.Marshal(v)
	if err != nil {
		return f.errorf(nil, "cannot be read as JSON (are all keys strings?): %v", err)
	}
	inst, err := jsonschema.UnmarshalJSON(bytes.NewReader(js))
	if err != nil {
		return f.errorf(nil, "%v", err)
	}
	err = sch.Validate(inst)
	var ve *jsonschema.ValidationError
	if !errors.As(err, &ve) {
		return err
	}
	var first *Error
	for _, leaf := range leaves(ve) {
		e := f.schemaError(leaf)
		if first == nil || (e.Line > 0 && e.Line < first.Line) {
			first = e
		}
	}
	return first
}

func leaves(ve *jsonschema.ValidationError) []*jsonschema.ValidationError {
	if len(ve.Causes) == 0 {
		return []*jsonschema.ValidationError{ve}
	}
	var out []*jsonschema.ValidationError
	for _, c := range ve.Causes {
		out = append(out, leaves(c)...)
	}
	return out
}

var printer = message.NewPrinter(language.English)

// schemaError words one schema failure for a user of the file.
func (f *File) schemaError(ve *jsonschema.ValidationError) *Error {
	path := ve.InstanceLocation
	switch k := ve.ErrorKind.(type) {
	case *kind.AdditionalProperties:
		field := append(slices.Clone(path), k.Properties[0])
		return f.errorf(field, "unknown field: %s has no %q (see k3d config init for every field)", orTop(fieldPath(path)), k.Properties[0])
	case *kind.Required:
		return f.errorf(path, "missing %s", strings.Join(k.Missing, ", "))
	case *kind.Type:
		return f.errorf(path, "is %s, want %s", k.Got, strings.Join(k.Want, " or "))
	case *kind.Enum:
		return f.errorf(path, "%v is not one of %v", k.Got, k.Want)
	}
	return f.errorf(path, "%s", ve.ErrorKind.LocalizedString(printer))
}

func orTop(s string) string {
	if s == "" {
		return "the file"
	}
	return s
}

// Dir is the directory relative paths in the file are read from.
func (f *File) Dir() string {
	if f.Path == "-" {
		return "."
	}
	return filepath.Dir(f.Path)
}
