package docker

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"github.com/k3d/k3d/backends/internal/caps"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/image"
	"github.com/docker/docker/api/types/mount"
)

// A k3s node needs what `docker run --privileged` gives. Some hosts cannot
// give it: Docker inside LXC/Proxmox, systemd-nspawn or a sandboxed VM runs
// with a capability bounding set that lacks a few capabilities (here:
// CAP_SYS_RESOURCE), and the daemon's privileged mode asks the kernel for
// every capability, so runc fails at start with "unable to apply caps:
// operation not permitted". On such hosts privileged nodes get the fallback
// below instead: everything privileged mode gives that k3s relies on, built
// from flags that do not ask for the impossible.

// labelPrivileged marks nodes created with the fallback, so that InspectNode
// reports them as privileged although the daemon's flag is off.
const labelPrivileged = labelPrefix + "privileged"

// labelProbe marks the short-lived probe containers.
const labelProbe = labelPrefix + "probe"

// cgroupRoot is where the cgroup tree lives on the host and in a node.
const cgroupRoot = "/sys/fs/cgroup"

// privileges is what this host gives privileged nodes, decided once per process.
type privileges struct {
	full bool
	// caps is the fallback's capability list: every one the host can grant.
	caps []string
	// missing names the capabilities the host cannot grant.
	missing []string
	// unknown names the capabilities the daemon does not know (and so does
	// not grant in privileged mode either).
	unknown []string
	// kmsg says whether /dev/kmsg can be passed in.
	kmsg bool
	// how says how this was decided, for the debug line.
	how string
	// hostUserns: the daemon remaps user namespaces, so privileged nodes
	// must ask for the host's (see daemonFacts).
	hostUserns bool
}

// errNoProbeImage: deciding needs an image to run a probe from, and the
// daemon has none. Not cached: the next call may bring one.
var errNoProbeImage = errors.New("no image to probe privileged mode with")

// privilegesFor decides, once per process, how privileged nodes are made.
// image (if present) is used for the probe container; "" picks any local image.
func (r *Runtime) privilegesFor(ctx context.Context, img string) (privileges, error) {
	return r.privs.Get(ctx, func(ctx context.Context) (privileges, error) {
		facts, err := r.info.Get(ctx, r.readInfo)
		if err != nil {
			return privileges{}, err
		}
		key := r.privilegesKey(ctx)
		p, ok := r.loadPrivileges(key)
		if !ok {
			var err error
			if p, err = r.detectPrivileges(ctx, img); err != nil {
				return p, err
			}
			r.storePrivileges(key, p)
		}
		p.hostUserns = facts.usernsRemap
		if !p.full {
			unknown := ""
			if len(p.unknown) > 0 {
				unknown = "; the daemon does not know " + strings.Join(p.unknown, ", ")
			}
			fmt.Fprintf(r.report, "docker: privileged nodes use the fallback (the host cannot grant %s%s; decided by %s): all other capabilities, unconfined seccomp/AppArmor/system paths, all devices allowed, /dev/kmsg, read-write %s\n",
				strings.Join(p.missing, ", "), unknown, p.how, cgroupRoot)
		}
		return p, nil
	})
}

// localCaps reads this process's capability bounding set and the kernel's last
// capability. For a daemon on a local unix socket this is a fair proxy for the
// daemon's own bounding set: both descend from the same init in the same
// container or VM (LXC and nspawn drop capabilities for everything inside),
// and a process can only shrink its bounding set, never grow it.
func localCaps() (bnd caps.Set, last int, err error) {
	status, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0, 0, err
	}
	if bnd, err = caps.ParseBnd(status); err != nil {
		return 0, 0, err
	}
	lastB, err := os.ReadFile("/proc/sys/kernel/cap_last_cap")
	if err != nil {
		return 0, 0, err
	}
	last, err = strconv.Atoi(strings.TrimSpace(string(lastB)))
	return bnd, last, err
}

