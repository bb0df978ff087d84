package engine

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

// Silent is a Progress that reports nothing.
type Silent struct{}

func (Silent) Step(string) func(error) { return func(error) {} }
func (Silent) Note(string)             {}
