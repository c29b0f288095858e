// Package clustertest holds replog's black-box tests: they build the real
// master and secondary binaries (with the race detector) and run them as
// processes on loopback ports, killing and restarting them as faults.
package clustertest
