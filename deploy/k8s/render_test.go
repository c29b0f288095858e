package k8s

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	kjson "k8s.io/apimachinery/pkg/runtime/serializer/json"
	"sigs.k8s.io/yaml"
)

// chartDir is the chart under test, from this package's directory.
const chartDir = "../helm/replog"

// namespace and release are what every case is rendered for.
const (
	namespace = "replog-test"
	release   = "r"
)

// helm is the helm binary: $HELM, else helm on PATH. `make helm-check`
// installs it and sets HELM.
func helm(t *testing.T) string {
	t.Helper()
	if h := os.Getenv("HELM"); h != "" {
		return h
	}
	h, err := exec.LookPath("helm")
	if err != nil {
		t.Fatal("no helm: set HELM or put helm on PATH (make helm-check installs it)")
	}
	return h
}

// render runs helm template on the chart with the values file (in
// testdata) and returns its output, hooks and tests included.
func render(t *testing.T, values string) []byte {
	t.Helper()
	out, err := template(t, "--values", filepath.Join("testdata", values))
	if err != nil {
		t.Fatalf("helm template with %s: %v", values, err)
	}
	return out
}

// template runs helm template on the chart with args; its error holds
// helm's stderr.
func template(t *testing.T, args ...string) ([]byte, error) {
	cmd := exec.Command(helm(t), append([]string{"template", release, chartDir, "--namespace", namespace}, args...)...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("%w: %s", err, stderr.String())
	}
	return out, nil
}

// serviceMonitor is the part of the Prometheus Operator's ServiceMonitor
// the chart uses; decoding strictly into it fails on any other field, as
// the operator's schema would on an unknown one.
type serviceMonitor struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata"`
	Spec              struct {
		Selector          metav1.LabelSelector `json:"selector"`
		NamespaceSelector struct {
			MatchNames []string `json:"matchNames"`
		} `json:"namespaceSelector"`
		Endpoints []struct {
			Port      string         `json:"port"`
			Path      string         `json:"path"`
			Interval  string         `json:"interval"`
			Scheme    string         `json:"scheme"`
			TLSConfig map[string]any `json:"tlsConfig,omitempty"`
		} `json:"endpoints"`
	} `json:"spec"`
}

// rendering is a rendered chart, every object decoded.
type rendering struct {
	tls          bool
	masters      *appsv1.StatefulSet
	secondaries  *appsv1.StatefulSet // nil without secondaries
	services     []*corev1.Service
	secrets      []*corev1.Secret
	pods         []*corev1.Pod // helm test pods
	budgets      []*policyv1.PodDisruptionBudget
	monitors     []*serviceMonitor
	tokenSecrets []string // Secrets the chart does not make but may use
}

// decoder decodes YAML into Kubernetes' own types, strictly: an unknown
// or duplicate field and a value of the wrong type are errors, as the API
// server's strict field validation makes them.
func decoder() runtime.Decoder {
	scheme := runtime.NewScheme()
	for _, add := range []func(*runtime.Scheme) error{appsv1.AddToScheme, corev1.AddToScheme, policyv1.AddToScheme} {
		if err := add(scheme); err != nil {
			panic(err)
		}
	}
	return kjson.NewSerializerWithOptions(kjson.DefaultMetaFactory, scheme, scheme,
		kjson.SerializerOptions{Yaml: true, Strict: true})
}

var docSeparator = regexp.MustCompile(`(?m)^---\s*$`)

// decode decodes every object of helm's output.
func decode(out []byte) (*rendering, error) {
	r := &rendering{}
	dec := decoder()
	for _, doc := range docSeparator.Split(string(out), -1) {
		if !hasContent(doc) {
			continue
		}
		var tm metav1.TypeMeta
		if err := yaml.Unmarshal([]byte(doc), &tm); err != nil {
			return nil, fmt.Errorf("read kind: %w\n%s", err, doc)
		}
		if tm.Kind == "ServiceMonitor" {
			var sm serviceMonitor
			if err := yaml.UnmarshalStrict([]byte(doc), &sm); err != nil {
				return nil, fmt.Errorf("ServiceMonitor: %w", err)
			}
			r.monitors = append(r.monitors, &sm)
			continue
		}
		obj, _, err := dec.Decode([]byte(doc), nil, nil)
		if err != nil {
			return nil, fmt.Errorf("%s: %w\n%s", tm.Kind, err, doc)
		}
		if err := r.add(obj); err != nil {
			return nil, err
		}
	}
	return r, nil
}

func (r *rendering) add(obj runtime.Object) error {
	switch o := obj.(type) {
	case *appsv1.StatefulSet:
		switch o.Spec.Template.Labels["app.kubernetes.io/component"] {
		case "master":
			r.masters = o
		case "secondary":
			r.secondaries = o
		default:
			return fmt.Errorf("StatefulSet %s: no component label master or secondary", o.Name)
		}
	case *corev1.Service:
		r.services = append(r.services, o)
	case *corev1.Secret:
		r.secrets = append(r.secrets, o)
	case *corev1.Pod:
		r.pods = append(r.pods, o)
	case *policyv1.PodDisruptionBudget:
		r.budgets = append(r.budgets, o)
	default:
		return fmt.Errorf("an object the checks do not know: %T", obj)
	}
	return nil
}

// hasContent reports whether a YAML document holds more than comments.
func hasContent(doc string) bool {
	for line := range strings.SplitSeq(doc, "\n") {
		if l := strings.TrimSpace(line); l != "" && !strings.HasPrefix(l, "#") {
			return true
		}
	}
	return false
}
