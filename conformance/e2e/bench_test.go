package e2e

import (
	"context"
	"fmt"
	"os"
	"slices"
	"strings"
	"testing"
	"text/tabwriter"
	"time"
)

// benchShape is a cluster the benchmark creates.
type benchShape struct {
	label string
	key   string // for metric units
	args  []string
}

var benchShapes = []benchShape{
	{"1 server", "1s", nil},
	{"3 servers + 3 agents", "3s3a", []string{"--servers", "3", "--agents", "3"}},
}

// benchTimes are one shape's measurements, one per round.
type benchTimes struct {
	k3dCreate, k3dDelete, floorCreate, floorDelete []time.Duration
}

// BenchmarkCreateDelete times `k3d create cluster` and `k3d delete cluster`
// against the floor: the same containers (read back from a cluster k3d made)
// created, started until k3s's readiness lines, and removed directly through
// the runtime contract in this process — so the floor includes the backend
// protocol, but not k3d's process start, API readiness wait or kubeconfig
// writing. Run it with -run '^$' -bench CreateDelete -benchtime 3x; it prints
// a table of medians and ratios.
func BenchmarkCreateDelete(b *testing.B) {
	for _, r := range suite.runtimes {
		b.Run(r.name, func(b *testing.B) {
			r.require(b)
			benchCreateDelete(b, r)
		})
	}
}

func benchCreateDelete(b *testing.B, r *runtimeEnv) {
	ctx := context.Background()
	s := newSession(b, r)

	// One warm-up cluster per shape: it builds and loads k3d's helper image
	// once, warms the runtime's caches, and gives the plan for the floor.
	plans := make([]floorPlan, len(benchShapes))
	for i, shape := range benchShapes {
		name := clusterName("warm")
		s.createCluster(name, shape.args...)
		p, err := capturePlan(ctx, r.rt, name)
		if err != nil {
			b.Fatal(err)
		}
		plans[i] = p
		s.must("delete", "cluster", name)
	}

	times := make([]benchTimes, len(benchShapes))
	round := 0
	for b.Loop() {
		for i, shape := range benchShapes {
			k3d := func() {
				name := clusterName("bench")
				s.deleteOnCleanup(name)
				created := s.must(append([]string{"create", "cluster", name, "--image", r.image}, shape.args...)...)
				deleted := s.must("delete", "cluster", name)
				times[i].k3dCreate = append(times[i].k3dCreate, created.duration)
				times[i].k3dDelete = append(times[i].k3dDelete, deleted.duration)
			}
			floor := func() {
				p := plans[i].renamed(clusterName("floor"))
				b.Cleanup(func() { removeLeftovers(context.Background(), b, r.rt, p.cluster) })
				start := time.Now()
				if err := p.up(ctx, r.rt); err != nil {
					b.Fatal(err)
				}
				mid := time.Now()
				if err := p.down(ctx, r.rt); err != nil {
					b.Fatal(err)
				}
				times[i].floorCreate = append(times[i].floorCreate, mid.Sub(start))
				times[i].floorDelete = append(times[i].floorDelete, time.Since(mid))
			}
			// Alternate which goes first, so that neither always runs on a
			// runtime still busy cleaning up after the other.
			if round%2 == 0 {
				k3d()
				floor()
			} else {
				floor()
				k3d()
			}
		}
		round++
	}

	for i, shape := range benchShapes {
		t := times[i]
		b.ReportMetric(median(t.k3dCreate).Seconds(), "s-k3d-create-"+shape.key)
		b.ReportMetric(median(t.floorCreate).Seconds(), "s-floor-create-"+shape.key)
		b.ReportMetric(median(t.k3dDelete).Seconds(), "s-k3d-delete-"+shape.key)
		b.ReportMetric(median(t.floorDelete).Seconds(), "s-floor-delete-"+shape.key)
	}
	printBenchTable(r.name, round, times)
}

func printBenchTable(runtime string, rounds int, times []benchTimes) {
	w := tabwriter.NewWriter(os.Stdout, 0, 0, 2, ' ', 0)
	fmt.Printf("\nk3d create/delete cluster vs. the floor on %s: median of %d round(s), seconds\n", runtime, rounds)
	fmt.Println("(floor = the same containers created, started until k3s's readiness lines, and removed directly through the runtime contract, in process)")
	fmt.Fprintln(w, "operation\tk3d\tfloor\tk3d/floor\ttarget\tk3d range\tfloor range\t")
	ratio := func(a, b time.Duration) float64 { return a.Seconds() / b.Seconds() }
	for i, shape := range benchShapes {
		t := times[i]
		target := ""
		if i == 0 {
			target = "<= 1.15x"
		}
		kc, fc := median(t.k3dCreate), median(t.floorCreate)
		kd, fd := median(t.k3dDelete), median(t.floorDelete)
		fmt.Fprintf(w, "create %s\t%.2f\t%.2f\t%.2fx\t%s\t%s\t%s\t\n", shape.label, kc.Seconds(), fc.Seconds(), ratio(kc, fc),
			verdict(ratio(kc, fc), target), spread(t.k3dCreate), spread(t.floorCreate))
		fmt.Fprintf(w, "delete %s\t%.2f\t%.2f\t%.2fx\t\t%s\t%s\t\n", shape.label, kd.Seconds(), fd.Seconds(), ratio(kd, fd),
			spread(t.k3dDelete), spread(t.floorDelete))
	}
	w.Flush()
	one, multi := median(times[0].k3dCreate), median(times[1].k3dCreate)
	fone, fmulti := median(times[0].floorCreate), median(times[1].floorCreate)
	fmt.Printf("create %s / create %s: k3d %.2fx (%s); the floor itself %.2fx\n\n",
		benchShapes[1].label, benchShapes[0].label, ratio(multi, one), verdict(ratio(multi, one), "<= 1.30x"), ratio(fmulti, fone))
}

// verdict says whether ratio meets a "<= N.NNx" target.
func verdict(ratio float64, target string) string {
	if target == "" {
		return ""
	}
	var limit float64
	fmt.Sscanf(strings.TrimPrefix(target, "<= "), "%fx", &limit)
	if ratio <= limit {
		return target + " met"
	}
	return target + " MISSED"
}

// spread is the fastest and slowest of ds, in seconds.
func spread(ds []time.Duration) string {
	if len(ds) == 0 {
		return "-"
	}
	return fmt.Sprintf("%.2f-%.2f", slices.Min(ds).Seconds(), slices.Max(ds).Seconds())
}

func median(ds []time.Duration) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	return s[len(s)/2]
}