func (r *Runtime) detectPrivileges(ctx context.Context, img string) (privileges, error) {
	known := caps.All(len(caps.Names) - 1) // the capabilities the host may have
	candidates := known
	kmsg := true
	if r.endpoint.local() {
		// /dev/kmsg is missing inside some LXC containers; passing a missing
		// device fails the create.
		_, statErr := os.Stat("/dev/kmsg")
		kmsg = statErr == nil
		if bnd, last, err := localCaps(); err == nil {
			if bnd&caps.All(last) == caps.All(last) {
				// Nothing is missing, so the daemon's privileged mode works:
				// no probe needed on ordinary hosts.
				return privileges{full: true, how: "full bounding set"}, nil
			}
			known = caps.All(last)
			candidates = bnd & known
		}
	}

	if img == "" {
		var err error
		if img, err = r.anyImage(ctx); err != nil {
			return privileges{}, err
		}
	}
	r.removeStaleProbes(ctx)
	// Both probes at once: each costs a container start, which is slow on
	// the small machines that need the fallback most.
	var (
		wg               sync.WaitGroup
		privErr, fallErr error
		fb               = privileges{caps: candidates.Names(), kmsg: kmsg}
	)
	wg.Go(func() {
		privErr = r.probeStart(ctx, img, func(hc *container.HostConfig) { hc.Privileged = true })
	})
	wg.Go(func() {
		fb, fallErr = r.probeFallback(ctx, img, fb)
	})
	wg.Wait()
	if privErr == nil {
		return privileges{full: true, how: "probe"}, nil
	}
	if !isCapsError(privErr) {
		if err := ctx.Err(); err != nil {
			return privileges{}, err
		}
		// The probe failed for another reason (say, a daemon without its
		// init binary): it tells nothing, so nodes get the daemon's own
		// privileged mode, as they would without probing.
		fmt.Fprintf(r.report, "docker: the privileged-mode probe with image %s was inconclusive, using the daemon's privileged mode: %v\n", img, privErr)
		return privileges{full: true, how: "inconclusive probe"}, nil
	}
	how := "a probe"
	switch {
	case fallErr == nil:
		if r.endpoint.local() {
			how = "a probe and this process's capability bounding set"
		}
	case isCapsError(fallErr):
		// The proxy was wrong (or there is none for a remote daemon): find the
		// capabilities the daemon cannot grant by splitting the list.
		missing, err := r.findMissingCaps(ctx, img, fb.caps)
		if err != nil {
			return privileges{}, err
		}
		fb.caps = (caps.Of(fb.caps) &^ caps.Of(missing)).Names()
		how = "probes"
		if fb, err = r.probeFallback(ctx, img, fb); err != nil {
			return privileges{}, fmt.Errorf("probe privileged fallback with image %s: %w", img, err)
		}
	default:
		return privileges{}, fmt.Errorf("probe privileged fallback with image %s: %w", img, fallErr)
	}
	fb.unknown = caps.Of(fb.unknown).Names() // in the kernel's order
	fb.missing = (known &^ caps.Of(fb.caps) &^ caps.Of(fb.unknown)).Names()
	fb.how = how
	return fb, nil
}

// isCapsError recognizes the runtime's refusal to grant capabilities. There is
// no typed error for it: the daemon relays runc's (or crun's) message.
func isCapsError(err error) bool {
	msg := strings.ToLower(err.Error())
	return strings.Contains(msg, "apply caps") ||
		(strings.Contains(msg, "cap") && strings.Contains(msg, "operation not permitted"))
}

// unknownCapRE matches the daemon's refusal of a capability name it does not
// know (an older daemon than our capability list).
var unknownCapRE = regexp.MustCompile(`unknown capability:? "?(CAP_[A-Z_]+)`)

