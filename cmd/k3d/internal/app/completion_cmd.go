package app

import (
	"context"
	"strings"
	"time"

	"github.com/alecthomas/kong"
	kongcompletion "github.com/jotaen/kong-completion"
	"github.com/posener/complete"
	"github.com/rs/zerolog"

	"github.com/k3d/k3d/engine"
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
func answerCompletion(ctx context.Context, parser *kong.Kong, env *Env) int {
	if env.Getenv("COMP_LINE") == "" {
		return -1
	}
	code := -1
	kongcompletion.Register(parser,
		kongcompletion.WithExitFunc(func(c int) { code = c }),
		kongcompletion.WithPredictor("cluster", env.namePredictor(ctx, clusterNames)),
		kongcompletion.WithPredictor("node", env.namePredictor(ctx, nodeNames)),
		kongcompletion.WithPredictor("registry", env.namePredictor(ctx, registryNames)),
	)
	return code
}

// completionTimeout bounds how long a TAB waits for the runtime: a slow or
// absent runtime gives no names rather than a hanging shell.
const completionTimeout = 2 * time.Second

// namePredictor completes names that list reads from the runtime the command
// line picks (--runtime, else K3D_RUNTIME, else the first one running). It is
// silent on any error: the shell's line is the only output.
func (env *Env) namePredictor(ctx context.Context, list func(context.Context, *engine.Engine) ([]string, error)) complete.Predictor {
	return complete.PredictFunc(func(complete.Args) []string {
		ctx, cancel := context.WithTimeout(ctx, completionTimeout)
		defer cancel()
		// The library hands a predictor only the words after the subcommand,
		// and --runtime comes before it.
		env.Globals = &Globals{Runtime: runtimeFlag(strings.Fields(env.Getenv("COMP_LINE")))}
		env.Log = zerolog.Nop()
		var names []string
		_ = env.withEngine(ctx, func(e *engine.Engine) (err error) {
			names, err = list(ctx, e)
			return err
		})
		return names
	})
}

// runtimeFlag is the value of --runtime on a partly typed command line.
func runtimeFlag(args []string) string {
	for i, a := range args {
		if v, ok := strings.CutPrefix(a, "--runtime="); ok {
			return v
		}
		if a == "--runtime" && i+1 < len(args) {
			return args[i+1]
		}
	}
	return ""
}

func clusterNames(ctx context.Context, e *engine.Engine) ([]string, error) {
	clusters, err := e.ListClusters(ctx)
	names := make([]string, 0, len(clusters))
	for _, c := range clusters {
		names = append(names, c.Name)
	}
	return names, err
}

func nodeNames(ctx context.Context, e *engine.Engine) ([]string, error) {
	nodes, err := e.ListNodes(ctx)
	names := make([]string, 0, len(nodes))
	for _, n := range nodes {
		names = append(names, n.Name)
	}
	return names, err
}
