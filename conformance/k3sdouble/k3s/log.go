package k3s

import (
	"fmt"
	"io"
	"os"
	"strconv"
	"sync"
	"time"
)

// logger writes k3s's two log formats: logrus lines for k3s's own messages
// (`time="..." level=info msg="..."`) and klog lines for the messages real k3s
// gets from the kubelet it embeds, because k3d and people grep for both.
type logger struct {
	mu  sync.Mutex
	w   io.Writer
	now func() time.Time
}

func newLogger(w io.Writer, now func() time.Time) *logger {
	return &logger{w: w, now: now}
}

func (l *logger) logrus(level, msg string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	fmt.Fprintf(l.w, "time=%q level=%s msg=%s\n", l.now().UTC().Format(time.RFC3339), level, strconv.Quote(msg))
}

func (l *logger) Infof(format string, args ...any)  { l.logrus("info", fmt.Sprintf(format, args...)) }
func (l *logger) Warnf(format string, args ...any)  { l.logrus("warning", fmt.Sprintf(format, args...)) }
func (l *logger) Errorf(format string, args ...any) { l.logrus("error", fmt.Sprintf(format, args...)) }
func (l *logger) Fatal(err error)                   { l.logrus("fatal", err.Error()) }

// kubelet writes a klog info line, as the kubelet inside k3s does.
func (l *logger) kubelet(file string, msg string, kv ...string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	t := l.now().UTC()
	line := fmt.Sprintf("I%s %7d %s] %s", t.Format("0102 15:04:05.000000"), os.Getpid(), file, strconv.Quote(msg))
	for i := 0; i+1 < len(kv); i += 2 {
		line += " " + kv[i] + "=" + strconv.Quote(kv[i+1])
	}
	fmt.Fprintln(l.w, line)
}
