// Command testprog is the only program in the conformance suite's test image:
// a static multi-call binary (first argument = subcommand) that lets the suite
// observe from inside a node what a backend did, with no shell in the image.
//
//	testprog [sleep]                 run until SIGTERM/SIGINT, then exit 0
//	testprog echo [-err TEXT] [-exit N]  copy stdin to stdout, TEXT to stderr, exit N
//	testprog out TEXT                print TEXT to stdout
//	testprog exit N                  exit with code N
//	testprog exit-after DURATION N   run for DURATION, then exit with code N
//	testprog serve PORT...           echo TCP and UDP on every PORT until SIGTERM
//	testprog resolve NAME            print NAME's IPv4 addresses, one a line
//	testprog dial HOST:PORT TEXT     send TEXT over TCP, print the reply
//	testprog cat PATH                print a file
//	testprog write PATH TEXT         write TEXT to a file
//	testprog stat PATH               print "MODE UID:GID" of PATH
//	testprog env                     print the environment
//	testprog id                      print "UID:GID"
//	testprog pwd                     print the working directory
//	testprog hostname                print the hostname
//	testprog memlimit                print the memory cgroup limit
//	testprog fsinfo PATH             print "tmpfs SIZE" when PATH is a tmpfs, else "other"
//	testprog mount-tmpfs DIR         mount a tmpfs on DIR, check it, unmount it
//	testprog set-mtu IFACE MTU       set an interface's MTU, print the MTU read back
//	testprog cgroup-mkdir            create and remove a child of its own cgroup
//	testprog log INTERVAL            print numbered, timestamped lines forever,
//	                                 even ones on stdout, odd ones on stderr
package main

import (
	"bufio"
	"errors"
	"flag"
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

	"golang.org/x/sys/unix"
)

func main() {
	args := os.Args[1:]
	cmd := "sleep"
	if len(args) > 0 {
		cmd, args = args[0], args[1:]
	}
	if err := run(cmd, args); err != nil {
		fmt.Fprintf(os.Stderr, "testprog %s: %v\n", cmd, err)
		os.Exit(1)
	}
}

func run(cmd string, args []string) error {
	switch cmd {
	case "sleep":
		waitForSignal()
		return nil
	case "echo":
		return echo(args)
	case "out":
		_, err := fmt.Println(strings.Join(args, " "))
		return err
	case "exit":
		code, err := intArg(args, 0)
		if err != nil {
			return err
		}
		os.Exit(code)
	case "exit-after":
		return exitAfter(args)
	case "serve":
		return serve(args)
	case "resolve":
		return resolve(args)
	case "dial":
		return dial(args)
	case "cat":
		return cat(args)
	case "read":
		// read N: reads exactly N bytes of stdin and ends without waiting for
		// its end, as ctr's tar reader stops at the archive's end marker.
		n, err := intArg(args, 0)
		if err != nil {
			return err
		}
		_, err = io.CopyN(io.Discard, os.Stdin, int64(n))
		return err
	case "stat":
		return stat(args)
	case "write":
		p, err := arg(args, 0)
		if err != nil {
			return err
		}
		text, err := arg(args, 1)
		if err != nil {
			return err
		}
		return os.WriteFile(p, []byte(text), 0o644)
	case "env":
		for _, kv := range os.Environ() {
			fmt.Println(kv)
		}
		return nil
	case "id":
		fmt.Printf("%d:%d\n", os.Getuid(), os.Getgid())
		return nil
	case "pwd":
		wd, err := os.Getwd()
		if err != nil {
			return err
		}
		fmt.Println(wd)
		return nil
	case "hostname":
		h, err := os.Hostname()
		if err != nil {
			return err
		}
		fmt.Println(h)
		return nil
	case "memlimit":
		return memLimit()
	case "memlock":
		// The locked-memory limit, "soft hard": what --ulimit memlock=S:H
		// sets. (Not nofile: Go raises its own soft open-file limit.)
		var rl syscall.Rlimit
		if err := syscall.Getrlimit(8 /* RLIMIT_MEMLOCK on Linux */, &rl); err != nil {
			return err
		}
		fmt.Println(rl.Cur, rl.Max)
		return nil
	case "fsinfo":
		return fsInfo(args)
	case "mount-tmpfs":
		return mountTmpfs(args)
	case "set-mtu":
		return setMTU(args)
	case "cgroup-mkdir":
		return cgroupMkdir()
	case "log":
		return logLines(args)
	}
	return fmt.Errorf("unknown subcommand %q", cmd)
}

func arg(args []string, i int) (string, error) {
	if i >= len(args) {
		return "", fmt.Errorf("missing argument %d", i+1)
	}
	return args[i], nil
}

