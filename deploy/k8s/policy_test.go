package k8s

import (
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/labels"
	"sigs.k8s.io/yaml"
)

// A policy is a rule of replog's failover configuration contract that
// every rendering of the chart must keep.
type policy struct {
	name  string
	check func(r *rendering) error
}

var policies = []policy{
	{"own volume", ownVolumes},
	{"probe paths", probePaths},
	{"peers", peers},
	{"cluster size", clusterSize},
	{"quorum", quorum},
	{"token from secret", tokenFromSecret},
	{"master urls", masterURLs},
	{"services", services},
	{"step-down", stepDown},
	{"durable", durable},
	{"disruption budgets", budgets},
	{"tls", tlsFiles},
	{"scrape", scrape},
	{"cluster state", clusterState},
}

// clusterState: with failover, the secondaries vote, so they take the
// masters' CLUSTER_STATE (on a first install, their empty volumes are
// voters too; a learner never votes again).
func clusterState(r *rendering) error {
	if replicas(r.masters) == 1 || r.secondaries == nil {
		return nil
	}
	m, err := container(r.masters)
	if err != nil {
		return err
	}
	s, err := container(r.secondaries)
	if err != nil {
		return err
	}
	if mv, sv := value(m, "CLUSTER_STATE"), value(s, "CLUSTER_STATE"); mv != sv {
		return fmt.Errorf("CLUSTER_STATE %q on the masters, %q on the secondaries", mv, sv)
	}
	return nil
}

// statefulSets are the rendering's StatefulSets, masters first.
func (r *rendering) statefulSets() []*appsv1.StatefulSet {
	if r.secondaries == nil {
		return []*appsv1.StatefulSet{r.masters}
	}
	return []*appsv1.StatefulSet{r.masters, r.secondaries}
}

func replicas(ss *appsv1.StatefulSet) int {
	if ss == nil {
		return 0
	}
	if ss.Spec.Replicas == nil {
		return 1
	}
	return int(*ss.Spec.Replicas)
}

// voters are the nodes that vote: every master-capable pod and every secondary.
func (r *rendering) voters() int { return replicas(r.masters) + replicas(r.secondaries) }

func (r *rendering) scheme() string {
	if r.tls {
		return "https"
	}
	return "http"
}

// podURL is the stable URL of a StatefulSet's pod i.
func (r *rendering) podURL(scheme string, ss *appsv1.StatefulSet, i int, port int) string {
	return fmt.Sprintf("%s://%s-%d.%s.%s.svc.cluster.local:%d", scheme, ss.Name, i, ss.Spec.ServiceName, namespace, port)
}

// container is a StatefulSet's only container.
func container(ss *appsv1.StatefulSet) (corev1.Container, error) {
	if n := len(ss.Spec.Template.Spec.Containers); n != 1 {
		return corev1.Container{}, fmt.Errorf("%s: %d containers, want 1", ss.Name, n)
	}
	return ss.Spec.Template.Spec.Containers[0], nil
}

// env is a container's variable and its position; ok is false when it is not set.
func env(c corev1.Container, name string) (v corev1.EnvVar, at int, ok bool) {
	for i, e := range c.Env {
		if e.Name == name {
			return e, i, true
		}
	}
	return corev1.EnvVar{}, -1, false
}

// value is a variable's literal value ("" when unset or from a source).
func value(c corev1.Container, name string) string {
	v, _, _ := env(c, name)
	return v.Value
}

