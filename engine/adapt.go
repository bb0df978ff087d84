package engine

import (
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
	facts := hostadapt.Facts{
		Runtime:             info.Name,
		CgroupVersion:       info.CgroupVersion,
		Rootless:            info.Rootless,
		FullPrivileges:      info.FullPrivileges,
		MissingCapabilities: info.MissingCapabilities,
	}
	a, err := hostadapt.Decide(facts, hostadapt.Options{Disabled: disabled, K3sArgs: userArgs, Image: image})
	if err != nil {
		return nil, invalidf("%v", err)
	}
	return a, nil
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

// argsOf is what a node passes to k3s after its role word.
func argsOf(n backends.Node) []string {
	args, _ := argsAfterRole(n.Cmd, Role(n.Labels[LabelRole]))
	return args
}
