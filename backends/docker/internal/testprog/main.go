// Command testprog is the process inside the docker backend's test image: a
// static program that plays a long-running node and the few tools the tests
// exec in it. It is a test fixture, not part of k3d.
package main

import (
	"fmt"
	"io"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

func main() {
	// The image links each command's name to the program, busybox-style,
	// so that tests exec "cat" as they would in a real node.
	if cmd := filepath.Base(os.Args[0]); cmd != "testprog" {
		os.Exit(run(cmd, os.Args[1:]))
	}
	args := os.Args[1:]
	if len(args) == 0 {
		args = []string{"serve"}
	}
	os.Exit(run(args[0], args[1:]))
}

func run(cmd string, args []string) int {
	switch cmd {
	case "serve":
		return serve(args)
	case "echo":
		fmt.Println(strings.Join(args, " "))
	case "stderr":
		fmt.Fprintln(os.Stderr, strings.Join(args, " "))
	case "cat":
		if _, err := io.Copy(os.Stdout, os.Stdin); err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
	case "exit":
		n, _ := strconv.Atoi(firstArg(args))
		return n
	case "env":
		for _, e := range os.Environ() {
			fmt.Println(e)
		}
	case "pwd":
		wd, _ := os.Getwd()
		fmt.Println(wd)
	case "id":
		fmt.Printf("%d:%d\n", os.Getuid(), os.Getgid())
	case "lines":
		// Alternates stdout and stderr, to check that logs keep their order.
		n, _ := strconv.Atoi(firstArg(args))
		for i := 1; i <= n; i++ {
			if i%2 == 1 {
				fmt.Fprintf(os.Stdout, "line %d out\n", i)
			} else {
				fmt.Fprintf(os.Stderr, "line %d err\n", i)
			}
			// Separate writes in time so that their order is observable. The
			// daemon copies the two pipes in goroutines of their own and stamps
			// each line as it receives it; 2 ms was within its scheduling
			// jitter on a busy 2-core machine (lines 3 and 4 swapped in CI).
			time.Sleep(orderGap)
		}
	case "write":
		// write FILE CONTENT
		if len(args) != 2 {
			return 2
		}
		if err := os.WriteFile(args[0], []byte(args[1]), 0o644); err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
	case "privcheck":
		return privcheck()
	case "resolve":
		// resolve NAME: prints the addresses the node's DNS gives for NAME.
		addrs, err := net.LookupHost(firstArg(args))
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		fmt.Println(strings.Join(addrs, " "))
	case "stat":
		// stat PATH: prints "MODE UID:GID SIZE".
		return statFile(firstArg(args))
	default:
		fmt.Fprintf(os.Stderr, "testprog: unknown command %q\n", cmd)
		return 2
	}
	return 0
}

func firstArg(args []string) string {
	if len(args) == 0 {
		return ""
	}
	return args[0]
}

// serve plays a node: it says it is ready on both streams, optionally emits
// a numbered tick every TESTPROG_TICK, and exits 0 on SIGTERM. With
// "serve lines N" it first prints N lines alternating stdout and stderr.
func serve(args []string) int {
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGTERM, syscall.SIGINT)
	if len(args) == 2 && args[0] == "lines" {
		run("lines", args[1:])
	}
	fmt.Println("testprog ready")
	// Two pipes are copied by the runtime separately: writes to both in
	// the same instant have no order to keep.
	time.Sleep(orderGap)
	fmt.Fprintln(os.Stderr, "testprog ready on stderr")
	var tick <-chan time.Time
	if d, err := time.ParseDuration(os.Getenv("TESTPROG_TICK")); err == nil && d > 0 {
		t := time.NewTicker(d)
		defer t.Stop()
		tick = t.C
	}
	for i := 1; ; i++ {
		select {
		case s := <-sig:
			fmt.Printf("testprog stopping on %v\n", s)
			return 0
		case <-tick:
			fmt.Printf("tick %d\n", i)
		}
	}
}

// orderGap separates writes to stdout and stderr whose order a test checks.
const orderGap = 20 * time.Millisecond
