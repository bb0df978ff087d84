package hostadapt

import (
	"slices"
	"strings"
	"testing"
)

var allCaps []string // nothing missing
var noResource = []string{"CAP_SYS_RESOURCE"}

func TestDecide(t *testing.T) {
	tests := []struct {
		name  string
		facts Facts
		opts  Options
		want  []ID
	}{
		{"cgroup v2 host with everything", Facts{Runtime: "docker", CgroupVersion: 2, FullPrivileges: true, MissingCapabilities: allCaps}, Options{}, nil},
		{"cgroup v1 host", Facts{Runtime: "docker", CgroupVersion: 1, FullPrivileges: true, MissingCapabilities: allCaps}, Options{}, []ID{CgroupV1}},
		{"our build machines: v1, no CAP_SYS_RESOURCE, fallback", Facts{Runtime: "docker", CgroupVersion: 1, MissingCapabilities: noResource}, Options{}, []ID{Privileges, CgroupV1, OOMScoreAdj}},
		{"podman copes with privileges but still lacks CAP_SYS_RESOURCE", Facts{Runtime: "podman", CgroupVersion: 1, FullPrivileges: true, MissingCapabilities: noResource}, Options{}, []ID{CgroupV1, OOMScoreAdj}},
		{"rootless: kubelet in a user namespace, never lowers oom_score_adj", Facts{Runtime: "podman", CgroupVersion: 2, Rootless: true, FullPrivileges: true, MissingCapabilities: allCaps}, Options{}, []ID{UserNamespace, OOMScoreAdj}},
		{"rootless, user set feature gates already", Facts{Runtime: "podman", CgroupVersion: 2, Rootless: true, FullPrivileges: true}, Options{K3sArgs: []string{"--kubelet-arg=feature-gates=Foo=true"}}, []ID{OOMScoreAdj}},
		{"rootless podman on our build machines", Facts{Runtime: "podman", CgroupVersion: 1, Rootless: true, MissingCapabilities: noResource}, Options{}, []ID{Privileges, UserNamespace, CgroupV1, OOMScoreAdj}},
		{"fallback with unknown missing set cannot lower", Facts{Runtime: "x", CgroupVersion: 2, FullPrivileges: false}, Options{}, []ID{Privileges, OOMScoreAdj}},
		{"unknown cgroup version adds nothing", Facts{Runtime: "x", FullPrivileges: true}, Options{}, nil},
		{"user set fail-cgroupv1 already", Facts{Runtime: "docker", CgroupVersion: 1, FullPrivileges: true, MissingCapabilities: allCaps},
			Options{K3sArgs: []string{"--kubelet-arg=fail-cgroupv1=true"}}, nil},
		{"user set fail-cgroupv1 as a separate word", Facts{Runtime: "docker", CgroupVersion: 1, FullPrivileges: true, MissingCapabilities: allCaps},
			Options{K3sArgs: []string{"--kubelet-arg", "fail-cgroupv1=false"}}, nil},
		{"another kubelet arg does not count", Facts{Runtime: "docker", CgroupVersion: 1, FullPrivileges: true, MissingCapabilities: allCaps},
			Options{K3sArgs: []string{"--kubelet-arg=max-pods=50"}}, []ID{CgroupV1}},
		{"all turned off still reports the backend's fallback", Facts{Runtime: "docker", CgroupVersion: 1, MissingCapabilities: noResource}, Options{Disabled: map[ID]bool{"all": true}}, []ID{Privileges}},
		{"one turned off", Facts{Runtime: "docker", CgroupVersion: 1, MissingCapabilities: noResource}, Options{Disabled: map[ID]bool{OOMScoreAdj: true}}, []ID{Privileges, CgroupV1}},
		{"v1.36 image gets the drop-in", Facts{Runtime: "docker", CgroupVersion: 2, FullPrivileges: true, MissingCapabilities: noResource}, Options{Image: "rancher/k3s:v1.36.1-k3s1"}, []ID{OOMScoreAdj}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Decide(tt.facts, tt.opts)
			if err != nil {
				t.Fatal(err)
			}
			var ids []ID
			for _, a := range got {
				ids = append(ids, a.ID)
				if a.Message == "" || strings.Contains(a.Message, "\n") {
					t.Errorf("%s: message must be one line, got %q", a.ID, a.Message)
				}
			}
			if !slices.Equal(ids, tt.want) {
				t.Errorf("adaptations = %v, want %v", ids, tt.want)
			}
		})
	}
}

func TestDecideChanges(t *testing.T) {
	got, err := Decide(Facts{Runtime: "docker", CgroupVersion: 1, MissingCapabilities: noResource}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	byID := map[ID]Adaptation{}
	for _, a := range got {
		byID[a.ID] = a
	}
	if args := byID[CgroupV1].K3sArgs; !slices.Equal(args, []string{"--kubelet-arg=fail-cgroupv1=false"}) {
		t.Errorf("cgroup v1 args = %v", args)
	}
	if msg := byID[CgroupV1].Message; msg != "host uses cgroup v1: adding kubelet-arg fail-cgroupv1=false" {
		t.Errorf("cgroup v1 message = %q", msg)
	}
	files := byID[OOMScoreAdj].Files
	if len(files) != 1 || !strings.HasPrefix(files[0].Path, DropInDir+"/") || !strings.HasSuffix(files[0].Path, ".toml") {
		t.Fatalf("oom drop-in files = %+v", files)
	}
	if !strings.Contains(string(files[0].Data), "restrict_oom_score_adj = true") {
		t.Errorf("drop-in lacks the setting:\n%s", files[0].Data)
	}
}

func TestOldK3sCannotTakeTheDropIn(t *testing.T) {
	_, err := Decide(Facts{Runtime: "docker", CgroupVersion: 2, FullPrivileges: true, MissingCapabilities: noResource}, Options{Image: "rancher/k3s:v1.30.4-k3s1"})
	if err == nil || !strings.Contains(err.Error(), "v1.36") || !strings.Contains(err.Error(), "--host-adapt=-oom-score-adj") {
		t.Fatalf("want an error naming the fix, got %v", err)
	}
}

func TestParseDisabled(t *testing.T) {
	for in, want := range map[string][]ID{
		"":                        nil,
		"auto":                    nil,
		"off":                     {"all"},
		"-cgroupv1":               {CgroupV1},
		"-cgroupv1,oom-score-adj": {CgroupV1, OOMScoreAdj},
	} {
		got, err := ParseDisabled(in)
		if err != nil {
			t.Fatalf("%q: %v", in, err)
		}
		if len(got) != len(want) {
			t.Errorf("%q: got %v, want %v", in, got, want)
		}
		for _, id := range want {
			if !got[id] {
				t.Errorf("%q: %s not disabled", in, id)
			}
		}
	}
	if _, err := ParseDisabled("-swap"); err == nil || !strings.Contains(err.Error(), "-cgroupv1") {
		t.Errorf("unknown adaptation: want an error listing the known ones, got %v", err)
	}
	if _, err := ParseDisabled("-privileges"); err == nil || !strings.Contains(err.Error(), "cannot be turned off") {
		t.Errorf("-privileges: want an error saying it cannot be turned off, got %v", err)
	}
}
