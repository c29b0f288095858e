package serve

import (
	"errors"
	"fmt"
	"io"
	"net"
	"reflect"
	"strconv"
	"strings"

	"github.com/kelseyhightower/envconfig"
)

// LoadEnv fills spec, a pointer to a configuration struct, from the
// environment (envconfig). A value that does not parse is one line
// naming the variable, such as `CLUSTER_SIZE: "abc" is not an integer`,
// where envconfig's own error names the Go field and the type. When spec
// embeds Settings, the settings given as files (REPLICATION_TOKEN_FILE)
// are read too.
func LoadEnv(spec any) error {
	err := envconfig.Process("", spec)
	var pe *envconfig.ParseError
	if errors.As(err, &pe) {
		return fmt.Errorf("%s: %s", pe.KeyName, notA(pe))
	}
	if err != nil {
		return err
	}
	if f, ok := spec.(fileSettings); ok {
		return f.readFiles()
	}
	return nil
}

// fileSettings is a configuration that embeds Settings, whose readFiles
// it gets.
type fileSettings interface{ readFiles() error }

// notA says what was wrong with the value a ParseError is about.
func notA(pe *envconfig.ParseError) string {
	var ne *strconv.NumError
	if errors.As(pe.Err, &ne) && errors.Is(ne.Err, strconv.ErrRange) {
		return fmt.Sprintf("%q is out of range", pe.Value)
	}
	switch pe.TypeName {
	case "int", "int8", "int16", "int32", "int64":
		return fmt.Sprintf("%q is not an integer", pe.Value)
	case "uint", "uint8", "uint16", "uint32", "uint64":
		return fmt.Sprintf("%q is not a whole number", pe.Value)
	case "float32", "float64":
		return fmt.Sprintf("%q is not a number", pe.Value)
	case "bool":
		return fmt.Sprintf("%q is not true or false", pe.Value)
	case "Duration":
		return fmt.Sprintf("%q is not a duration such as 500ms, 10s, 1m or 2h", pe.Value)
	}
	// A type of our own decodes itself, and its error says what it takes.
	return pe.Err.Error()
}

// ValidateAddr checks a listen address of variable name: host:port with
// a port from 0 to 65535 (0 picks a free one); the host may be empty.
func ValidateAddr(name, addr string) error {
	_, port, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("%s: %q is not host:port, such as :8080 or 127.0.0.1:8080", name, addr)
	}
	if err := validatePort(port, 0); err != nil {
		return fmt.Errorf("%s: %q: %w", name, addr, err)
	}
	return nil
}

func validatePort(port string, lowest uint64) error {
	if n, err := strconv.ParseUint(port, 10, 64); err != nil || n < lowest || n > 65535 {
		return fmt.Errorf("port %q is not a number from %d to 65535", port, lowest)
	}
	return nil
}

// ValidateURLPort checks the port of a URL to dial, when it has one.
func ValidateURLPort(name, url, port string) error {
	if port == "" {
		return nil
	}
	if err := validatePort(port, 1); err != nil {
		return fmt.Errorf("%s: %q: %w", name, url, err)
	}
	return nil
}

// WriteVariables writes every variable spec (a pointer to a
// configuration struct) reads, the way Go's flag package lists flags: the
// name and default on one line, the meaning (the desc tag) indented below
// it, from the struct's tags, so that the list cannot drift from the
// code. defaults are those a binary sets itself, where the shared struct
// has none (HTTP_ADDR).
//
// It walks the struct itself rather than through envconfig's Usage,
// which executes a text/template: a template's method calls by reflection
// keep the linker from dropping any unused method, and made both
// binaries 2.3 MB larger.
func WriteVariables(w io.Writer, spec any, defaults map[string]string) error {
	var b strings.Builder
	eachVariable(spec, func(key string, tag reflect.StructTag) {
		d, ok := defaults[key]
		if !ok {
			d = tag.Get("default")
		}
		b.WriteString("  " + key)
		if d != "" {
			b.WriteString(" (default " + d + ")")
		}
		b.WriteString("\n" + wrap(tag.Get("desc"), 72, "        ") + "\n")
	})
	_, err := io.WriteString(w, b.String())
	return err
}

// eachVariable calls f with the name and tags of every variable spec
// reads, in the struct's order, embedded structs in place.
func eachVariable(spec any, f func(key string, tag reflect.StructTag)) {
	var walk func(t reflect.Type)
	walk = func(t reflect.Type) {
		for i := range t.NumField() {
			fld := t.Field(i)
			if key := fld.Tag.Get("envconfig"); key != "" {
				f(key, fld.Tag)
			} else if fld.Anonymous && fld.Type.Kind() == reflect.Struct {
				walk(fld.Type)
			}
		}
	}
	walk(reflect.TypeOf(spec).Elem())
}

// Variables maps the name of every variable spec reads to its desc tag,
// found by walking the struct itself: the tests hold WriteVariables,
// README and .env.example to it.
func Variables(spec any) map[string]string {
	vars := map[string]string{}
	eachVariable(spec, func(key string, tag reflect.StructTag) { vars[key] = tag.Get("desc") })
	return vars
}

// wrap breaks s into lines of at most width, each after indent.
func wrap(s string, width int, indent string) string {
	var b strings.Builder
	line := 0
	for _, word := range strings.Fields(s) {
		if line > 0 && line+1+len(word) > width {
			b.WriteByte('\n')
			line = 0
		}
		if line == 0 {
			b.WriteString(indent)
		} else {
			b.WriteByte(' ')
			line++
		}
		b.WriteString(word)
		line += len(word)
	}
	return b.String()
}
