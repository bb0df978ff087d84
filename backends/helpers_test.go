package backends_test

import (
	"fmt"
	"strings"
)

// sprintf fills the %s or %q of a wording with a name.
func sprintf(format, name string) string {
	if strings.Contains(format, "%") {
		return fmt.Sprintf(format, name)
	}
	return format
}
