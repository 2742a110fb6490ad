package deploy_test

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"sigs.k8s.io/yaml"
)

// manifests are the typed objects of deploy/kubernetes/otpd.yaml.
type manifests struct {
	header string
	cm     corev1.ConfigMap
	dep    appsv1.Deployment
	svc    corev1.Service
	pdb    policyv1.PodDisruptionBudget
	hpa    autoscalingv2.HorizontalPodAutoscaler
	np     networkingv1.NetworkPolicy
}

// decodeManifests decodes every document strictly into the Kubernetes API
// type of its kind (k8s.io/api, pinned in go.mod): an unknown or misspelt
// field, a wrong type or a kind at the wrong apiVersion fails, as the API
// server's strict field validation would, without a cluster.
func decodeManifests(t *testing.T, file string) manifests {
	t.Helper()
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	docs := strings.Split(string(b), "\n---\n")
	m := manifests{header: docs[0]}
	want := map[string]struct {
		apiVersion string
		into       any
	}{
		"ConfigMap":               {"v1", &m.cm},
		"Deployment":              {"apps/v1", &m.dep},
		"Service":                 {"v1", &m.svc},
		"PodDisruptionBudget":     {"policy/v1", &m.pdb},
		"HorizontalPodAutoscaler": {"autoscaling/v2", &m.hpa},
		"NetworkPolicy":           {"networking.k8s.io/v1", &m.np},
	}
	seen := map[string]bool{}
	for i, d := range docs {
		var tm metav1.TypeMeta
		if err := yaml.Unmarshal([]byte(d), &tm); err != nil {
			t.Fatalf("%s document %d: %v", file, i, err)
		}
		w, ok := want[tm.Kind]
		if !ok {
			t.Fatalf("%s document %d: kind %q not expected (a Secret here would overwrite real keys on every apply)", file, i, tm.Kind)
		}
		if tm.APIVersion != w.apiVersion {
			t.Errorf("%s: %s has apiVersion %q, want %q", file, tm.Kind, tm.APIVersion, w.apiVersion)
		}
		if err := yaml.UnmarshalStrict([]byte(d), w.into); err != nil {
			t.Fatalf("%s: %s: %v", file, tm.Kind, err)
		}
		seen[tm.Kind] = true
	}
	for k := range want {
		if !seen[k] {
			t.Errorf("%s: no %s", file, k)
		}
	}
	return m
}

// selects reports whether sel matches labels.
func selects(sel *metav1.LabelSelector, labels map[string]string) bool {
	if sel == nil || len(sel.MatchLabels) == 0 || len(sel.MatchExpressions) > 0 {
		return false
	}
	for k, v := range sel.MatchLabels {
		if labels[k] != v {
			return false
		}
	}
	return true
}

