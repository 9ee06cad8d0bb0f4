// Package kubernetes_test checks the example's manifests against its
// config.json: they cannot be applied here, so every name and port that
// the two share is cross-checked instead.
package kubernetes_test

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/fireflyrpc/firefly/rpc/cluster"
)

// get walks v along path: map keys, or "[i]" for a sequence's item.
func get(v any, path ...string) any {
	for _, k := range path {
		switch x := v.(type) {
		case map[string]any:
			v = x[k]
		case []any:
			var i int
			if _, err := fmt.Sscanf(k, "[%d]", &i); err != nil || i >= len(x) {
				return nil
			}
			v = x[i]
		default:
			return nil
		}
	}
	return v
}

func str(v any, path ...string) string { s, _ := get(v, path...).(string); return s }
func seq(v any, path ...string) []any  { s, _ := get(v, path...).([]any); return s }

// objects reads every manifest that kustomization.yaml lists, by kind and
// name.
func objects(t *testing.T) (map[string]any, []string) {
	t.Helper()
	kb, err := os.ReadFile("kustomization.yaml")
	if err != nil {
		t.Fatal(err)
	}
	kdocs, err := parseYAML(string(kb))
	if err != nil {
		t.Fatalf("kustomization.yaml: %v", err)
	}
	k := kdocs[0]
	var files []string
	for _, r := range seq(k, "resources") {
		files = append(files, r.(string))
	}
	yamls, _ := filepath.Glob("*.yaml")
	for _, y := range yamls {
		if y != "kustomization.yaml" && !slices.Contains(files, y) {
			t.Errorf("%s is not in kustomization.yaml's resources", y)
		}
	}
	objs := make(map[string]any)
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		docs, err := parseYAML(string(b))
		if err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		for _, d := range docs {
			id := str(d, "kind") + "/" + str(d, "metadata", "name")
			if _, dup := objs[id]; dup {
				t.Errorf("%s: %s twice", f, id)
			}
			objs[id] = d
		}
	}
	if got := str(k, "namespace"); got != "game" {
		t.Errorf("kustomization namespace %q", got)
	}
	gens := map[string][]string{}
	for _, kind := range []string{"configMapGenerator", "secretGenerator"} {
		for _, g := range seq(k, kind) {
			for _, f := range seq(g, "files") {
				gens[str(g, "name")] = append(gens[str(g, "name")], f.(string))
			}
		}
	}
	if !slices.Equal(gens["firefly-config"], []string{"config.json"}) {
		t.Errorf("firefly-config is made from %v, want config.json", gens["firefly-config"])
	}
	return objs, gens["firefly-secret"]
}

// dnsName splits a config name: _port._proto.service.namespace.svc.cluster.local.
// (portName and proto empty for a plain host name).
func dnsName(t *testing.T, name string) (portName, proto, service, namespace string) {
	t.Helper()
	labels := strings.Split(strings.TrimSuffix(name, "."), ".")
	if strings.HasPrefix(labels[0], "_") {
		if len(labels) < 2 || !strings.HasPrefix(labels[1], "_") {
			t.Fatalf("%s: an SRV name needs _port._proto", name)
		}
		portName, proto = labels[0][1:], labels[1][1:]
		labels = labels[2:]
	}
	if len(labels) != 5 || strings.Join(labels[2:], ".") != "svc.cluster.local" {
		t.Fatalf("%s: not <service>.<namespace>.svc.cluster.local", name)
	}
	return portName, proto, labels[0], labels[1]
}

// servicePort returns the port named name of Service svc, and its protocol.
func servicePort(svc any, name string) (port int, proto string, ok bool) {
	for _, p := range seq(svc, "spec", "ports") {
		if str(p, "name") == name {
			port, _ = get(p, "port").(int)
			return port, str(p, "protocol"), true
		}
	}
	return 0, "", false
}

