// Package k3s is the k3s test double: a small stand-in for the k3s binary that
// honours what k3d relies on from k3s (server, agent, tokens, the API's
// readiness and node list, ctr image import) without running Kubernetes.
package k3s

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"time"
)

// Version is what the double reports as its Kubernetes and k3s version.
const Version = "v1.36.0+k3s-double"

// DefaultDataDir is where k3s keeps its state inside a node.
const DefaultDataDir = "/var/lib/rancher/k3s"

// Env is everything the double takes from the machine, so that tests can run
// several nodes in one process.
type Env struct {
	// Args is the full command line, Args[0] naming the program: k3s, ctr,
	// kubectl and crictl are the same binary, as in real k3s.
	Args     []string
	Getenv   func(string) string
	Stdin    io.Reader
	Stdout   io.Writer
	Stderr   io.Writer
	Hostname func() (string, error)
	Now      func() time.Time
	Host     Host
	// IngressAddr is where the node answers HTTP like k3s's traefik does
	// (":80" in a node); empty serves nothing.
	IngressAddr string

	// heartbeatEvery is how often a node reports in; tests shorten it.
	heartbeatEvery time.Duration
}

func (e Env) heartbeat() time.Duration {
	if e.heartbeatEvery > 0 {
		return e.heartbeatEvery
	}
	return defaultHeartbeat
}

// OSEnv is the environment of the running process.
func OSEnv() Env {
	return Env{
		Args:     os.Args,
		Getenv:   os.Getenv,
		Stdin:    os.Stdin,
		Stdout:   os.Stdout,
		Stderr:   os.Stderr,
		Hostname: os.Hostname,
		Now:      time.Now,
		Host:     OSHost(),

		IngressAddr: ":80",
	}
}

// Main runs the program named by env.Args[0] and returns its exit code. A
// cancelled ctx (SIGTERM) ends a server or agent with 0, as k3s does.
func Main(ctx context.Context, env Env) int {
	if len(env.Args) == 0 {
		env.Args = []string{"k3s"}
	}
	switch filepath.Base(env.Args[0]) {
	case "ctr":
		return runCtr(ctx, env, env.Args[1:])
	case "kubectl":
		return runKubectl(ctx, env, env.Args[1:])
	case "crictl":
		return runCrictl(ctx, env, env.Args[1:])
	case "cat":
		return runCat(env, env.Args[1:])
	}
	return runK3s(ctx, env, env.Args[1:])
}

// runCat is the one busybox applet of the rancher/k3s image tests read
// node state with (/proc/self/limits, /proc/1/cmdline).
func runCat(env Env, files []string) int {
	code := 0
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			fmt.Fprintf(env.Stderr, "cat: %v\n", err)
			code = 1
			continue
		}
		env.Stdout.Write(b)
	}
	return code
}

func runK3s(ctx context.Context, env Env, args []string) int {
	log := newLogger(env.Stderr, env.Now)
	// Global flags may come before the subcommand (k3s --debug server).
	for len(args) > 0 && strings.HasPrefix(args[0], "-") {
		switch args[0] {
		case "-v", "--version":
			printVersion(env.Stdout)
			return 0
		case "-h", "--help":
			fmt.Fprintln(env.Stdout, usage)
			return 0
		}
		args = args[1:]
	}
	if len(args) == 0 {
		fmt.Fprintln(env.Stderr, usage)
		return 1
	}
	cmd, rest := args[0], args[1:]
	var err error
	switch cmd {
	case "server":
		err = runServer(ctx, env, log, rest)
	case "agent":
		err = runAgent(ctx, env, log, rest)
	case "ctr":
		return runCtr(ctx, env, rest)
	case "kubectl":
		return runKubectl(ctx, env, rest)
	case "crictl":
		return runCrictl(ctx, env, rest)
	case "version", "--version":
		printVersion(env.Stdout)
		return 0
	default:
		fmt.Fprintf(env.Stderr, "Incorrect Usage. No help topic for '%s'\n", cmd)
		return 3
	}
	if err != nil && !errors.Is(err, context.Canceled) {
		log.Fatal(err)
		return 1
	}
	return 0
}

func printVersion(w io.Writer) {
	fmt.Fprintf(w, "k3s version %s (double)\ngo version %s\n", Version, runtime.Version())
}

const usage = `NAME:
   k3s - Kubernetes, but small and simple (test double for k3d)

USAGE:
   k3s server|agent [flags]
   k3s ctr|kubectl|crictl ...`

// dataDirFromEnv is where ctr, crictl and kubectl look for the node's state.
func dataDirFromEnv(env Env) string {
	if d := env.Getenv("K3S_DATA_DIR"); d != "" {
		return d
	}
	return DefaultDataDir
}