// eachContainer runs check on the only container of every StatefulSet
// and joins the errors.
func (r *rendering) eachContainer(check func(ss *appsv1.StatefulSet, c corev1.Container) error) error {
	var errs []error
	for _, ss := range r.statefulSets() {
		c, err := container(ss)
		if err == nil {
			err = check(ss, c)
		}
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// ownVolumes: every pod has a volume of its own (a volumeClaimTemplate)
// mounted at DATA_DIR, and no pod volume shadows it.
func ownVolumes(r *rendering) error {
	return r.eachContainer(func(ss *appsv1.StatefulSet, c corev1.Container) error {
		dataDir := value(c, "DATA_DIR")
		if dataDir == "" {
			return fmt.Errorf("%s: no DATA_DIR", ss.Name)
		}
		var mounted string
		for _, m := range c.VolumeMounts {
			if m.MountPath == dataDir {
				mounted = m.Name
			}
		}
		if mounted == "" {
			return fmt.Errorf("%s: nothing is mounted at DATA_DIR %s", ss.Name, dataDir)
		}
		for _, v := range ss.Spec.Template.Spec.Volumes {
			if v.Name == mounted {
				return fmt.Errorf("%s: DATA_DIR is the pod volume %q, shared by nothing but lost with the pod: want a volumeClaimTemplate", ss.Name, mounted)
			}
		}
		for _, t := range ss.Spec.VolumeClaimTemplates {
			if t.Name == mounted {
				return nil
			}
		}
		return fmt.Errorf("%s: DATA_DIR's volume %q is not a volumeClaimTemplate", ss.Name, mounted)
	})
}

// routes are the paths of docs/openapi.yaml.
var routes = sync.OnceValues(func() (map[string]bool, error) {
	b, err := os.ReadFile("../../docs/openapi.yaml")
	if err != nil {
		return nil, err
	}
	var doc struct {
		Paths map[string]json.RawMessage `json:"paths"`
	}
	if err := yaml.Unmarshal(b, &doc); err != nil {
		return nil, fmt.Errorf("docs/openapi.yaml: %w", err)
	}
	if len(doc.Paths) == 0 {
		return nil, errors.New("docs/openapi.yaml: no paths")
	}
	return maps.Collect(func(yield func(string, bool) bool) {
		for p := range doc.Paths {
			yield(p, true)
		}
	}), nil
})

// probePaths: every node has a liveness and a readiness probe, each an
// HTTP GET, in the scheme the node serves, of a route in docs/openapi.yaml.
func probePaths(r *rendering) error {
	known, err := routes()
	if err != nil {
		return err
	}
	return r.eachContainer(func(ss *appsv1.StatefulSet, c corev1.Container) error {
		var errs []error
		for kind, p := range map[string]*corev1.Probe{"liveness": c.LivenessProbe, "readiness": c.ReadinessProbe, "startup": c.StartupProbe} {
			switch {
			case p == nil && kind == "startup":
			case p == nil || p.HTTPGet == nil:
				errs = append(errs, fmt.Errorf("%s: no HTTP %s probe", ss.Name, kind))
			case !known[strings.SplitN(p.HTTPGet.Path, "?", 2)[0]]:
				errs = append(errs, fmt.Errorf("%s: %s probe path %q is not a route in docs/openapi.yaml", ss.Name, kind, p.HTTPGet.Path))
			case !strings.EqualFold(string(p.HTTPGet.Scheme), r.scheme()):
				errs = append(errs, fmt.Errorf("%s: %s probe scheme %q, the node serves %s", ss.Name, kind, p.HTTPGet.Scheme, r.scheme()))
			}
		}
		return errors.Join(errs...)
	})
}

// failoverVars are set only on master-capable nodes that fail over.
var failoverVars = []string{"PEERS", "ADVERTISE_URL", "FAILOVER", "FAILOVER_TIMEOUT", "CLUSTER_STATE"}

// peers: with one master, no failover variable; with more, every pod
// gets the same PEERS, listing exactly the master pods by their stable
// URLs, its own included (a node ignores the entry of its NODE_NAME), and
// an ADVERTISE_URL equal to its own entry.
func peers(r *rendering) error {
	c, err := container(r.masters)
	if err != nil {
		return err
	}
	n := replicas(r.masters)
	if n == 1 {
		for _, name := range failoverVars {
			if _, _, ok := env(c, name); ok {
				return fmt.Errorf("one master: %s is set, want no failover settings", name)
			}
		}
		return nil
	}
	want := map[string]string{}
	for i := range n {
		want[fmt.Sprintf("%s-%d", r.masters.Name, i)] = r.podURL(r.scheme(), r.masters, i, 8080)
	}
	got, err := parsePeers(value(c, "PEERS"))
	if err != nil {
		return err
	}
	if !maps.Equal(got, want) {
		return fmt.Errorf("PEERS %v, want every master pod %v", got, want)
	}
	return advertised(c, want)
}

// parsePeers reads PEERS, refusing an entry given twice.
func parsePeers(s string) (map[string]string, error) {
	got := map[string]string{}
	for entry := range strings.SplitSeq(s, ",") {
		name, url, ok := strings.Cut(entry, "=")
		if !ok || name == "" || url == "" {
			return nil, fmt.Errorf("PEERS entry %q is not name=url", entry)
		}
		if _, twice := got[name]; twice {
			return nil, fmt.Errorf("PEERS names %s twice", name)
		}
		got[name] = url
	}
	return got, nil
}

// advertised checks NODE_NAME (the pod's name, defined before
// ADVERTISE_URL uses it) and that each pod's ADVERTISE_URL is its PEERS entry.
func advertised(c corev1.Container, peers map[string]string) error {
	node, nodeAt, _ := env(c, "NODE_NAME")
	if node.ValueFrom == nil || node.ValueFrom.FieldRef == nil || node.ValueFrom.FieldRef.FieldPath != "metadata.name" {
		return errors.New("NODE_NAME is not the pod's name (fieldRef metadata.name)")
	}
	adv, advAt, ok := env(c, "ADVERTISE_URL")
	if !ok || advAt < nodeAt {
		return errors.New("ADVERTISE_URL is not set after NODE_NAME (a $(NODE_NAME) reference needs it defined before)")
	}
	for pod, url := range peers {
		if got := strings.ReplaceAll(adv.Value, "$(NODE_NAME)", pod); got != url {
			return fmt.Errorf("%s: ADVERTISE_URL %s, its PEERS entry %s", pod, got, url)
		}
	}
	return nil
}

// clusterSize: CLUSTER_SIZE counts every node that votes.
func clusterSize(r *rendering) error {
	c, err := container(r.masters)
	if err != nil {
		return err
	}
	if got, want := value(c, "CLUSTER_SIZE"), strconv.Itoa(r.voters()); got != want {
		return fmt.Errorf("CLUSTER_SIZE %q, want %s (%d masters + %d secondaries)", got, want, replicas(r.masters), replicas(r.secondaries))
	}
	return nil
}

// quorum: QUORUM is at least a majority of the voters and at most all of
// them; helm test writes with at least a majority too.
func quorum(r *rendering) error {
	c, err := container(r.masters)
	if err != nil {
		return err
	}
	majority := r.voters()/2 + 1
	q, err := strconv.Atoi(value(c, "QUORUM"))
	if err != nil || q < majority || q > r.voters() {
		return fmt.Errorf("QUORUM %q, want %d to %d", value(c, "QUORUM"), majority, r.voters())
	}
	for _, p := range r.pods {
		for _, c := range p.Spec.Containers {
			if wc, err := strconv.Atoi(value(c, "WRITE_CONCERN")); err != nil || wc < majority {
				return fmt.Errorf("%s: WRITE_CONCERN %q, want at least the majority %d", p.Name, value(c, "WRITE_CONCERN"), majority)
			}
		}
	}
	return nil
}

// tokenFromSecret: REPLICATION_TOKEN comes from the same key of a Secret
// on every node, never from a literal value.
func tokenFromSecret(r *rendering) error {
	var refs []string
	err := r.eachContainer(func(ss *appsv1.StatefulSet, c corev1.Container) error {
		v, _, ok := env(c, "REPLICATION_TOKEN")
		if !ok || v.Value != "" || v.ValueFrom == nil || v.ValueFrom.SecretKeyRef == nil {
			return fmt.Errorf("%s: REPLICATION_TOKEN does not come from a secretKeyRef", ss.Name)
		}
		ref := v.ValueFrom.SecretKeyRef
		if !r.hasSecret(ref.Name, ref.Key) {
			return fmt.Errorf("%s: REPLICATION_TOKEN from Secret %s key %s, which the chart neither makes nor was given", ss.Name, ref.Name, ref.Key)
		}
		refs = append(refs, ref.Name+"/"+ref.Key)
		return nil
	})
	if err == nil && len(slices.Compact(refs)) != 1 {
		err = fmt.Errorf("REPLICATION_TOKEN from different secrets: %v", refs)
	}
	return err
}

func (r *rendering) hasSecret(name, key string) bool {
	if slices.Contains(r.tokenSecrets, name+"/"+key) {
		return true
	}
	for _, s := range r.secrets {
		if _, ok := s.Data[key]; ok && s.Name == name {
			return true
		}
	}
	return false
}

// masterURLs: every secondary dials every master-capable pod's
// /replicate, in the scheme the masters serve.
func masterURLs(r *rendering) error {
	if r.secondaries == nil {
		return nil
	}
	c, err := container(r.secondaries)
	if err != nil {
		return err
	}
	ws := strings.Replace(r.scheme(), "http", "ws", 1)
	var want []string
	for i := range replicas(r.masters) {
		want = append(want, r.podURL(ws, r.masters, i, 8080)+"/replicate")
	}
	got := strings.Split(value(c, "MASTER_URL"), ",")
	slices.Sort(want)
	if !slices.Equal(slices.Sorted(slices.Values(got)), want) {
		return fmt.Errorf("MASTER_URL %v, want every master pod %v", got, want)
	}
	return nil
}

// services: the masters' serviceName is a headless service that
// publishes pods before they are ready (peers elect before any is);
// each StatefulSet's headless service selects its pods; some service
// selects the masters (writes) and the secondaries (reads).
func services(r *rendering) error {
	var errs []error
	for _, ss := range r.statefulSets() {
		pods := labels.Set(ss.Spec.Template.Labels)
		var headless, selected bool
		for _, s := range r.services {
			if len(s.Spec.Selector) == 0 || !labels.SelectorFromSet(s.Spec.Selector).Matches(pods) {
				continue
			}
			selected = selected || s.Spec.ClusterIP != corev1.ClusterIPNone
			if s.Name == ss.Spec.ServiceName {
				headless = s.Spec.ClusterIP == corev1.ClusterIPNone && s.Spec.PublishNotReadyAddresses
			}
		}
		if !headless {
			errs = append(errs, fmt.Errorf("%s: no headless service %s with publishNotReadyAddresses selecting its pods", ss.Name, ss.Spec.ServiceName))
		}
		if !selected {
			errs = append(errs, fmt.Errorf("%s: no client service selects its pods", ss.Name))
		}
	}
	return errors.Join(errs...)
}

// stepDown: master-capable pods that fail over hand leadership over
// before they stop, with time for it.
func stepDown(r *rendering) error {
	if replicas(r.masters) == 1 {
		return nil
	}
	c, err := container(r.masters)
	if err != nil {
		return err
	}
	if c.Lifecycle == nil || c.Lifecycle.PreStop == nil || c.Lifecycle.PreStop.Exec == nil ||
		!slices.Equal(c.Lifecycle.PreStop.Exec.Command, []string{"/master", "step-down"}) {
		return errors.New("no preStop exec /master step-down")
	}
	if g := r.masters.Spec.Template.Spec.TerminationGracePeriodSeconds; g == nil || *g < 30 {
		return errors.New("terminationGracePeriodSeconds under 30: no time for step-down (≤ 20 s) and SHUTDOWN_TIMEOUT (10 s)")
	}
	return nil
}

// durable: every node keeps its log on disk and fsyncs every write.
func durable(r *rendering) error {
	return r.eachContainer(func(ss *appsv1.StatefulSet, c corev1.Container) error {
		if value(c, "FSYNC") != "always" || value(c, "DATA_DIR") == "" {
			return fmt.Errorf("%s: FSYNC %q DATA_DIR %q, want always and a directory", ss.Name, value(c, "FSYNC"), value(c, "DATA_DIR"))
		}
		return nil
	})
}

// budgets: a drain takes at most one pod of each StatefulSet at a time.
func budgets(r *rendering) error {
	var errs []error
	for _, ss := range r.statefulSets() {
		ok := false
		for _, b := range r.budgets {
			sel := b.Spec.Selector
			if sel == nil || b.Spec.MaxUnavailable == nil || b.Spec.MaxUnavailable.IntValue() != 1 {
				continue
			}
			ok = ok || labels.SelectorFromSet(sel.MatchLabels).Matches(labels.Set(ss.Spec.Template.Labels))
		}
		if !ok {
			errs = append(errs, fmt.Errorf("%s: no PodDisruptionBudget with maxUnavailable 1", ss.Name))
		}
	}
	return errors.Join(errs...)
}

// tlsFiles: with TLS, every node serves the certificate of a mounted
// Secret and a secondary verifies the masters against its CA; without,
// no node is told of a file.
func tlsFiles(r *rendering) error {
	return r.eachContainer(func(ss *appsv1.StatefulSet, c corev1.Container) error {
		vars := []string{"TLS_CERT_FILE", "TLS_KEY_FILE"}
		if ss == r.secondaries {
			vars = append(vars, "MASTER_CA_FILE")
		}
		for _, name := range vars {
			file := value(c, name)
			switch {
			case !r.tls && file != "":
				return fmt.Errorf("%s: %s set without TLS", ss.Name, name)
			case r.tls && !fromSecret(ss, c, file):
				return fmt.Errorf("%s: %s %q is not a file of a mounted Secret", ss.Name, name, file)
			}
		}
		return nil
	})
}

// fromSecret reports whether file lies in a Secret volume mounted in c.
func fromSecret(ss *appsv1.StatefulSet, c corev1.Container, file string) bool {
	for _, m := range c.VolumeMounts {
		if !strings.HasPrefix(file, strings.TrimSuffix(m.MountPath, "/")+"/") {
			continue
		}
		for _, v := range ss.Spec.Template.Spec.Volumes {
			if v.Name == m.Name && v.Secret != nil && v.Secret.SecretName != "" {
				return true
			}
		}
	}
	return false
}

// scrape: a ServiceMonitor scrapes a route of docs/openapi.yaml, in the
// scheme the nodes serve, through services that select every pod.
func scrape(r *rendering) error {
	known, err := routes()
	if err != nil {
		return err
	}
	for _, m := range r.monitors {
		for _, e := range m.Spec.Endpoints {
			if !known[e.Path] || e.Scheme != r.scheme() {
				return fmt.Errorf("ServiceMonitor %s scrapes %s %s, want a route of docs/openapi.yaml over %s", m.Name, e.Scheme, e.Path, r.scheme())
			}
		}
		for _, ss := range r.statefulSets() {
			if !r.monitored(m, ss) {
				return fmt.Errorf("ServiceMonitor %s: no service it selects publishes every pod of %s", m.Name, ss.Name)
			}
		}
	}
	return nil
}

// monitored reports whether m selects a headless service of every pod of ss.
func (r *rendering) monitored(m *serviceMonitor, ss *appsv1.StatefulSet) bool {
	for _, s := range r.services {
		if labels.SelectorFromSet(m.Spec.Selector.MatchLabels).Matches(labels.Set(s.Labels)) &&
			s.Spec.ClusterIP == corev1.ClusterIPNone && s.Spec.PublishNotReadyAddresses &&
			labels.SelectorFromSet(s.Spec.Selector).Matches(labels.Set(ss.Spec.Template.Labels)) {
			return true
		}
	}
	return false
}