// probeFallback starts a probe with the whole fallback configuration, so
// that everything it asks for is tried once before a node needs it. On the
// way it drops what the daemon rejects at create: capability names it does
// not know (Docker 20.10 knows none after CAP_AUDIT_READ, and its privileged
// mode does not grant them either; daemons learn capabilities in the
// kernel's order, so a rejected one goes with all numbered after it), and
// /dev/kmsg where the host has none (some LXC containers). It returns what
// was kept and the start's error.
func (r *Runtime) probeFallback(ctx context.Context, img string, p privileges) (privileges, error) {
	var err error
	for range len(p.caps) + 2 {
		err = r.probeStart(ctx, img, func(hc *container.HostConfig) { p.apply(hc) })
		if err == nil {
			return p, nil
		}
		if p.kmsg && strings.Contains(err.Error(), "/dev/kmsg") {
			p.kmsg = false
			continue
		}
		m := unknownCapRE.FindStringSubmatch(err.Error())
		if m == nil || !slices.Contains(p.caps, m[1]) {
			return p, err
		}
		first := slices.Index(caps.Names[:], m[1])
		p.caps = slices.DeleteFunc(slices.Clone(p.caps), func(c string) bool {
			if slices.Index(caps.Names[:], c) >= first {
				p.unknown = append(p.unknown, c)
				return true
			}
			return false
		})
	}
	return p, err
}

// findMissingCaps finds, by halving, the capabilities in caps (a list the
// daemon cannot grant as a whole) that it cannot grant. Hosts miss one or two,
// so this costs a handful of probes, once per process, only where no local
// proxy for the bounding set exists or it was wrong.
func (r *Runtime) findMissingCaps(ctx context.Context, img string, caps []string) ([]string, error) {
	if len(caps) == 1 {
		return caps, nil
	}
	left, right := caps[:len(caps)/2], caps[len(caps)/2:]
	err := r.probeStart(ctx, img, func(hc *container.HostConfig) { hc.CapAdd = left })
	if err == nil {
		// The whole list fails and its left half does not: the right half holds them all.
		return r.findMissingCaps(ctx, img, right)
	}
	if !isCapsError(err) {
		return nil, err
	}
	missing, err := r.findMissingCaps(ctx, img, left)
	if err != nil {
		return nil, err
	}
	err = r.probeStart(ctx, img, func(hc *container.HostConfig) { hc.CapAdd = right })
	if err == nil {
		return missing, nil
	}
	if !isCapsError(err) {
		return nil, err
	}
	more, err := r.findMissingCaps(ctx, img, right)
	return append(missing, more...), err
}

// anyImage picks a local image to run probes from; what it contains does not
// matter, since the probe never runs anything from it.
func (r *Runtime) anyImage(ctx context.Context) (string, error) {
	imgs, err := r.cli.ImageList(ctx, image.ListOptions{})
	if err != nil {
		return "", r.typed(err, "images", conflictIsExists)
	}
	for _, img := range imgs {
		return img.ID, nil
	}
	return "", errNoProbeImage
}

// staleProbeAge is how old a probe container must be to be another
// process's leftover rather than its probe in progress.
const staleProbeAge = 2 * time.Minute

// removeStaleProbes removes probe containers that a backend killed while
// probing (k3d interrupted) left behind. Best effort: probing goes on anyway.
func (r *Runtime) removeStaleProbes(ctx context.Context) {
	list, err := r.cli.ContainerList(ctx, container.ListOptions{All: true, Filters: labelFilter(map[string]string{labelProbe: "true"})})
	if err != nil {
		return
	}
	for _, c := range list {
		if time.Since(time.Unix(c.Created, 0)) > staleProbeAge {
			_ = r.cli.ContainerRemove(ctx, c.ID, container.RemoveOptions{Force: true, RemoveVolumes: true})
		}
	}
}

