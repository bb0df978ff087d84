package engine

import "sync"

// Progress receives what the engine is doing, for the CLI to render. The
// engine never logs: it reports steps and notes here and returns errors.
type Progress interface {
	// Step announces a step that has begun; the returned func is called once
	// with the step's outcome.
	Step(msg string) (done func(error))
	// Note reports a fact the user should know, such as a way the nodes were
	// adapted to what the host can give them. Each note is reported once.
	Note(msg string)
}

// Transfers is what a Progress may also implement to show how far a step
// that moves bytes is (an image pull, an image stream going into nodes).
// To a Progress without it, such a step is a plain Step.
type Transfers interface {
	// Transfer announces a transfer that has begun, as Step announces a
	// step.
	Transfer(msg string) Transfer
}

// Transfer is one transfer under way. Its methods may be called from any
// goroutine, one call at a time, and must return quickly: Update comes with
// every chunk moved.
type Transfer interface {
	// Update says how far the transfer is now.
	Update(TransferState)
	// Done is called once, with the transfer's outcome.
	Done(error)
}

// TransferState is how far a transfer is.
type TransferState struct {
	// Bytes moved so far; Total is 0 while unknown.
	Bytes, Total int64
	// Nodes the bytes go to, 0 for a transfer into the runtime (a pull);
	// NodesDone how many of them have finished, NodesFailed how many of
	// those failed.
	Nodes, NodesDone, NodesFailed int
}

// Silent is a Progress that reports nothing.
type Silent struct{}

func (Silent) Step(string) func(error) { return func(error) {} }
func (Silent) Note(string)             {}

// transfer is the engine's side of a Transfer: it keeps the state that
// several goroutines add to and hands a consistent copy to the Progress.
type transfer struct {
	mu    sync.Mutex
	state TransferState
	to    Transfer
	ended bool
}

// startTransfer announces a transfer of total bytes (0: unknown) to nodes
// nodes (0: into the runtime).
func (e *Engine) startTransfer(msg string, total int64, nodes int) *transfer {
	var to Transfer
	if tp, ok := e.progress.(Transfers); ok {
		to = tp.Transfer(msg)
	} else {
		to = stepTransfer(e.progress.Step(msg))
	}
	t := &transfer{state: TransferState{Total: total, Nodes: nodes}, to: to}
	to.Update(t.state)
	return t
}

// stepTransfer shows a transfer to a Progress that knows only steps.
type stepTransfer func(error)

func (stepTransfer) Update(TransferState) {}
func (d stepTransfer) Done(err error)     { d(err) }

func (t *transfer) addBytes(n int64) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.state.Bytes += n
	if !t.ended {
		t.to.Update(t.state)
	}
}

// set replaces the byte counts (a pull reports its totals, not increments).
func (t *transfer) set(done, total int64) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.state.Bytes, t.state.Total = done, total
	if !t.ended {
		t.to.Update(t.state)
	}
}

func (t *transfer) nodeDone(err error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.state.NodesDone++
	if err != nil {
		t.state.NodesFailed++
	}
	if !t.ended {
		t.to.Update(t.state)
	}
}

func (t *transfer) done(err error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.ended {
		return
	}
	t.ended = true
	t.to.Done(err)
}
