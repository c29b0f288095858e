package k8s

import (
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// setEnv changes (or with drop, removes) a variable of a StatefulSet's container.
func setEnv(ss *appsv1.StatefulSet, name string, change func(*corev1.EnvVar), drop bool) {
	c := &ss.Spec.Template.Spec.Containers[0]
	for i := range c.Env {
		if c.Env[i].Name == name {
			if drop {
				c.Env = append(c.Env[:i], c.Env[i+1:]...)
				return
			}
			change(&c.Env[i])
			return
		}
	}
}

func setValue(ss *appsv1.StatefulSet, name, v string) {
	setEnv(ss, name, func(e *corev1.EnvVar) { e.Value, e.ValueFrom = v, nil }, false)
}

// dropListEntry removes the last comma-separated entry of a variable.
func dropListEntry(ss *appsv1.StatefulSet, name string) {
	setEnv(ss, name, func(e *corev1.EnvVar) { e.Value = e.Value[:strings.LastIndex(e.Value, ",")] }, false)
}

// TestPoliciesCatchBreaks breaks a good rendering once for each policy
// and expects that policy to fail: a check that cannot fail checks nothing.
func TestPoliciesCatchBreaks(t *testing.T) {
	breaks := []struct {
		policy, values, what string
		apply                func(r *rendering)
	}{
		{"own volume", "default.yaml", "DATA_DIR on an emptyDir", func(r *rendering) {
			r.masters.Spec.VolumeClaimTemplates = nil
			r.masters.Spec.Template.Spec.Volumes = append(r.masters.Spec.Template.Spec.Volumes,
				corev1.Volume{Name: "data", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}})
		}},
		{"own volume", "default.yaml", "no DATA_DIR", func(r *rendering) { setEnv(r.secondaries, "DATA_DIR", nil, true) }},
		{"probe paths", "default.yaml", "a liveness path that is no route", func(r *rendering) {
			r.masters.Spec.Template.Spec.Containers[0].LivenessProbe.HTTPGet.Path = "/healthz"
		}},
		{"probe paths", "default.yaml", "no readiness probe", func(r *rendering) {
			r.secondaries.Spec.Template.Spec.Containers[0].ReadinessProbe = nil
		}},
		{"probe paths", "tls.yaml", "an HTTP probe of an HTTPS node", func(r *rendering) {
			r.masters.Spec.Template.Spec.Containers[0].ReadinessProbe.HTTPGet.Scheme = corev1.URISchemeHTTP
		}},
		{"peers", "default.yaml", "a master missing from PEERS", func(r *rendering) { dropListEntry(r.masters, "PEERS") }},
		{"cluster state", "default.yaml", "no CLUSTER_STATE on the secondaries", func(r *rendering) {
			setEnv(r.secondaries, "CLUSTER_STATE", nil, true)
		}},
		{"peers", "default.yaml", "ADVERTISE_URL on another port", func(r *rendering) {
			setEnv(r.masters, "ADVERTISE_URL", func(e *corev1.EnvVar) { e.Value = strings.Replace(e.Value, ":8080", ":8081", 1) }, false)
		}},
		{"peers", "single.yaml", "FAILOVER on a single master", func(r *rendering) {
			c := &r.masters.Spec.Template.Spec.Containers[0]
			c.Env = append(c.Env, corev1.EnvVar{Name: "FAILOVER", Value: "auto"})
		}},
		{"cluster size", "default.yaml", "secondaries not counted", func(r *rendering) { setValue(r.masters, "CLUSTER_SIZE", "3") }},
		{"quorum", "default.yaml", "QUORUM below the majority", func(r *rendering) { setValue(r.masters, "QUORUM", "2") }},
		{"quorum", "ten-secondaries.yaml", "helm test below the majority", func(r *rendering) {
			for i, e := range r.pods[0].Spec.Containers[0].Env {
				if e.Name == "WRITE_CONCERN" {
					r.pods[0].Spec.Containers[0].Env[i].Value = "1"
				}
			}
		}},
		{"token from secret", "default.yaml", "a literal token", func(r *rendering) { setValue(r.secondaries, "REPLICATION_TOKEN", "abc") }},
		{"token from secret", "default.yaml", "a Secret nobody makes", func(r *rendering) {
			setEnv(r.masters, "REPLICATION_TOKEN", func(e *corev1.EnvVar) { e.ValueFrom.SecretKeyRef.Name = "elsewhere" }, false)
		}},
		{"master urls", "ten-secondaries.yaml", "a master missing from MASTER_URL", func(r *rendering) { dropListEntry(r.secondaries, "MASTER_URL") }},
		{"master urls", "tls.yaml", "ws:// to a TLS master", func(r *rendering) {
			setEnv(r.secondaries, "MASTER_URL", func(e *corev1.EnvVar) { e.Value = strings.ReplaceAll(e.Value, "wss://", "ws://") }, false)
		}},
		{"services", "default.yaml", "peers unpublished until ready", func(r *rendering) {
			for _, s := range r.services {
				s.Spec.PublishNotReadyAddresses = false
			}
		}},
		{"step-down", "default.yaml", "no preStop", func(r *rendering) { r.masters.Spec.Template.Spec.Containers[0].Lifecycle = nil }},
		{"durable", "default.yaml", "FSYNC=interval", func(r *rendering) { setValue(r.secondaries, "FSYNC", "interval") }},
		{"disruption budgets", "default.yaml", "maxUnavailable 2", func(r *rendering) {
			for _, b := range r.budgets {
				two := intstr.FromInt32(2)
				b.Spec.MaxUnavailable = &two
			}
		}},
		{"scrape", "tls.yaml", "metrics scraped over HTTP from HTTPS nodes", func(r *rendering) { r.monitors[0].Spec.Endpoints[0].Scheme = "http" }},
		{"scrape", "tls.yaml", "a scrape path that is no route", func(r *rendering) { r.monitors[0].Spec.Endpoints[0].Path = "/prometheus" }},
		{"tls", "tls.yaml", "a certificate outside the Secret", func(r *rendering) { setValue(r.masters, "TLS_CERT_FILE", "/etc/cert.pem") }},
	}
	rendered := map[string][]byte{}
	for _, b := range breaks {
		t.Run(b.policy+"/"+b.what, func(t *testing.T) {
			if rendered[b.values] == nil {
				rendered[b.values] = render(t, b.values)
			}
			r := decodeCase(t, rendered[b.values], b.values)
			check := policyNamed(t, b.policy)
			if err := check(r); err != nil {
				t.Fatalf("fails before the break: %v", err)
			}
			b.apply(r)
			if err := check(r); err == nil {
				t.Errorf("%s: the policy passes with %s", b.policy, b.what)
			} else {
				t.Logf("caught: %v", err)
			}
		})
	}
}

