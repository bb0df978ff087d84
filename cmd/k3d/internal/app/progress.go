package app

import (
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/rs/zerolog"
)

// progress renders the engine's steps. On a terminal the steps under way are
// shown on one line with their elapsed time, redrawn in place; finished steps
// stay as lines. Otherwise each step is a log line when it starts and ends.
type progress struct {
	log zerolog.Logger
	tty bool
	w   io.Writer

	mu      sync.Mutex
	active  []*activeStep
	ticker  *time.Ticker
	stop    chan struct{}
	drawn   bool
	started time.Time
}

type activeStep struct {
	msg   string
	start time.Time
}

func newProgress(env *Env) *progress {
	return &progress{log: env.Log, tty: env.tty, w: env.Stderr, started: time.Now()}
}

// Step implements engine.Progress.
func (p *progress) Step(msg string) func(error) {
	s := &activeStep{msg: msg, start: time.Now()}
	if !p.tty {
		p.log.Info().Msg(msg + " ...")
		return func(err error) {
			d := time.Since(s.start).Round(10 * time.Millisecond)
			if err != nil {
				p.log.Info().Msgf("%s: failed after %s", msg, d)
				return
			}
			p.log.Info().Msgf("%s: done in %s", msg, d)
		}
	}
	p.mu.Lock()
	p.active = append(p.active, s)
	if p.ticker == nil {
		p.ticker = time.NewTicker(100 * time.Millisecond)
		p.stop = make(chan struct{})
		go p.redraw(p.ticker, p.stop)
	}
	p.drawLocked()
	p.mu.Unlock()
	var once sync.Once
	return func(err error) {
		once.Do(func() { p.finish(s, err) })
	}
}

// Note implements engine.Progress.
func (p *progress) Note(msg string) {
	if !p.tty {
		p.log.Info().Msg(msg)
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.clearLocked()
	fmt.Fprintf(p.w, "  note: %s\n", msg)
	p.drawLocked()
}

func (p *progress) finish(s *activeStep, err error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for i, a := range p.active {
		if a == s {
			p.active = append(p.active[:i], p.active[i+1:]...)
			break
		}
	}
	p.clearLocked()
	mark := "✓"
	if err != nil {
		mark = "✗"
	}
	fmt.Fprintf(p.w, "%s %s (%s)\n", mark, s.msg, elapsed(time.Since(s.start)))
	if len(p.active) == 0 && p.ticker != nil {
		p.ticker.Stop()
		close(p.stop)
		p.ticker = nil
	}
	p.drawLocked()
}

func (p *progress) redraw(t *time.Ticker, stop chan struct{}) {
	for {
		select {
		case <-stop:
			return
		case <-t.C:
			p.mu.Lock()
			p.drawLocked()
			p.mu.Unlock()
		}
	}
}

// drawLocked shows the steps under way on the status line. p.mu is held.
func (p *progress) drawLocked() {
	p.clearLocked()
	if len(p.active) == 0 {
		return
	}
	// The oldest step under way is what the user is waiting for.
	s := p.active[0]
	line := fmt.Sprintf("… %s (%s)", s.msg, elapsed(time.Since(s.start)))
	if n := len(p.active) - 1; n > 0 {
		line += fmt.Sprintf(" and %d more", n)
	}
	fmt.Fprint(p.w, line)
	p.drawn = true
}

func (p *progress) clearLocked() {
	if p.drawn {
		fmt.Fprint(p.w, "\r\033[K")
		p.drawn = false
	}
}

func elapsed(d time.Duration) string {
	if d < 10*time.Second {
		return fmt.Sprintf("%.1fs", d.Seconds())
	}
	return d.Round(time.Second).String()
}