func intArg(args []string, i int) (int, error) {
	s, err := arg(args, i)
	if err != nil {
		return 0, err
	}
	return strconv.Atoi(s)
}

// waitForSignal blocks until SIGTERM or SIGINT. As PID 1 the process gets no
// default signal handling from the kernel, so without this a stop would always
// wait for the runtime's kill timeout.
func waitForSignal() {
	ch := make(chan os.Signal, 1)
	signal.Notify(ch, syscall.SIGTERM, syscall.SIGINT)
	<-ch
}

func echo(args []string) error {
	fs := flag.NewFlagSet("echo", flag.ContinueOnError)
	errText := fs.String("err", "", "text for stderr")
	code := fs.Int("exit", 0, "exit code")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if _, err := io.Copy(os.Stdout, os.Stdin); err != nil {
		return err
	}
	if *errText != "" {
		fmt.Fprint(os.Stderr, *errText)
	}
	os.Exit(*code)
	return nil
}

func exitAfter(args []string) error {
	s, err := arg(args, 0)
	if err != nil {
		return err
	}
	d, err := time.ParseDuration(s)
	if err != nil {
		return err
	}
	code, err := intArg(args, 1)
	if err != nil {
		return err
	}
	fmt.Printf("started at %s, exiting with %d after %s\n", time.Now().UTC().Format(time.RFC3339Nano), code, d)
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGTERM, syscall.SIGINT)
	select {
	case <-time.After(d):
	case <-sig:
	}
	os.Exit(code)
	return nil
}

func serve(args []string) error {
	if len(args) == 0 {
		return errors.New("no port given")
	}
	errs := make(chan error, 2*len(args))
	for _, p := range args {
		tl, err := net.Listen("tcp", ":"+p)
		if err != nil {
			return err
		}
		go func() {
			for {
				c, err := tl.Accept()
				if err != nil {
					errs <- err
					return
				}
				go func() {
					defer c.Close()
					_, _ = io.Copy(c, c)
				}()
			}
		}()
		ul, err := net.ListenPacket("udp", ":"+p)
		if err != nil {
			return err
		}
		go func() {
			buf := make([]byte, 65536)
			for {
				n, from, err := ul.ReadFrom(buf)
				if err != nil {
					errs <- err
					return
				}
				_, _ = ul.WriteTo(buf[:n], from)
			}
		}()
	}
	fmt.Printf("serving tcp and udp on %s\n", strings.Join(args, ","))
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGTERM, syscall.SIGINT)
	select {
	case <-sig:
		return nil
	case err := <-errs:
		return err
	}
}

func resolve(args []string) error {
	name, err := arg(args, 0)
	if err != nil {
		return err
	}
	ips, err := net.LookupIP(name)
	if err != nil {
		return err
	}
	found := false
	for _, ip := range ips {
		if ip4 := ip.To4(); ip4 != nil {
			fmt.Println(ip4)
			found = true
		}
	}
	if !found {
		return fmt.Errorf("%s has no IPv4 address", name)
	}
	return nil
}

func dial(args []string) error {
	addr, err := arg(args, 0)
	if err != nil {
		return err
	}
	text, err := arg(args, 1)
	if err != nil {
		return err
	}
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		return err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.WriteString(c, text+"\n"); err != nil {
		return err
	}
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil {
		return err
	}
	fmt.Print(line)
	return nil
}

func cat(args []string) error {
	p, err := arg(args, 0)
	if err != nil {
		return err
	}
	f, err := os.Open(p)
	if err != nil {
		return err
	}
	defer f.Close()
	_, err = io.Copy(os.Stdout, f)
	return err
}

func stat(args []string) error {
	p, err := arg(args, 0)
	if err != nil {
		return err
	}
	var st syscall.Stat_t
	if err := syscall.Lstat(p, &st); err != nil {
		return err
	}
	fmt.Printf("%04o %d:%d\n", st.Mode&0o7777, st.Uid, st.Gid)
	return nil
}

// memLimit prints the memory limit of the process's cgroup. The cgroup may be
// mounted as the root of /sys/fs/cgroup (a private cgroup namespace, or
// Docker's bind mount of the container's own cgroup on v1) or at its full path
// (host cgroup namespace), so both places are tried, the full path first.
func memLimit() error {
	v1Path, v2Path := ownCgroup("memory")
	candidates := []string{
		filepath.Join("/sys/fs/cgroup/memory", v1Path, "memory.limit_in_bytes"),
		"/sys/fs/cgroup/memory/memory.limit_in_bytes",
		filepath.Join("/sys/fs/cgroup", v2Path, "memory.max"),
		"/sys/fs/cgroup/memory.max",
	}
	for _, c := range candidates {
		b, err := os.ReadFile(c)
		if err == nil {
			fmt.Println(strings.TrimSpace(string(b)))
			return nil
		}
	}
	return fmt.Errorf("no memory cgroup limit file among %v", candidates)
}

