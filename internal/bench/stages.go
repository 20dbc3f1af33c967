package bench

import (
	"bytes"
	"fmt"
	"os"
	"runtime/pprof"
	"sort"

	"github.com/google/pprof/profile"
)

// stageProfile profiles the CPU while a phase runs, for the CPU each
// pipeline stage spent: the samples' "stage" label, which the
// materializer's goroutines, Badger's and the embedded NATS server's
// carry (unlabelled samples are "other": the Go runtime's collector, the
// NATS client, the benchmark).
type stageProfile struct {
	buf  bytes.Buffer
	path string // also written here, when set
}

func startStageProfile(path string) (*stageProfile, error) {
	p := &stageProfile{path: path}
	if err := pprof.StartCPUProfile(&p.buf); err != nil {
		return nil, fmt.Errorf("cpu profile: %w", err)
	}
	return p, nil
}

// StageCPU is the CPU one stage used.
type StageCPU struct {
	Stage   string
	Seconds float64
}

// stop ends the profile, writes it to its path and returns the CPU by
// stage, most first.
func (p *stageProfile) stop() ([]StageCPU, error) {
	pprof.StopCPUProfile()
	if p.path != "" {
		if err := os.WriteFile(p.path, p.buf.Bytes(), 0o644); err != nil {
			return nil, fmt.Errorf("cpu profile: %w", err)
		}
	}
	prof, err := profile.Parse(&p.buf)
	if err != nil {
		return nil, fmt.Errorf("cpu profile: %w", err)
	}
	// The CPU time value is the sample type in nanoseconds.
	vi := -1
	for i, st := range prof.SampleType {
		if st.Type == "cpu" && st.Unit == "nanoseconds" {
			vi = i
		}
	}
	if vi < 0 {
		return nil, fmt.Errorf("cpu profile: no cpu/nanoseconds sample type")
	}
	by := map[string]int64{}
	for _, s := range prof.Sample {
		stage := "other"
		if v := s.Label["stage"]; len(v) > 0 {
			stage = v[0]
		}
		by[stage] += s.Value[vi]
	}
	out := make([]StageCPU, 0, len(by))
	for st, ns := range by {
		out = append(out, StageCPU{Stage: st, Seconds: float64(ns) / 1e9})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Seconds > out[j].Seconds })
	return out, nil
}
