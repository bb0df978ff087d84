package k3s

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"
	"time"

	"sigs.k8s.io/yaml"
)

// runKubectl is the bundled kubectl's `get` and `version`, enough to look
// at a cluster from inside a node: kubectl get nodes|pods|namespaces|configmaps.
func runKubectl(ctx context.Context, env Env, args []string) int {
	fail := func(format string, a ...any) int {
		fmt.Fprintf(env.Stderr, format+"\n", a...)
		return 1
	}
	kubeconfig, output, namespace := "", "", "default"
	allNamespaces := false
	var pos []string
	for i := 0; i < len(args); i++ {
		a := args[i]
		if !strings.HasPrefix(a, "-") {
			pos = append(pos, a)
			continue
		}
		name, val, hasVal := strings.Cut(strings.TrimLeft(a, "-"), "=")
		takes := map[string]*string{"kubeconfig": &kubeconfig, "o": &output, "output": &output, "n": &namespace, "namespace": &namespace}
		if dst, ok := takes[name]; ok {
			if !hasVal {
				if i+1 >= len(args) {
					return fail("error: flag needs an argument: %s", a)
				}
				i++
				val = args[i]
			}
			*dst = val
			continue
		}
		switch name {
		case "A", "all-namespaces":
			allNamespaces = true
		case "no-headers", "show-labels", "w", "watch":
			if name == "w" || name == "watch" {
				return fail("error: the k3s test double's kubectl cannot watch")
			}
		default:
			return fail("error: unknown flag: %s", a)
		}
	}
	if len(pos) == 0 {
		return fail("kubectl (k3s test double): supported commands are get, delete node, version")
	}
	cl, err := newKubeClient(env, kubeconfig)
	if err != nil {
		return fail("error: %v", err)
	}
	switch pos[0] {
	case "version":
		var v map[string]string
		if _, err := cl.get(ctx, "/version", "", &v); err != nil {
			return fail("%v", err)
		}
		fmt.Fprintf(env.Stdout, "Client Version: %s\nServer Version: %s\n", Version, v["gitVersion"])
		return 0
	case "get":
		if len(pos) < 2 {
			return fail("error: you must specify the type of resource to get")
		}
		return kubectlGet(ctx, env, cl, pos[1], pos[2:], output, namespace, allNamespaces, fail)
	case "delete":
		if len(pos) < 3 || resourcePath(pos[1], "", false) != "/api/v1/nodes" {
			return fail("error: the k3s test double's kubectl can only delete nodes")
		}
		for _, name := range pos[2:] {
			if _, err := cl.do(ctx, http.MethodDelete, "/api/v1/nodes/"+name, "", nil); err != nil {
				return fail("%v", err)
			}
			fmt.Fprintf(env.Stdout, "node %q deleted\n", name)
		}
		return 0
	default:
		return fail("error: unknown command %q for kubectl (k3s test double)", pos[0])
	}
}

func resourcePath(resource, namespace string, all bool) string {
	switch resource {
	case "nodes", "node", "no":
		return "/api/v1/nodes"
	case "namespaces", "namespace", "ns":
		return "/api/v1/namespaces"
	case "pods", "pod", "po":
		return namespacedPath("pods", namespace, all)
	case "configmaps", "configmap", "cm":
		return namespacedPath("configmaps", namespace, all)
	}
	return ""
}

func namespacedPath(plural, namespace string, all bool) string {
	if all {
		return "/api/v1/" + plural
	}
	return "/api/v1/namespaces/" + namespace + "/" + plural
}

func kubectlGet(ctx context.Context, env Env, cl *kubeClient, resource string, names []string, output, namespace string, all bool, fail func(string, ...any) int) int {
	p := resourcePath(resource, namespace, all)
	if p == "" {
		return fail("error: the server doesn't have a resource type %q", resource)
	}
	plural := strings.TrimPrefix(p[strings.LastIndex(p, "/"):], "/")
	namespaced := plural == "pods" || plural == "configmaps"
	switch output {
	case "json", "yaml", "name":
		var objs []json.RawMessage
		if len(names) == 0 {
			var list struct {
				Items []json.RawMessage `json:"items"`
			}
			if _, err := cl.get(ctx, p, "", &list); err != nil {
				return fail("%v", err)
			}
			objs = list.Items
		}
		for _, n := range names {
			var obj json.RawMessage
			if _, err := cl.get(ctx, p+"/"+n, "", &obj); err != nil {
				return fail("%v", err)
			}
			objs = append(objs, obj)
		}
		if output == "name" {
			for _, o := range objs {
				var m struct {
					Metadata struct{ Name string } `json:"metadata"`
				}
				_ = json.Unmarshal(o, &m)
				fmt.Fprintf(env.Stdout, "%s/%s\n", strings.TrimSuffix(plural, "s"), m.Metadata.Name)
			}
			return 0
		}
		var v any = map[string]any{"apiVersion": "v1", "kind": "List", "items": objs, "metadata": map[string]string{"resourceVersion": ""}}
		if len(names) == 1 {
			v = objs[0]
		}
		b, _ := json.MarshalIndent(v, "", "    ")
		if output == "yaml" {
			if y, err := yaml.JSONToYAML(b); err == nil {
				b = y
			}
		}
		fmt.Fprintln(env.Stdout, strings.TrimRight(string(b), "\n"))
		return 0
	case "", "wide":
	default:
		return fail("error: unable to match a printer suitable for the output format %q", output)
	}
	accept := "application/json;as=Table;v=v1;g=meta.k8s.io"
	var tbl table
	var rows []tableRow
	if len(names) == 0 {
		if _, err := cl.get(ctx, p, accept, &tbl); err != nil {
			return fail("%v", err)
		}
		rows = tbl.Rows
	}
	for _, n := range names {
		if _, err := cl.get(ctx, p+"/"+n, accept, &tbl); err != nil {
			return fail("%v", err)
		}
		rows = append(rows, tbl.Rows...)
	}
	if len(rows) == 0 {
		if namespaced && !all {
			fmt.Fprintf(env.Stderr, "No resources found in %s namespace.\n", namespace)
		} else {
			fmt.Fprintln(env.Stderr, "No resources found")
		}
		return 0
	}
	tw := tabwriter.NewWriter(env.Stdout, 6, 4, 3, ' ', 0)
	var header []string
	if all && namespaced {
		header = append(header, "NAMESPACE")
	}
	for _, c := range tbl.ColumnDefinitions {
		if c.Priority == 0 || output == "wide" {
			header = append(header, strings.ToUpper(c.Name))
		}
	}
	fmt.Fprintln(tw, strings.Join(header, "\t"))
	for _, r := range rows {
		var cells []string
		if all && namespaced {
			cells = append(cells, r.Object.Metadata.Namespace)
		}
		for i, c := range tbl.ColumnDefinitions {
			if i < len(r.Cells) && (c.Priority == 0 || output == "wide") {
				cells = append(cells, fmt.Sprint(r.Cells[i]))
			}
		}
		fmt.Fprintln(tw, strings.Join(cells, "\t"))
	}
	tw.Flush()
	return 0
}

