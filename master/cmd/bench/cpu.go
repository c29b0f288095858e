package main

import (
	"fmt"
	"os"
	"strconv"
	"strings"
)

// procRef names a process whose CPU a cell reports.
type procRef struct {
	name string
	pid  int
}

// cpuMeter is the processes a cell's CPU is read from: every server and
// the load generator (this process).
type cpuMeter []procRef

// clockTicks is the unit of /proc/<pid>/stat's times: USER_HZ, 100 on
// every Linux this runs on.
const clockTicks = 100

// sample reads each process's user+system CPU, in ticks.
func (m cpuMeter) sample() []int64 {
	out := make([]int64, len(m))
	for i, p := range m {
		out[i] = cpuTicks(p.pid)
	}
	return out
}

// perOp turns two samples into CPU µs per message for each process.
func (m cpuMeter) perOp(before, after []int64, messages int64) []float64 {
	out := make([]float64, len(m))
	for i := range m {
		if messages > 0 {
			out[i] = float64(after[i]-before[i]) * 1e6 / clockTicks / float64(messages)
		}
	}
	return out
}

// cpuTicks is utime + stime of pid (fields 14 and 15 of its stat line),
// 0 when it cannot be read.
func cpuTicks(pid int) int64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	s := string(b)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+1:]) // the name may hold spaces
	if len(f) < 13 {
		return 0
	}
	u, _ := strconv.ParseInt(f[11], 10, 64)
	st, _ := strconv.ParseInt(f[12], 10, 64)
	return u + st
}

// formatCPU writes per-process µs per message, and their sum.
func formatCPU(m cpuMeter, us []float64) string {
	if len(us) == 0 {
		return ""
	}
	parts := make([]string, len(m))
	sum := 0.0
	for i, p := range m {
		parts[i] = fmt.Sprintf("%s %.1f", p.name, us[i])
		sum += us[i]
	}
	return fmt.Sprintf("CPU µs/msg: %s; total %.1f", strings.Join(parts, ", "), sum)
}
