// Package app is the k3d command line: flags, output and progress around the
// engine. Run is the testable entry point; only Main exits the process.
package app

import (
	"context"
	"errors"
	"fmt"
	"github.com/k3d/k3d/version"
	"io"
	"os"
	"os/signal"
	"strings"
	"sync"
	"syscall"

	"github.com/alecthomas/kong"
	"github.com/mattn/go-isatty"
	"github.com/rs/zerolog"

	"github.com/k3d/k3d/backends"
	"github.com/k3d/k3d/engine"
)

// Main runs k3d with the process's arguments and environment and returns the
// exit code. The first Ctrl-C cancels the command (a create then rolls back);
// a second one ends the process at once.
func Main() int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	go func() {
		<-ctx.Done()
		stop() // restore the default: the next signal kills
	}()
	return Run(ctx, os.Args[1:], os.Stdout, os.Stderr, os.Getenv)
}

// Env is what a command reads from the world outside its flags.
type Env struct {
	// Stdin is read by `--config -`; nil means the process's standard input.
	Stdin  io.Reader
	Stdout io.Writer
	Stderr io.Writer
	Getenv func(string) string
	// Environ is the whole environment, for commands that start programs
	// (`k3d shell`); nil means the process's own.
	Environ func() []string
	// Log is the debug log (zerolog), on Stderr.
	Log zerolog.Logger
	// Globals are the global flags.
	Globals *Globals
	// tty is true when Stderr is a terminal: progress updates in place.
	tty bool
	// ctx ends on Ctrl-C.
	ctx context.Context
	// open, when set, replaces starting a backend (tests use a fake).
	open func(ctx context.Context) (runtimeClient, error)
	// engineOpts are added to every engine (tests).
	engineOpts []engine.Option
}

// stdin is Stdin, or the process's standard input.
func (env *Env) stdin() io.Reader {
	if env.Stdin != nil {
		return env.Stdin
	}
	return os.Stdin
}

// environ is Environ, or the process's environment.
func (env *Env) environ() []string {
	if env.Environ != nil {
		return env.Environ()
	}
	return os.Environ()
}

// lookupEnv reads a variable through Getenv; empty counts as unset.
func (env *Env) lookupEnv(k string) (string, bool) {
	v := env.Getenv(k)
	return v, v != ""
}

// runtimeClient is a started backend.
type runtimeClient interface {
	backends.Runtime
	Close() error
	Path() string
}

// Run parses args, runs the command and returns the exit code. Errors are
// printed to stderr as one line: `k3d: create cluster dev: ...: what to do`.
func Run(ctx context.Context, args []string, stdout, stderr io.Writer, getenv func(string) string) int {
	return run(ctx, args, &Env{Stdout: stdout, Stderr: stderr, Getenv: getenv})
}

// run is Run with an Env that tests may preset (open, engineOpts).
func run(ctx context.Context, args []string, env *Env) int {
	tty := isTerminal(env.Stderr)
	// Steps, notes and the backend's log lines come from several goroutines.
	env.Stderr = &syncWriter{w: env.Stderr}
	stdout, stderr := env.Stdout, env.Stderr
	var cli CLI
	exitCode := -1
	parser, err := kong.New(&cli,
		kong.Name("k3d"),
		kong.Description("k3d runs k3s Kubernetes clusters in containers on Docker, Podman or containerd."),
		kong.Writers(stdout, stderr),
		kong.Exit(func(code int) { exitCode = code }),
		kong.ConfigureHelp(kong.HelpOptions{Compact: true}),
		kong.Vars{"default_image": engine.DefaultImage, "default_cluster": engine.DefaultClusterName},
	)
	if err != nil {
		fmt.Fprintf(stderr, "k3d: %v\n", err)
		return 2
	}
	if code := answerCompletion(ctx, parser, env); code >= 0 {
		return code
	}
	kctx, err := parser.Parse(args)
	if exitCode >= 0 { // --help, or a parse error kong already reported
		return exitCode
	}
	if err != nil {
		fmt.Fprintf(stderr, "k3d: %s\n", oneLine(err.Error()))
		return 2
	}
	env.Globals, env.tty, env.ctx = &cli.Globals, tty, ctx
	env.Log = newLogger(stderr, env.tty, cli.Globals)
	err = kctx.Run(env)
	if err == nil {
		return 0
	}
	var ee exitError
	if errors.As(err, &ee) {
		return ee.code
	}
	printError(stderr, err)
	return 1
}

// exitError ends k3d with a program's own exit code and no message of k3d's:
// `k3d shell NAME -- CMD` exits as CMD did, which already said why.
type exitError struct{ code int }

func (e exitError) Error() string { return fmt.Sprintf("exit status %d", e.code) }

