package main

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"unsafe"
)

// privcheck tries what a k3s node does with its privileges and prints one
// "ok NAME" or "FAIL NAME: why" line per check; it exits 1 if any failed.
func privcheck() int {
	failed := 0
	check := func(name string, f func() error) {
		if err := f(); err != nil {
			failed++
			fmt.Printf("FAIL %s: %v\n", name, err)
			return
		}
		fmt.Printf("ok %s\n", name)
	}
	check("cgroup-write", cgroupWrite)
	check("mount-tmpfs", mountTmpfs)
	check("mount-cgroup", mountCgroup)
	check("sysctl-write", sysctlWrite)
	check("net-bridge", netBridge)
	check("dev-kmsg", devKmsg)
	check("mknod", mknod)
	if failed > 0 {
		return 1
	}
	return 0
}

// cgroupWrite creates and removes a child of this process's cgroup, as
// kubelet does for pods.
func cgroupWrite() error {
	dir, err := ownCgroupDir()
	if err != nil {
		return err
	}
	child := filepath.Join(dir, fmt.Sprintf("k3d-privcheck-%d", os.Getpid()))
	if err := os.Mkdir(child, 0o755); err != nil {
		return err
	}
	return os.Remove(child)
}

// ownCgroupDir finds this process's cgroup directory under /sys/fs/cgroup
// (pids controller on v1, the unified tree on v2). A node that sees only its
// own subtree has it at the controller's root.
func ownCgroupDir() (string, error) {
	f, err := os.Open("/proc/self/cgroup")
	if err != nil {
		return "", err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		parts := strings.SplitN(sc.Text(), ":", 3)
		if len(parts) != 3 {
			continue
		}
		var root string
		switch {
		case parts[1] == "pids":
			root = "/sys/fs/cgroup/pids"
		case parts[0] == "0" && parts[1] == "":
			if _, err := os.Stat("/sys/fs/cgroup/cgroup.controllers"); err != nil {
				continue // the v1 hybrid's unified tree; pids is used instead
			}
			root = "/sys/fs/cgroup"
		default:
			continue
		}
		if d := filepath.Join(root, parts[2]); dirExists(d) {
			return d, nil
		}
		return root, nil
	}
	return "", fmt.Errorf("no pids or unified cgroup in /proc/self/cgroup")
}

func dirExists(p string) bool {
	st, err := os.Stat(p)
	return err == nil && st.IsDir()
}

func mountTmpfs() error {
	dir, err := os.MkdirTemp("", "privcheck-tmpfs-")
	if err != nil {
		return err
	}
	defer os.Remove(dir)
	if err := syscall.Mount("tmpfs", dir, "tmpfs", 0, "size=1m"); err != nil {
		return err
	}
	return syscall.Unmount(dir, 0)
}

// mountCgroup mounts a cgroup hierarchy, as k3s's containerd and runc do.
func mountCgroup() error {
	dir, err := os.MkdirTemp("", "privcheck-cgroup-")
	if err != nil {
		return err
	}
	defer os.Remove(dir)
	fstype, data := "cgroup2", ""
	if dirExists("/sys/fs/cgroup/pids") {
		fstype, data = "cgroup", "pids" // v1: one controller's hierarchy
	}
	if err := syscall.Mount("cgroup", dir, fstype, 0, data); err != nil {
		return fmt.Errorf("mount %s %s: %w", fstype, data, err)
	}
	return syscall.Unmount(dir, 0)
}

// sysctlWrite writes a network sysctl of the node's own namespace, as
// kube-proxy and flannel do.
func sysctlWrite() error {
	return os.WriteFile("/proc/sys/net/ipv4/ip_forward", []byte("1\n"), 0o644)
}

// netBridge creates and deletes a bridge device (CAP_NET_ADMIN), as CNI does.
func netBridge() error {
	const (
		siocBrAddBr = 0x89a0
		siocBrDelBr = 0x89a1
	)
	fd, err := syscall.Socket(syscall.AF_UNIX, syscall.SOCK_STREAM, 0)
	if err != nil {
		return err
	}
	defer syscall.Close(fd)
	name, err := syscall.BytePtrFromString("k3dpriv0")
	if err != nil {
		return err
	}
	for _, op := range []uintptr{siocBrAddBr, siocBrDelBr} {
		if _, _, errno := syscall.Syscall(syscall.SYS_IOCTL, uintptr(fd), op, uintptr(unsafe.Pointer(name))); errno != 0 {
			return fmt.Errorf("ioctl %#x: %w", op, errno)
		}
	}
	return nil
}

// devKmsg opens /dev/kmsg, as kubelet's OOM watcher does.
func devKmsg() error {
	f, err := os.OpenFile("/dev/kmsg", os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		return err
	}
	return f.Close()
}

// mknod makes and opens a device node (CAP_MKNOD and the devices cgroup).
func mknod() error {
	p := filepath.Join(os.TempDir(), fmt.Sprintf("privcheck-null-%d", os.Getpid()))
	if err := syscall.Mknod(p, syscall.S_IFCHR|0o666, 1<<8|3); err != nil {
		return err
	}
	defer os.Remove(p)
	f, err := os.OpenFile(p, os.O_WRONLY, 0)
	if err != nil {
		return err
	}
	_, err = f.Write([]byte("x"))
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

func statFile(p string) int {
	var st syscall.Stat_t
	if err := syscall.Lstat(p, &st); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	fmt.Printf("%o %d:%d %d\n", st.Mode&0o7777, st.Uid, st.Gid, st.Size)
	return 0
}
