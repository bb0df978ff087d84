package app

import (
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/rs/zerolog"

	"github.com/k3d/k3d/engine"
)

// progress renders the engine's steps. On a terminal the steps under way are
// shown on one line with their elapsed time, redrawn in place; finished steps
// stay as lines. Otherwise each step is a log line when it starts and ends.
// Transfers (pulls, image imports) show their bytes and nodes done too: on
// the status line, and otherwise as a log line every logEvery.
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
	// transfer is set for a transfer that has reported its state.
	transfer *engine.TransferState
}

// logEvery spaces a transfer's log lines when stderr is not a terminal:
// enough to see it move in CI logs, few enough not to drown them.
const logEvery = 2 * time.Second

func newProgress(env *Env) *progress {
	return &progress{log: env.Log, tty: env.tty, w: env.Stderr, started: time.Now()}
}

// Step implements engine.Progress.
func (p *progress) Step(msg string) func(error) {
	return p.begin(&activeStep{msg: msg, start: time.Now()})
}

func (p *progress) begin(s *activeStep) func(error) {
	msg := s.msg
	if !p.tty {
		p.log.Info().Msg(msg + " ...")
		return func(err error) {
			d := time.Since(s.start).Round(10 * time.Millisecond)
			p.mu.Lock()
			how := transferDone(s.transfer)
			p.mu.Unlock()
			if err != nil {
				p.log.Info().Msgf("%s: failed after %s%s", msg, d, how)
				return
			}
			p.log.Info().Msgf("%s: done in %s%s", msg, d, how)
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
	fmt.Fprintf(p.w, "%s %s (%s%s)\n", mark, s.msg, elapsed(time.Since(s.start)), transferDone(s.transfer))
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
	line := fmt.Sprintf("… %s", s.msg)
	if s.transfer != nil {
		line += ": " + transferSoFar(*s.transfer)
	}
	line += fmt.Sprintf(" (%s)", elapsed(time.Since(s.start)))
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

// Transfer implements engine.Transfers.
func (p *progress) Transfer(msg string) engine.Transfer {
	s := &activeStep{msg: msg, start: time.Now()}
	t := &transferLine{p: p, s: s, last: s.start}
	t.done = p.begin(s)
	return t
}

// transferLine is one transfer on the status line or in the log.
type transferLine struct {
	p    *progress
	s    *activeStep
	done func(error)
	last time.Time // of the last log line
}

func (t *transferLine) Update(st engine.TransferState) {
	p := t.p
	p.mu.Lock()
	t.s.transfer = &st
	p.mu.Unlock()
	// On a terminal the ticker redraws; in a log a line every logEvery.
	if !p.tty && time.Since(t.last) >= logEvery {
		t.last = time.Now()
		p.log.Info().Msgf("%s: %s", t.s.msg, transferSoFar(st))
	}
}

func (t *transferLine) Done(err error) { t.done(err) }

// transferSoFar says how far a transfer is: "12.3 MB of 45.0 MB, 1 of 3
// nodes done".
func transferSoFar(st engine.TransferState) string {
	s := megabytes(st.Bytes)
	if st.Total > 0 {
		s += fmt.Sprintf(" of %s (%d%%)", megabytes(st.Total), min(100, st.Bytes*100/st.Total))
	}
	if st.Nodes > 0 {
		s += fmt.Sprintf(", %d of %d nodes done", st.NodesDone, st.Nodes)
		if st.NodesFailed > 0 {
			s += fmt.Sprintf(" (%d failed)", st.NodesFailed)
		}
	}
	return s
}

// transferDone is what a finished step's line adds for a transfer.
func transferDone(st *engine.TransferState) string {
	if st == nil || st.Bytes == 0 && st.Nodes == 0 {
		return ""
	}
	s := ", " + megabytes(st.Bytes)
	if st.Nodes > 0 {
		s += fmt.Sprintf(" into %d of %d nodes", st.NodesDone-st.NodesFailed, st.Nodes)
	}
	return s
}
