package containerd

import (
	"testing"
	"time"
)

// The start record counts the restart monitor's starts since the last
// start by hand, and tells when the node last started.
func TestParseStarts(t *testing.T) {
	data := []byte("manual 2026-01-01T10:00:00Z\nstart 2026-01-01T10:00:01Z\nstart 2026-01-01T10:00:11Z\n" +
		"manual 2026-01-01T11:00:00Z\nstart 2026-01-01T11:00:01Z\nstart 2026-01-01T11:00:21Z\nstart 2026-01-01T11:00:31Z\n")
	last, restarts, started := parseStarts(data)
	if !started || restarts != 2 || !last.Equal(time.Date(2026, 1, 1, 11, 0, 31, 0, time.UTC)) {
		t.Errorf("parse starts: last %s, %d restarts, started %t; want 11:00:31, 2, true", last, restarts, started)
	}
	if _, restarts, started := parseStarts([]byte("manual 2026-01-01T10:00:00Z\n")); started || restarts != 0 {
		t.Errorf("a start by hand whose task never came: %d restarts, started %t", restarts, started)
	}
}