// TestDecodeIsStrict: an unknown field and a value of the wrong type in
// a rendered object fail the decoding.
func TestDecodeIsStrict(t *testing.T) {
	good := string(render(t, "default.yaml"))
	for what, bad := range map[string]string{
		"unknown field": strings.Replace(good, "  podManagementPolicy: Parallel", "  podManagementPolicy: Parallel\n  podManagmentPolicy: Parallel", 1),
		"wrong type":    strings.Replace(good, "  replicas: 3", "  replicas: three", 1),
		"duplicate key": strings.Replace(good, "  serviceName: ", "  replicas: 4\n  serviceName: ", 1),
		"unknown kind":  good + "\n---\napiVersion: v1\nkind: Frobnicator\nmetadata: {name: x}\n",
	} {
		t.Run(what, func(t *testing.T) {
			if bad == good {
				t.Fatal("the break changed nothing")
			}
			if _, err := decode([]byte(bad)); err == nil {
				t.Errorf("decoded with %s", what)
			} else {
				t.Logf("caught: %v", firstLine(err.Error()))
			}
		})
	}
}

func firstLine(s string) string { return strings.SplitN(s, "\n", 2)[0] }

// decodeCase decodes a rendering of a case's values with the case's settings.
func decodeCase(t *testing.T, out []byte, values string) *rendering {
	t.Helper()
	r, err := decode(out)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range cases {
		if tc.values == values {
			r.tls, r.tokenSecrets = tc.tls, tc.existingTokenSecrets
		}
	}
	return r
}

func policyNamed(t *testing.T, name string) func(*rendering) error {
	for _, p := range policies {
		if p.name == name {
			return p.check
		}
	}
	t.Fatalf("no policy %q", name)
	return nil
}
