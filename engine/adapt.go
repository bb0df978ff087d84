package engine

import (
	"fmt"
	"strings"

	"github.com/k3d/k3d/backends"
	"github.com/k3d/k3d/engine/flagspec"
	"github.com/k3d/k3d/engine/hostadapt"
)

// adaptations are the changes every k3s node gets because of what the host
// cannot give it (see DESIGN.md, "Hosts that cannot give a node everything").
type adaptations []hostadapt.Adaptation

// decideAdaptations asks hostadapt what the runtime's host calls for.
// disabled is the user's switch (hostadapt.ParseDisabled); userArgs are the
// k3s arguments the user gave, so that their own settings win.
func decideAdaptations(info backends.Info, disabled map[hostadapt.ID]bool, userArgs []string, image string) (adaptations, error) {
	a, err := hostadapt.Decide(hostFacts(info), hostadapt.Options{Disabled: disabled, K3sArgs: userArgs, Image: image})
	if err != nil {
		return nil, invalidf("%v", err)
	}
	return a, nil
}

// HostAdaptations are the changes a k3s node created now on this runtime
// would get (image may be empty for the default), for `k3d runtime-info`.
func HostAdaptations(info backends.Info, disabled map[hostadapt.ID]bool, image string) ([]hostadapt.Adaptation, error) {
	if image == "" {
		image = DefaultImage
	}
	return decideAdaptations(info, disabled, nil, image)
}

func hostFacts(info backends.Info) hostadapt.Facts {
	return hostadapt.Facts{
		Runtime:             info.Name,
		CgroupVersion:       info.CgroupVersion,
		Rootless:            info.Rootless,
		FullPrivileges:      info.FullPrivileges,
		MissingCapabilities: info.MissingCapabilities,
	}
}

// turnedOff are the adaptations this host calls for that the user's switch
// turned off: when a node then fails, they are the likely cause.
func turnedOff(info backends.Info, disabled map[hostadapt.ID]bool, userArgs []string, image string) adaptations {
	if len(disabled) == 0 {
		return nil
	}
	all, err := hostadapt.Decide(hostFacts(info), hostadapt.Options{K3sArgs: userArgs, Image: image})
	if err != nil {
		return nil
	}
	var off adaptations
	for _, a := range all {
		if a.ID != hostadapt.Privileges && (disabled[a.ID] || disabled["all"]) {
			off = append(off, a)
		}
	}
	return off
}

// hint tells a user whose node failed which adaptations they turned off.
func (as adaptations) hint() string {
	if len(as) == 0 {
		return ""
	}
	var ids, why []string
	for _, a := range as {
		ids = append(ids, string(a.ID))
		why = append(why, a.Message)
	}
	return fmt.Sprintf("this host needs adaptations that --host-adapt turned off (%s: %s); drop --host-adapt / K3D_HOST_ADAPT to let k3d make them",
		strings.Join(ids, ", "), strings.Join(why, "; "))
}

func (as adaptations) k3sArgs() []string {
	var out []string
	for _, a := range as {
		out = append(out, a.K3sArgs...)
	}
	return out
}

func (as adaptations) files() []nodeFile {
	var out []nodeFile
	for _, a := range as {
		for _, f := range a.Files {
			out = append(out, nodeFile{path: f.Path, data: f.Data, mode: 0o644})
		}
	}
	return out
}

// userK3sArgs are the arguments of --k3s-arg values (filters dropped); a
// value that does not parse is reported later, where it is resolved.
func userK3sArgs(specs []string) []string {
	var out []string
	for _, s := range specs {
		if a, err := flagspec.ParseK3sArg(s); err == nil {
			out = append(out, a.Arg)
		}
	}
	return out
}