// probeStart creates, starts and removes a probe container; it tests what the
// kernel grants, since capabilities are applied only at start.
func (r *Runtime) probeStart(ctx context.Context, img string, mod func(*container.HostConfig)) error {
	var rnd [6]byte
	_, _ = rand.Read(rnd[:])
	name := "k3d-runtime-probe-" + hex.EncodeToString(rnd[:])
	init := true
	hc := &container.HostConfig{
		NetworkMode: "none",
		// Init makes the runtime exec the daemon's own init binary, a file that
		// exists whatever the image holds, so the start can only fail on what
		// is probed (capabilities) and not on a missing executable, whatever
		// order the runtime checks them in. The init then fails to run the
		// nonexistent entrypoint and the container exits; that is fine.
		Init: &init,
	}
	if facts, err := r.info.Get(ctx, r.readInfo); err == nil && facts.usernsRemap {
		hc.UsernsMode = "host" // as the nodes will have it
	}
	mod(hc)
	cfg := &container.Config{
		Image:      img,
		Entrypoint: []string{"/k3d-runtime-probe-does-not-exist"},
		Labels:     map[string]string{"app": "k3d", labelProbe: "true"},
	}
	created, err := r.cli.ContainerCreate(ctx, cfg, hc, nil, nil, name)
	if err != nil {
		return r.typed(err, nodeObj(name), conflictIsExists)
	}
	defer func() {
		cctx, cancel := withoutCancel(ctx)
		defer cancel()
		_ = r.cli.ContainerRemove(cctx, created.ID, container.RemoveOptions{Force: true, RemoveVolumes: true})
	}()
	return r.cli.ContainerStart(ctx, created.ID, container.StartOptions{})
}

// applyPrivileged gives a node's host config what privileged means on this
// host, and returns the label marking a fallback node (or "").
func (p privileges) apply(hc *container.HostConfig) (fallbackLabel string) {
	if p.hostUserns {
		hc.UsernsMode = "host"
	}
	if p.full {
		hc.Privileged = true
		return ""
	}
	// Every capability the host can grant; the daemon's privileged flag would
	// ask for the missing ones too and fail.
	hc.CapAdd = append(hc.CapAdd, p.caps...)
	hc.SecurityOpt = append(hc.SecurityOpt,
		// k3s's containerd, runc and kubelet use syscalls (mount, unshare,
		// keyctl, bpf...) the default profile blocks; privileged mode turns
		// seccomp off too.
		"seccomp=unconfined",
		// The default AppArmor profile denies mount and writes under /proc
		// and /sys; privileged mode runs unconfined. Ignored without AppArmor.
		"apparmor=unconfined",
		// SELinux labels would keep nested containers from the node's
		// files; privileged mode disables labeling. Ignored without SELinux.
		"label=disable",
	)
	// `--security-opt systempaths=unconfined`, which the CLI (not the
	// daemon) turns into these empty lists (API 1.40+; nil would mean the
	// defaults): nothing masked, and /proc/sys writable, which k3s needs for
	// net.* and vm.* sysctls. Privileged mode does the same.
	hc.MaskedPaths = []string{}
	hc.ReadonlyPaths = []string{}
	// Pods' containers create and use device nodes (e.g. /dev/fuse, loop
	// devices, /dev/net/tun); privileged mode allows every device in the
	// devices cgroup, so does this rule.
	hc.DeviceCgroupRules = append(hc.DeviceCgroupRules, "a *:* rwm")
	if p.kmsg {
		// kubelet's OOM watcher reads /dev/kmsg and fails to start without it;
		// privileged mode passes every host device in, we pass that one.
		hc.Devices = append(hc.Devices, container.DeviceMapping{
			PathOnHost: "/dev/kmsg", PathInContainer: "/dev/kmsg", CgroupPermissions: "rwm",
		})
	}
	if !hasMountAt(hc.Mounts, cgroupRoot) {
		// kubelet and k3s's containerd create cgroups for pods. Without
		// privileged mode the daemon mounts the cgroup tree read-only and
		// offers no flag to make it writable, so the host's tree is bound
		// read-write instead, with the host's cgroup namespace so that the
		// paths in /proc/self/cgroup match the tree the node sees. Unlike a
		// privileged node, which sees only its own subtree, the node sees the
		// whole host tree: kubelet's cgroups land under the host's root.
		hc.Mounts = append(hc.Mounts, mount.Mount{Type: mount.TypeBind, Source: cgroupRoot, Target: cgroupRoot})
		hc.CgroupnsMode = container.CgroupnsModeHost
	}
	return "fallback"
}

func hasMountAt(ms []mount.Mount, target string) bool {
	for _, m := range ms {
		if m.Target == target {
			return true
		}
	}
	return false
}
