package k8s

import (
	"strings"
	"testing"
)

// cases are the value sets the chart is rendered with (testdata/*.yaml;
// make helm-check lints the same files).
var cases = []struct {
	values               string
	masters, secondaries int
	tls                  bool
	monitors             int
	existingTokenSecrets []string // secret/key the values name
}{
	{values: "default.yaml", masters: 3, secondaries: 2},
	{values: "tls.yaml", masters: 3, secondaries: 2, tls: true, monitors: 1,
		existingTokenSecrets: []string{"replog-replication/replication-token"}},
	{values: "single.yaml", masters: 1, secondaries: 2},
	{values: "ten-secondaries.yaml", masters: 3, secondaries: 10},
}

// TestChart renders the chart for each value set, decodes every object
// strictly into Kubernetes' types, and holds it to every policy.
func TestChart(t *testing.T) {
	for _, tc := range cases {
		t.Run(strings.TrimSuffix(tc.values, ".yaml"), func(t *testing.T) {
			r := decodeCase(t, render(t, tc.values), tc.values)
			if r.masters == nil || replicas(r.masters) != tc.masters || replicas(r.secondaries) != tc.secondaries {
				t.Fatalf("rendered %d masters and %d secondaries, want %d and %d", replicas(r.masters), replicas(r.secondaries), tc.masters, tc.secondaries)
			}
			if len(r.monitors) != tc.monitors || len(r.pods) != 1 {
				t.Fatalf("%d ServiceMonitors and %d test pods, want %d and 1", len(r.monitors), len(r.pods), tc.monitors)
			}
			for _, p := range policies {
				t.Run(p.name, func(t *testing.T) {
					if err := p.check(r); err != nil {
						t.Error(err)
					}
				})
			}
		})
	}
}

// TestChartRefuses: values that would break the contract stop the
// rendering with a line that names the value.
func TestChartRefuses(t *testing.T) {
	for _, c := range []struct{ set, says string }{
		{"quorum=2", "quorum: 2 is less than the majority of 5 nodes (3)"},
		{"quorum=6", "quorum: 6 is more than the 5 nodes"},
		{"masters.replicas=0", "masters.replicas: at least 1"},
		{"masters.failover=sometimes", `masters.failover: "sometimes" is not auto or manual`},
		{"secondaries.podAntiAffinity=always", `secondary podAntiAffinity: "always" is not preferred, required or none`},
	} {
		t.Run(c.set, func(t *testing.T) {
			_, err := template(t, "--set", c.set)
			if err == nil || !strings.Contains(err.Error(), c.says) {
				t.Errorf("helm template --set %s: %v; want an error saying %q", c.set, err, c.says)
			}
		})
	}
}