// checkKubernetes validates the manifests offline and runs the built
// binary's config check on what the Deployment gives otpd, with keygen's
// folder in place of the otpd-keys Secret (which is created from it).
func checkKubernetes(t *testing.T, bin string) {
	m := decodeManifests(t, "kubernetes/otpd.yaml")
	pod := m.dep.Spec.Template
	labels := pod.Labels
	if len(m.dep.Spec.Template.Spec.Containers) != 1 {
		t.Fatalf("Deployment: %d containers", len(pod.Spec.Containers))
	}
	ctr := pod.Spec.Containers[0]

	// Every selector picks the Deployment's pods.
	for name, sel := range map[string]*metav1.LabelSelector{"Deployment": m.dep.Spec.Selector, "PodDisruptionBudget": m.pdb.Spec.Selector,
		"NetworkPolicy": &m.np.Spec.PodSelector, "Service": {MatchLabels: m.svc.Spec.Selector}} {
		if !selects(sel, labels) {
			t.Errorf("%s selector %v does not select the pods %v", name, sel, labels)
		}
	}
	if len(pod.Spec.TopologySpreadConstraints) == 0 {
		t.Error("Deployment: no topologySpreadConstraints")
	}
	for _, c := range pod.Spec.TopologySpreadConstraints {
		if !selects(c.LabelSelector, labels) {
			t.Errorf("topology spread on %s does not count otpd's pods", c.TopologyKey)
		}
	}

	// The HPA owns the replica count; the PDB leaves one pod serving.
	if m.dep.Spec.Replicas != nil {
		t.Error("Deployment sets replicas: every kubectl apply would reset what the HPA chose")
	}
	if r := m.hpa.Spec.ScaleTargetRef; r.Kind != "Deployment" || r.Name != m.dep.Name || r.APIVersion != "apps/v1" {
		t.Errorf("HPA scales %+v, not the Deployment", r)
	}
	if m.hpa.Spec.MinReplicas == nil || *m.hpa.Spec.MinReplicas < 2 || m.hpa.Spec.MaxReplicas < *m.hpa.Spec.MinReplicas || len(m.hpa.Spec.Metrics) == 0 {
		t.Errorf("HPA: min %v max %d metrics %d", m.hpa.Spec.MinReplicas, m.hpa.Spec.MaxReplicas, len(m.hpa.Spec.Metrics))
	}
	if ctr.Resources.Requests.Cpu().IsZero() {
		t.Error("an HPA on CPU utilization needs a CPU request")
	}
	if u := m.pdb.Spec.MaxUnavailable; u == nil || u.IntValue() != 1 || m.pdb.Spec.MinAvailable != nil {
		t.Errorf("PDB: maxUnavailable %v, minAvailable %v", u, m.pdb.Spec.MinAvailable)
	}

	// Named ports resolve to the container's.
	cports := map[string]int32{}
	for _, p := range ctr.Ports {
		cports[p.Name] = p.ContainerPort
	}
	port := func(where string, p intstr.IntOrString) {
		if p.Type == intstr.String && cports[p.StrVal] == 0 {
			t.Errorf("%s: port %q is not a container port", where, p.StrVal)
		}
	}
	svcPorts := map[string]bool{}
	for _, p := range m.svc.Spec.Ports {
		port("Service "+p.Name, p.TargetPort)
		svcPorts[p.Name] = true
	}
	for _, r := range m.np.Spec.Ingress {
		for _, p := range r.Ports {
			port("NetworkPolicy ingress", *p.Port)
		}
	}

	// Probes: started when listening, ready while Redis answers, alive
	// without /healthz (a Redis outage must not restart every pod).
	if ctr.StartupProbe == nil || ctr.StartupProbe.TCPSocket == nil {
		t.Error("no TCP startupProbe")
	} else {
		port("startupProbe", ctr.StartupProbe.TCPSocket.Port)
	}
	if ctr.ReadinessProbe == nil || ctr.ReadinessProbe.HTTPGet == nil || ctr.ReadinessProbe.HTTPGet.Path != "/healthz" {
		t.Error("readinessProbe is not GET /healthz")
	} else {
		port("readinessProbe", ctr.ReadinessProbe.HTTPGet.Port)
	}
	if ctr.LivenessProbe == nil || ctr.LivenessProbe.HTTPGet != nil {
		t.Error("livenessProbe missing or on /healthz")
	}
	// preStop, then otpd's 10 s graceful shutdown, within the grace period.
	if ctr.Lifecycle == nil || ctr.Lifecycle.PreStop == nil || ctr.Lifecycle.PreStop.Sleep == nil {
		t.Fatal("no preStop sleep")
	}
	if g := pod.Spec.TerminationGracePeriodSeconds; g == nil || *g <= ctr.Lifecycle.PreStop.Sleep.Seconds+10 {
		t.Errorf("terminationGracePeriodSeconds %v does not cover preStop %d s + 10 s shutdown", g, ctr.Lifecycle.PreStop.Sleep.Seconds)
	}
	if sc := pod.Spec.SecurityContext; sc == nil || sc.RunAsNonRoot == nil || !*sc.RunAsNonRoot || sc.FSGroup == nil {
		t.Error("pod security context: runAsNonRoot and fsGroup")
	}
	if sc := ctr.SecurityContext; sc == nil || sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem {
		t.Error("container: read-only root file system")
	}

	// Metrics: the admin listener on its own port, in the Service, named by
	// the scrape annotations, reachable only from the monitoring namespace.
	env := map[string]string{}
	for _, e := range ctr.Env {
		env[e.Name] = e.Value
	}
	admin := env["OTPD_ADMIN_ADDR"]
	if !strings.HasPrefix(admin, ":") || admin != fmt.Sprintf(":%d", cports["metrics"]) {
		t.Errorf("OTPD_ADMIN_ADDR %q is not the metrics container port %d", admin, cports["metrics"])
	}
	if !svcPorts["metrics"] {
		t.Error("Service: no metrics port")
	}
	a := pod.Annotations
	if a["prometheus.io/scrape"] != "true" || a["prometheus.io/port"] != fmt.Sprint(cports["metrics"]) || a["prometheus.io/path"] != "/metrics" {
		t.Errorf("scrape annotations %v", a)
	}
	for _, r := range m.np.Spec.Ingress {
		for _, p := range r.Ports {
			if p.Port.StrVal == "metrics" && len(r.From) == 0 {
				t.Error("NetworkPolicy opens the metrics port to everyone")
			}
		}
	}
	var sm struct {
		APIVersion string            `json:"apiVersion"`
		Kind       string            `json:"kind"`
		Metadata   metav1.ObjectMeta `json:"metadata"`
		Spec       struct {
			Selector  metav1.LabelSelector `json:"selector"`
			Endpoints []struct {
				Port     string `json:"port"`
				Path     string `json:"path"`
				Interval string `json:"interval"`
			} `json:"endpoints"`
		} `json:"spec"`
	}
	if b, err := os.ReadFile("kubernetes/servicemonitor.yaml"); err != nil {
		t.Error(err)
	} else if err := yaml.UnmarshalStrict(b, &sm); err != nil {
		t.Errorf("servicemonitor.yaml: %v", err)
	} else if sm.Kind != "ServiceMonitor" || sm.APIVersion != "monitoring.coreos.com/v1" || !selects(&sm.Spec.Selector, m.svc.Labels) ||
		len(sm.Spec.Endpoints) != 1 || sm.Spec.Endpoints[0].Port != "metrics" || sm.Spec.Endpoints[0].Path != "/metrics" {
		t.Errorf("ServiceMonitor does not scrape the Service's metrics port: %+v", sm)
	}

	// Secrets: none in the file; every one referenced is created by a
	// command in its header.
	created := map[string]bool{}
	for _, mm := range regexp.MustCompile(`kubectl create secret generic ([a-z0-9-]+)`).FindAllStringSubmatch(m.header, -1) {
		created[mm[1]] = true
	}
	var keysSecret string
	for _, v := range pod.Spec.Volumes {
		if v.Secret != nil {
			keysSecret = v.Secret.SecretName
			if !created[v.Secret.SecretName] {
				t.Errorf("volume %s uses Secret %s, which the header does not say how to create", v.Name, v.Secret.SecretName)
			}
		}
	}
	for _, e := range ctr.Env {
		if e.ValueFrom != nil && e.ValueFrom.SecretKeyRef != nil && !created[e.ValueFrom.SecretKeyRef.Name] {
			t.Errorf("%s uses Secret %s, which the header does not say how to create", e.Name, e.ValueFrom.SecretKeyRef.Name)
		}
	}
	if !strings.Contains(m.header, "kubectl create secret generic "+keysSecret+" --from-file=otpd-keys/") {
		t.Errorf("the keys Secret %q is not created from keygen's folder", keysSecret)
	}

	// What the Deployment gives otpd passes config check, with keygen's
	// folder (the Secret's content) at the mount path, and every key file
	// named is one keygen writes, the management key included.
	dir := keygen(t, bin)
	cfg := m.cm.Data["otpd.yaml"]
	for _, f := range regexp.MustCompile(`/etc/otpd/keys/([A-Za-z0-9._-]+)`).FindAllStringSubmatch(cfg+fmt.Sprint(env), -1) {
		if _, err := os.Stat(filepath.Join(dir, f[1])); err != nil {
			t.Errorf("%s is named but otpd keygen does not write it", f[0])
		}
	}
	if !strings.Contains(cfg, "managementKeysFile: /etc/otpd/keys/management-keys") {
		t.Error("the ConfigMap's project does not read the management key keygen writes")
	}
	cfgPath := filepath.Join(t.TempDir(), "otpd.yaml")
	_ = os.WriteFile(cfgPath, []byte(strings.ReplaceAll(cfg, "/etc/otpd/keys/", dir+"/")), 0o644)
	check := map[string]string{"OTPD_SMTP_PASSWORD": "test-password"}
	for k, v := range env {
		if v != "" {
			check[k] = v
		}
	}
	check["OTPD_CONFIG"] = cfgPath
	configCheck(t, bin, check, "/etc/otpd/keys", dir)
}