// printError prints err as one line, then any node log lines it carries.
func printError(w io.Writer, err error) {
	fmt.Fprintf(w, "k3d: %s\n", oneLine(err.Error()))
	var ne *engine.NodeError
	if errors.As(err, &ne) && len(ne.LastLogs) > 0 {
		fmt.Fprintf(w, "last log lines of %s:\n", ne.Node)
		for _, l := range ne.LastLogs {
			fmt.Fprintf(w, "  %s\n", l)
		}
	}
}

func oneLine(s string) string {
	s = strings.TrimSpace(s)
	return strings.Join(strings.Fields(strings.ReplaceAll(s, "\n", " ")), " ")
}

func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && (isatty.IsTerminal(f.Fd()) || isatty.IsCygwinTerminal(f.Fd()))
}

func newLogger(w io.Writer, tty bool, g Globals) zerolog.Logger {
	level := zerolog.InfoLevel
	if g.Verbose {
		level = zerolog.DebugLevel
	}
	if g.Trace {
		level = zerolog.TraceLevel
	}
	cw := zerolog.ConsoleWriter{Out: w, NoColor: !tty, PartsExclude: []string{zerolog.TimestampFieldName}}
	return zerolog.New(cw).Level(level)
}

// logWriter turns lines written to it into debug log entries (a backend's
// stderr).
type logWriter struct {
	log    zerolog.Logger
	prefix string
}

func (l logWriter) Write(b []byte) (int, error) {
	for _, line := range strings.Split(strings.TrimRight(string(b), "\n"), "\n") {
		if line != "" {
			l.log.Debug().Msg(l.prefix + line)
		}
	}
	return len(b), nil
}

// openRuntime starts the backend chosen by --runtime / K3D_RUNTIME, or the
// first one whose runtime answers. The caller closes it.
func (env *Env) openRuntime(ctx context.Context) (runtimeClient, error) {
	if env.open != nil {
		return env.open(ctx)
	}
	name := env.Globals.Runtime
	if name == "" {
		name = env.Getenv("K3D_RUNTIME")
	}
	opts := backends.OpenOptions{Stderr: logWriter{log: env.Log, prefix: "backend: "}}
	if name != "" && name != "auto" {
		if !knownRuntime(name) {
			return nil, fmt.Errorf("unknown runtime %q: choose one of %s (with --runtime or K3D_RUNTIME)", name, strings.Join(knownRuntimes, ", "))
		}
		c, err := backends.Open(ctx, name, opts)
		if err != nil {
			return nil, err
		}
		return c, nil
	}
	return env.detectRuntime(ctx, opts)
}

// knownRuntimes are the runtimes k3d has backends for, in auto-detect order.
var knownRuntimes = []string{"docker", "podman", "containerd"}

func knownRuntime(name string) bool {
	for _, k := range knownRuntimes {
		if k == name {
			return true
		}
	}
	return false
}

// detectRuntime tries each known runtime in order and keeps the first whose
// backend is installed and whose daemon answers.
func (env *Env) detectRuntime(ctx context.Context, opts backends.OpenOptions) (runtimeClient, error) {
	var tried []string
	var firstErr error
	for _, name := range knownRuntimes {
		c, err := backends.Open(ctx, name, opts)
		if err != nil {
			env.Log.Debug().Err(err).Msgf("runtime %s: backend not usable", name)
			tried = append(tried, name+" (no backend)")
			continue
		}
		if _, err := c.Info(ctx); err != nil {
			env.Log.Debug().Err(err).Msgf("runtime %s: not reachable", name)
			tried = append(tried, name+" (not reachable)")
			if firstErr == nil {
				firstErr = err
			}
			_ = c.Close()
			continue
		}
		env.Log.Debug().Msgf("runtime: using %s (auto-detected)", name)
		return c, nil
	}
	if firstErr != nil {
		// The most likely fix is starting the daemon the user has.
		return nil, firstErr
	}
	return nil, fmt.Errorf("no container runtime found (tried %s): install Docker, Podman or containerd and k3d's backend for it, or choose one with --runtime", strings.Join(tried, ", "))
}

// withEngine opens the runtime, runs fn with an engine on it and closes the
// backend, so that it never outlives the command.
func (env *Env) withEngine(ctx context.Context, fn func(e *engine.Engine) error) error {
	rt, err := env.openRuntime(ctx)
	if err != nil {
		return err
	}
	defer rt.Close()
	exe, _ := os.Executable()
	kc, err := env.kubeconfigPath()
	if err != nil {
		return err
	}
	opts := []engine.Option{
		engine.WithProgress(newProgress(env)),
		engine.WithExecutable(exe),
		engine.WithRegistryExecutable(registryExecutable(exe)),
		engine.WithKubeconfig(kc),
		engine.WithVersion(version.Version),
		engine.WithLookupEnv(env.lookupEnv),
	}
	return fn(engine.New(rt, append(opts, env.engineOpts...)...))
}

// syncWriter serialises writes from several goroutines.
type syncWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (s *syncWriter) Write(b []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.w.Write(b)
}
