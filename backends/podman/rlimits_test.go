package podman

import (
	"math"
	"testing"
)

func TestParseLimits(t *testing.T) {
	const limits = `Limit                     Soft Limit           Hard Limit           Units     
Max cpu time              unlimited            unlimited            seconds   
Max processes             32768                32768                processes 
Max open files            20000                40000                files     
Max locked memory         8388608              8388608              bytes     
`
	got := parseLimits(limits)
	if len(got) != 2 || got["nofile"] != [2]uint64{20000, 40000} || got["nproc"] != [2]uint64{32768, 32768} {
		t.Errorf("parseLimits = %v, want nofile 20000/40000 and nproc 32768/32768", got)
	}
	if got := parseLimits("Max open files unlimited unlimited files\n"); got["nofile"] != [2]uint64{math.MaxUint64, math.MaxUint64} {
		t.Errorf("unlimited: %v", got)
	}
}
