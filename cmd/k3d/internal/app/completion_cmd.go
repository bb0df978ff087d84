package app

import (
	"github.com/alecthomas/kong"
	kongcompletion "github.com/jotaen/kong-completion"
)

// CompletionCmd prints the shell code that wires tab completion to k3d itself:
// the shell calls k3d back with COMP_LINE set, and registerCompletion answers
// from the same kong model the parser uses, so completions never drift.
type CompletionCmd struct {
	Shell string `arg:"" enum:"bash,zsh,fish" help:"The shell: bash, zsh or fish. Use as: source <(k3d completion bash)."`
}

// Run prints the script itself, as k3d v5's completion command does, rather
// than the library's instructions, so that `source <(k3d completion bash)` works.
func (c *CompletionCmd) Run(kctx *kong.Context) error {
	lib := kongcompletion.Completion{Shell: c.Shell, Code: true}
	return lib.Run(kctx)
}

// answerCompletion answers a shell's completion request and returns its exit
// code, or -1 when the shell did not ask (COMP_LINE unset): the completion
// model is built only then, not on every command.
func answerCompletion(parser *kong.Kong, getenv func(string) string) int {
	if getenv("COMP_LINE") == "" {
		return -1
	}
	code := -1
	kongcompletion.Register(parser, kongcompletion.WithExitFunc(func(c int) { code = c }))
	return code
}
