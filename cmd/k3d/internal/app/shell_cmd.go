package app

import (
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/k3d/k3d/backends"
	"github.com/k3d/k3d/engine"
)

// ShellCmd is `k3d shell CLUSTER`, the seed's k3d v1 command: a shell (or one
// command) whose kubectl talks to that cluster and to nothing else, without
// touching the user's kubeconfig.
type ShellCmd struct {
	Cluster string   `arg:"" predictor:"cluster" help:"The cluster the shell's KUBECONFIG points at."`
	Args    []string `arg:"" optional:"" passthrough:"" help:"After --: a command and its arguments to run instead of a shell (k3d exits with its code)."`
	Command string   `name:"command" placeholder:"CMD" help:"Run CMD through the shell (SHELL -c CMD) instead of an interactive shell; k3d exits with its code."`
	Shell   string   `placeholder:"PATH" help:"The shell to start (default: $SHELL, else /bin/sh)."`
}

func (c *ShellCmd) Run(env *Env) error {
	// Kong hands a passthrough argument over with its "--".
	if len(c.Args) > 0 && c.Args[0] == "--" {
		c.Args = c.Args[1:]
	}
	if c.Command != "" && len(c.Args) > 0 {
		return fmt.Errorf("shell %s: give --command or a command after --, not both", c.Cluster)
	}
	// The kubeconfig is read first and the backend closed before the shell
	// starts: a shell can stay open for hours and needs no runtime.
	var kc []byte
	err := env.withEngine(env.ctx, func(e *engine.Engine) error {
		if _, err := e.GetCluster(env.ctx, c.Cluster); err != nil {
			if backends.IsNotFound(err) {
				return fmt.Errorf("shell: cluster %s not found: list clusters with `k3d cluster list`", c.Cluster)
			}
			return fmt.Errorf("shell %s: %w", c.Cluster, err)
		}
		var err error
		if kc, err = e.Kubeconfig(env.ctx, c.Cluster); err != nil {
			return fmt.Errorf("shell %s: %w", c.Cluster, err)
		}
		return nil
	})
	if err != nil {
		return err
	}

	// Admin credentials: a directory only the user can enter, a file only
	// the user can read, both gone when the shell ends.
	dir, err := os.MkdirTemp("", "k3d-shell-"+c.Cluster+"-")
	if err != nil {
		return fmt.Errorf("shell %s: temporary kubeconfig: %w", c.Cluster, err)
	}
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, "kubeconfig")
	if err := os.WriteFile(path, kc, 0o600); err != nil {
		return fmt.Errorf("shell %s: write temporary kubeconfig %s: %w", c.Cluster, path, err)
	}

	shell := c.Shell
	if shell == "" {
		shell = env.Getenv("SHELL")
	}
	if shell == "" {
		shell = "/bin/sh"
	}
	argv := []string{shell}
	switch {
	case len(c.Args) > 0:
		argv = c.Args
	case c.Command != "":
		argv = []string{shell, "-c", c.Command}
	}

	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Env = append(withoutVar(env.environ(), "KUBECONFIG"), "KUBECONFIG="+path)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = env.stdin(), env.Stdout, rawWriter(env.Stderr)
	code, err := runForeground(cmd)
	if err != nil {
		hint := ""
		if len(c.Args) == 0 {
			hint = ": check $SHELL, or give --shell"
		}
		return fmt.Errorf("shell %s: start %s: %w%s", c.Cluster, argv[0], err, hint)
	}
	if code != 0 {
		return exitError{code: code}
	}
	return nil
}

// runForeground runs cmd on the user's terminal and returns its exit code
// (128+N when signal N ended it, as shells report it). The signals a
// terminal sends to its whole foreground group (Ctrl-C, Ctrl-\) reach the
// child by themselves and must not end k3d, which still has to remove the
// kubeconfig; a SIGTERM or SIGHUP sent to k3d alone is passed on to the child.
//
// The child is deliberately not bound to k3d's context: that context ends on
// the first Ctrl-C, and a Ctrl-C in an interactive shell is for the shell.
func runForeground(cmd *exec.Cmd) (int, error) {
	sigs := make(chan os.Signal, 4)
	signal.Notify(sigs, os.Interrupt, syscall.SIGQUIT, syscall.SIGTERM, syscall.SIGHUP)
	defer signal.Stop(sigs)
	if err := cmd.Start(); err != nil {
		return 0, err
	}
	done := make(chan struct{})
	defer close(done)
	go func() {
		for {
			select {
			case s := <-sigs:
				if s == syscall.SIGTERM || s == syscall.SIGHUP {
					_ = cmd.Process.Signal(s)
				}
			case <-done:
				return
			}
		}
	}()
	err := cmd.Wait()
	var exitErr *exec.ExitError
	if err != nil && !errors.As(err, &exitErr) {
		return 0, err
	}
	if ws, ok := cmd.ProcessState.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
		return 128 + int(ws.Signal()), nil
	}
	return cmd.ProcessState.ExitCode(), nil
}

// rawWriter is the writer under k3d's stderr serialiser. Once the backend is
// closed no goroutine of k3d writes to it, and a shell whose stderr is the
// terminal itself (not a pipe) knows it is interactive.
func rawWriter(w io.Writer) io.Writer {
	if s, ok := w.(*syncWriter); ok {
		return s.w
	}
	return w
}

// withoutVar is environ without any KEY=... entry.
func withoutVar(environ []string, key string) []string {
	out := make([]string, 0, len(environ))
	for _, kv := range environ {
		if !strings.HasPrefix(kv, key+"=") {
			out = append(out, kv)
		}
	}
	return out
}