func TestManifestsMatchConfig(t *testing.T) {
	cfg, err := cluster.LoadConfig("config.json")
	if err != nil {
		t.Fatal(err)
	}
	objs, secretFiles := objects(t)
	if ns := objs["Namespace/game"]; ns == nil {
		t.Error("no Namespace game")
	}

	// Each process: a headless Service and a StatefulSet of one replica
	// named after it, running it, with its ports and probes.
	type process struct {
		name  string
		args  []string
		ports map[string]int // port name -> the config's port
	}
	procs := []process{{"master", []string{"-master"}, map[string]int{"root": cfg.Master.RootPort, "web": cfg.Master.WebPort}}}
	for _, name := range cfg.ServerNames() {
		sc := cfg.Servers[name]
		ports := map[string]int{}
		for pn, p := range map[string]int{"root": sc.RootPort, "net": sc.NetPort, "web": sc.WebPort} {
			if p != 0 {
				ports[pn] = p
			}
		}
		if sc.WebPort == 0 {
			t.Errorf("server %s has no webport: nothing to probe", name)
		}
		procs = append(procs, process{name, []string{"-server", name}, ports})
	}
	if len(objs) != 1+2*len(procs) {
		t.Errorf("%d objects, want the Namespace and a Service and a StatefulSet for each of %d processes", len(objs), len(procs))
	}
	for _, pr := range procs {
		svc, sts := objs["Service/"+pr.name], objs["StatefulSet/"+pr.name]
		if svc == nil || sts == nil {
			t.Errorf("%s: Service %v, StatefulSet %v", pr.name, svc != nil, sts != nil)
			continue
		}
		label := str(sts, "spec", "template", "metadata", "labels", "app.kubernetes.io/name")
		switch {
		case str(svc, "spec", "clusterIP") != "None":
			t.Errorf("Service %s is not headless", pr.name)
		case str(svc, "spec", "selector", "app.kubernetes.io/name") != label || label != pr.name:
			t.Errorf("Service %s selects %q, the pods are %q", pr.name, str(svc, "spec", "selector", "app.kubernetes.io/name"), label)
		case str(sts, "spec", "selector", "matchLabels", "app.kubernetes.io/name") != label:
			t.Errorf("StatefulSet %s's selector does not match its pods", pr.name)
		case str(sts, "spec", "serviceName") != pr.name:
			t.Errorf("StatefulSet %s's serviceName %q", pr.name, str(sts, "spec", "serviceName"))
		case get(sts, "spec", "replicas") != 1:
			t.Errorf("StatefulSet %s: replicas %v, want 1 (a name is one process)", pr.name, get(sts, "spec", "replicas"))
		}
		for _, o := range []any{svc, sts} {
			if str(o, "metadata", "namespace") != "game" {
				t.Errorf("%s %s: namespace %q", str(o, "kind"), pr.name, str(o, "metadata", "namespace"))
			}
		}
		pod := get(sts, "spec", "template", "spec")
		ctrs := seq(pod, "containers")
		if len(ctrs) != 1 {
			t.Errorf("%s: %d containers", pr.name, len(ctrs))
			continue
		}
		c := ctrs[0]
		var args []string
		for _, a := range seq(c, "args") {
			args = append(args, fmt.Sprint(a))
		}
		// The config file: the ConfigMap, mounted where -config says.
		var mounts = map[string]string{}
		for _, m := range seq(c, "volumeMounts") {
			mounts[str(m, "name")] = str(m, "mountPath")
		}
		vols := map[string]any{}
		for _, v := range seq(pod, "volumes") {
			vols[str(v, "name")] = v
		}
		wantArgs := append([]string{"-config", filepath.Join(mounts["config"], "config.json")}, pr.args...)
		if !slices.Equal(args, wantArgs) || str(vols["config"], "configMap", "name") != "firefly-config" {
			t.Errorf("%s: args %q (config mounted at %q from %q), want %q", pr.name, args, mounts["config"], str(vols["config"], "configMap", "name"), wantArgs)
		}
		// The security section's files: the Secret, mounted where it says.
		sec, err := cfg.Security()
		if err != nil || sec == nil {
			t.Fatalf("security section: %v", err)
		}
		if str(vols["secret"], "secret", "secretName") != "firefly-secret" {
			t.Errorf("%s: no firefly-secret volume", pr.name)
		}
		for _, f := range []string{sec.SecretFile, sec.AdminTokenFile} {
			if filepath.Dir(f) != mounts["secret"] || !slices.Contains(secretFiles, filepath.Base(f)) {
				t.Errorf("%s: %s is not in firefly-secret (mounted at %q, made from %v)", pr.name, f, mounts["secret"], secretFiles)
			}
		}
		// Ports: the container's and the Service's, by name, are the config's.
		cports := map[string]int{}
		for _, p := range seq(c, "ports") {
			cports[str(p, "name")], _ = get(p, "containerPort").(int)
		}
		if fmt.Sprint(cports) != fmt.Sprint(pr.ports) {
			t.Errorf("%s: container ports %v, config %v", pr.name, cports, pr.ports)
		}
		for pn, want := range pr.ports {
			port, proto, ok := servicePort(svc, pn)
			if !ok || port != want || proto != "TCP" {
				t.Errorf("Service %s: port %s = %d %s, want %d TCP", pr.name, pn, port, proto, want)
			}
		}
		if n := len(seq(svc, "spec", "ports")); n != len(pr.ports) {
			t.Errorf("Service %s has %d ports, the config %d", pr.name, n, len(pr.ports))
		}
		// Probes on the web port.
		for probe, path := range map[string]string{"readinessProbe": "/readyz", "livenessProbe": "/healthz"} {
			if str(c, probe, "httpGet", "path") != path || str(c, probe, "httpGet", "port") != "web" {
				t.Errorf("%s: %s is %v, want GET %s on web", pr.name, probe, get(c, probe), path)
			}
		}
	}

	// Every DNS name of the config names a Service of the manifests, and
	// an SRV name a TCP port of it that is the root's rootport.
	_, _, msvc, mns := dnsName(t, cfg.Master.RootHost)
	if msvc != "master" || mns != "game" {
		t.Errorf("master roothost %s is not the master's Service", cfg.Master.RootHost)
	}
	if get(objs["Service/master"], "spec", "publishNotReadyAddresses") != true {
		t.Error("the master's Service publishes only ready pods: servers could not find a master that is starting")
	}
	if cfg.Master.WebHost != "0.0.0.0" {
		t.Errorf("master webhost %q: the kubelet's probes come from outside the pod", cfg.Master.WebHost)
	}
	dnsRoots := 0
	for _, name := range cfg.ServerNames() {
		for _, rp := range cfg.Servers[name].RemotePort {
			if rp.DNS == "" {
				t.Errorf("server %s finds %s through the master: every root here is found through DNS", name, rp.RootName)
				continue
			}
			dnsRoots++
			portName, proto, svcName, ns := dnsName(t, rp.DNS)
			svc := objs["Service/"+svcName]
			if svcName != rp.RootName || ns != "game" || svc == nil {
				t.Errorf("server %s: %s is not root %s's Service in game", name, rp.DNS, rp.RootName)
				continue
			}
			port, sproto, ok := servicePort(svc, portName)
			if !ok || proto != "tcp" || sproto != "TCP" || port != cfg.Servers[rp.RootName].RootPort {
				t.Errorf("server %s: %s: Service %s port %q = %d %s, want rootport %d TCP", name, rp.DNS, svcName, portName, port, sproto, cfg.Servers[rp.RootName].RootPort)
			}
		}
	}
	if dnsRoots != 3 {
		t.Errorf("%d roots found through DNS, want 3 (net, game1, game2 -> gate)", dnsRoots)
	}
}

func TestYAMLSubset(t *testing.T) {
	docs, err := parseYAML(`# c
a: 1
b:
  - x
  - k: "v"
    n: true
  -
    deep: []
c:
- y
---
d: {}
`)
	if err != nil {
		t.Fatal(err)
	}
	want := `[map[a:1 b:[x map[k:v n:true] map[deep:[]]] c:[y]] map[d:map[]]]`
	if got := fmt.Sprint(docs); got != want {
		t.Fatalf("parsed %s, want %s", got, want)
	}
	for _, bad := range []string{"a: [1, 2]", "a: 1\na: 2", "a:\n    b: 1\n  c: 2", "- a\nb: 1", "a: &x 1"} {
		if _, err := parseYAML(bad); err == nil {
			t.Errorf("%q parsed", bad)
		}
	}
}