// ownCgroup returns this process's cgroup path in the v1 hierarchy of
// controller and in the v2 hierarchy, from /proc/self/cgroup.
func ownCgroup(controller string) (v1Path, v2Path string) {
	b, err := os.ReadFile("/proc/self/cgroup")
	if err != nil {
		return "", ""
	}
	for _, line := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		parts := strings.SplitN(line, ":", 3)
		if len(parts) != 3 {
			continue
		}
		if parts[0] == "0" && parts[1] == "" {
			v2Path = parts[2]
		}
		for _, c := range strings.Split(parts[1], ",") {
			if c == controller {
				v1Path = parts[2]
			}
		}
	}
	return v1Path, v2Path
}

const tmpfsMagic = 0x01021994

func fsInfo(args []string) error {
	p, err := arg(args, 0)
	if err != nil {
		return err
	}
	var st syscall.Statfs_t
	if err := syscall.Statfs(p, &st); err != nil {
		return err
	}
	if st.Type != tmpfsMagic {
		fmt.Printf("other %x\n", st.Type)
		return nil
	}
	fmt.Printf("tmpfs %d\n", uint64(st.Blocks)*uint64(st.Bsize))
	return nil
}

func mountTmpfs(args []string) error {
	dir, err := arg(args, 0)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	if err := syscall.Mount("tmpfs", dir, "tmpfs", 0, "size=1m"); err != nil {
		return fmt.Errorf("mount tmpfs on %s: %w", dir, err)
	}
	var st syscall.Statfs_t
	if err := syscall.Statfs(dir, &st); err != nil {
		return err
	}
	if st.Type != tmpfsMagic {
		return fmt.Errorf("%s is not a tmpfs after mounting one", dir)
	}
	if err := syscall.Unmount(dir, 0); err != nil {
		return fmt.Errorf("unmount %s: %w", dir, err)
	}
	fmt.Println("mounted")
	return nil
}

func setMTU(args []string) error {
	iface, err := arg(args, 0)
	if err != nil {
		return err
	}
	mtu, err := intArg(args, 1)
	if err != nil {
		return err
	}
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	ifr, err := unix.NewIfreq(iface)
	if err != nil {
		return err
	}
	ifr.SetUint32(uint32(mtu))
	if err := unix.IoctlIfreq(fd, unix.SIOCSIFMTU, ifr); err != nil {
		return fmt.Errorf("set MTU of %s to %d: %w", iface, mtu, err)
	}
	got, err := unix.NewIfreq(iface)
	if err != nil {
		return err
	}
	if err := unix.IoctlIfreq(fd, unix.SIOCGIFMTU, got); err != nil {
		return fmt.Errorf("read MTU of %s: %w", iface, err)
	}
	fmt.Println(got.Uint32())
	return nil
}

// cgroupMkdir does what kubelet and k3s's containerd do first: create a child
// cgroup of their own. Like memLimit it tries the full path, then the root.
func cgroupMkdir() error {
	v1Path, v2Path := ownCgroup("memory")
	child := fmt.Sprintf("k3d-conformance-%d", os.Getpid())
	var candidates []string
	if _, err := os.Stat("/sys/fs/cgroup/memory"); err == nil {
		candidates = append(candidates,
			filepath.Join("/sys/fs/cgroup/memory", v1Path, child),
			filepath.Join("/sys/fs/cgroup/memory", child))
	} else {
		candidates = append(candidates,
			filepath.Join("/sys/fs/cgroup", v2Path, child),
			filepath.Join("/sys/fs/cgroup", child))
	}
	var errs []error
	for _, c := range candidates {
		if _, err := os.Stat(filepath.Dir(c)); err != nil {
			errs = append(errs, err)
			continue
		}
		if err := os.Mkdir(c, 0o755); err != nil {
			errs = append(errs, err)
			continue
		}
		if err := os.Remove(c); err != nil {
			return fmt.Errorf("remove cgroup %s: %w", c, err)
		}
		fmt.Println(c)
		return nil
	}
	return errors.Join(errs...)
}

func logLines(args []string) error {
	s, err := arg(args, 0)
	if err != nil {
		return err
	}
	interval, err := time.ParseDuration(s)
	if err != nil {
		return err
	}
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGTERM, syscall.SIGINT)
	tick := time.NewTicker(interval)
	defer tick.Stop()
	for i := 0; ; i++ {
		out := os.Stdout
		if i%2 == 1 {
			out = os.Stderr
		}
		fmt.Fprintf(out, "line %d %s\n", i, time.Now().UTC().Format(time.RFC3339Nano))
		select {
		case <-sig:
			return nil
		case <-tick.C:
		}
	}
}