// kubeClient is an HTTP client for the API server named in a kubeconfig.
type kubeClient struct {
	server string
	http   *http.Client
}

type kubeconfigFile struct {
	CurrentContext string `json:"current-context"`
	Clusters       []struct {
		Name    string `json:"name"`
		Cluster struct {
			Server string `json:"server"`
			CAData []byte `json:"certificate-authority-data"`
		} `json:"cluster"`
	} `json:"clusters"`
	Contexts []struct {
		Name    string `json:"name"`
		Context struct {
			Cluster string `json:"cluster"`
			User    string `json:"user"`
		} `json:"context"`
	} `json:"contexts"`
	Users []struct {
		Name string `json:"name"`
		User struct {
			CertData []byte `json:"client-certificate-data"`
			KeyData  []byte `json:"client-key-data"`
			Token    string `json:"token"`
		} `json:"user"`
	} `json:"users"`
}

func newKubeClient(env Env, path string) (*kubeClient, error) {
	if path == "" {
		path, _, _ = strings.Cut(env.Getenv("KUBECONFIG"), string(filepath.ListSeparator))
	}
	if path == "" {
		path = defaultKubeconfig
		if _, err := os.Stat(path); err != nil {
			if admin := adminKubeconfig(dataDirFromEnv(env)); fileExists(admin) {
				path = admin
			}
		}
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read kubeconfig: %w", err)
	}
	var kc kubeconfigFile
	if err := yaml.Unmarshal(b, &kc); err != nil {
		return nil, fmt.Errorf("read kubeconfig %s: %w", path, err)
	}
	clusterName, userName := "", ""
	for _, c := range kc.Contexts {
		if c.Name == kc.CurrentContext {
			clusterName, userName = c.Context.Cluster, c.Context.User
		}
	}
	cl := &kubeClient{}
	tlsCfg := &tls.Config{MinVersion: tls.VersionTLS12}
	for _, c := range kc.Clusters {
		if c.Name == clusterName {
			cl.server = strings.TrimRight(c.Cluster.Server, "/")
			pool := x509.NewCertPool()
			if !pool.AppendCertsFromPEM(c.Cluster.CAData) {
				return nil, fmt.Errorf("kubeconfig %s: cluster %s has no CA", path, clusterName)
			}
			tlsCfg.RootCAs = pool
		}
	}
	if cl.server == "" {
		return nil, fmt.Errorf("kubeconfig %s: no cluster for context %q", path, kc.CurrentContext)
	}
	for _, u := range kc.Users {
		if u.Name == userName && len(u.User.CertData) > 0 {
			pair, err := tls.X509KeyPair(u.User.CertData, u.User.KeyData)
			if err != nil {
				return nil, fmt.Errorf("kubeconfig %s: user %s: %w", path, userName, err)
			}
			tlsCfg.Certificates = []tls.Certificate{pair}
		}
	}
	cl.http = &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{TLSClientConfig: tlsCfg}}
	return cl, nil
}

func (c *kubeClient) do(ctx context.Context, method, path, accept string, out any) (int, error) {
	req, err := http.NewRequestWithContext(ctx, method, c.server+path, nil)
	if err != nil {
		return 0, err
	}
	if accept == "" {
		accept = "application/json"
	}
	req.Header.Set("Accept", accept)
	resp, err := c.http.Do(req)
	if err != nil {
		return 0, fmt.Errorf("Unable to connect to the server: %w", err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return resp.StatusCode, err
	}
	if resp.StatusCode/100 != 2 {
		var st struct {
			Message string `json:"message"`
			Reason  string `json:"reason"`
		}
		if json.Unmarshal(body, &st) == nil && st.Message != "" {
			if resp.StatusCode == http.StatusUnauthorized {
				return resp.StatusCode, errors.New("error: You must be logged in to the server (Unauthorized)")
			}
			return resp.StatusCode, fmt.Errorf("Error from server (%s): %s", st.Reason, st.Message)
		}
		return resp.StatusCode, fmt.Errorf("error: %s", resp.Status)
	}
	if out != nil {
		return resp.StatusCode, json.NewDecoder(bytes.NewReader(body)).Decode(out)
	}
	return resp.StatusCode, nil
}

func (c *kubeClient) get(ctx context.Context, path, accept string, out any) (int, error) {
	return c.do(ctx, http.MethodGet, path, accept, out)
}

func fileExists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}
