package containerd

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/k3d/k3d/backends"
)

// Restart policies are containerd's restart monitor's (a plugin containerd
// enables by default; the backend process itself is gone once the k3d
// command ends). The monitor keeps a container's task in the state its
// status label names (see desireRunning), every 10 s by default, starting
// it with the log URI label's logging. containerd 1.7 and later also read
// the policy label (on-failure, unless-stopped); 1.6 restarts any exited
// task whose status label says running, so on-failure restarts there after
// a clean exit too.
const (
	labelRestartStatus = "containerd.io/restart.status"
	labelRestartPolicy = "containerd.io/restart.policy"
	labelRestartLogURI = "containerd.io/restart.loguri"
)

// Desired states. A node that should stay down carries no status label at
// all rather than "stopped": containerd 1.6's monitor reads a container's
// labels and then its task, not atomically, so a node started by hand while
// labelled "stopped" could be read as "stopped but running", killed, and
// started again by the monitor once the label said running (a spurious
// restart CI saw about once in 12 runs). The monitor only looks at
// containers that have the label, so a start adds it after the task runs.
const (
	desireRunning = "running"
	desireStopped = ""
)

// setRestartPolicyLabel labels a new node with its policy; a node with
// policy "no" carries no restart labels, so the monitor ignores it.
func setRestartPolicyLabel(labels map[string]string, p backends.RestartPolicy) {
	if p != backends.RestartNo {
		labels[labelRestartPolicy] = string(p)
	}
}

// setDesired tells the restart monitor whether to keep the node running
// (with logURI's logging), for nodes with a restart policy.
func (r *Runtime) setDesired(ctx context.Context, rec nodeRecord, desired, logURI string) error {
	if rec.meta.RestartPolicy == backends.RestartNo || rec.meta.RestartPolicy == "" {
		return nil
	}
	cli, ctx, err := r.Client(ctx)
	if err != nil {
		return err
	}
	c := rec.c
	if c.Labels == nil {
		c.Labels = map[string]string{}
	}
	if desired == desireStopped {
		// Naming the field path with the key absent removes the label.
		delete(c.Labels, labelRestartStatus)
	} else {
		c.Labels[labelRestartStatus] = desired
	}
	paths := []string{"labels." + labelRestartStatus}
	if logURI != "" {
		c.Labels[labelRestartLogURI] = logURI
		paths = append(paths, "labels."+labelRestartLogURI)
	}
	if _, err := cli.ContainerService().Update(ctx, c, paths...); err != nil {
		what := desired
		if what == desireStopped {
			what = "stopped"
		}
		return fmt.Errorf("set restart status of node %s to %s: %w", rec.name, what, r.typed(err, nodeObj(rec.name)))
	}
	return nil
}

// Every start of a node's task is a line in its starts file, written by the
// log driver, which the shim runs for each new task, whoever created it (the
// backend, or the restart monitor); StartNode writes a line of its own first.
// So the file tells when the node last started, and how often the restart
// monitor started it since it was last started by hand.
const (
	startByHand = "manual"
	startTask   = "start"
)

// recordStart appends one line to a node's starts file.
func recordStart(dir, kind string) error {
	f, err := os.OpenFile(filepath.Join(dir, nodeStarts), os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
	if err != nil {
		return err
	}
	_, err = fmt.Fprintf(f, "%s %s\n", kind, time.Now().UTC().Format(time.RFC3339Nano))
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

// startHistory reads a node's starts file: when its task last started, and
// how many tasks the restart monitor started since the last start by hand.
func startHistory(dir string) (lastStart time.Time, restarts int, started bool) {
	data, err := os.ReadFile(filepath.Join(dir, nodeStarts))
	if err != nil {
		return time.Time{}, 0, false
	}
	return parseStarts(data)
}

func parseStarts(data []byte) (lastStart time.Time, restarts int, started bool) {
	tasks := 0
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		kind, at, ok := strings.Cut(sc.Text(), " ")
		if !ok {
			continue
		}
		switch kind {
		case startByHand:
			tasks = 0
		case startTask:
			tasks++
			started = true
			if t, err := time.Parse(time.RFC3339Nano, at); err == nil {
				lastStart = t
			}
		}
	}
	// The first task after a start by hand is that start itself.
	return lastStart, max(0, tasks-1), started
}
