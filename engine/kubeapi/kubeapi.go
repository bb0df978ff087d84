// Package kubeapi reads and writes the few Kubernetes objects k3d keeps in a
// running cluster (ConfigMaps such as kube-public/local-registry-hosting and
// CoreDNS's NodeHosts), through the cluster's API with its admin kubeconfig.
//
// k3d v5 does this with kubectl inside a server node; talking to the API from
// the host instead needs no shell or kubectl in the node image and works the
// same on every runtime, since k3d already reaches the API there to wait for it.
package kubeapi

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/url"
	"strings"
	"time"

	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
)

// ErrNotFound is returned (wrapped) for an object or namespace the cluster
// does not have.
var ErrNotFound = errors.New("not found")

// errConflict is the API's answer to a write based on a stale resourceVersion.
var errConflict = errors.New("conflict")

// conflictRetries bounds how often UpdateConfigMap starts again because
// another writer (k3s itself, for CoreDNS's ConfigMap) changed the object
// between its read and its write.
const conflictRetries = 8

// Client talks to one cluster's API.
type Client struct {
	hc   *http.Client
	base string
}

// New returns a client for the cluster that kubeconfig's current context
// names.
func New(kubeconfig []byte) (*Client, error) {
	cfg, err := clientcmd.RESTConfigFromKubeConfig(kubeconfig)
	if err != nil {
		return nil, fmt.Errorf("read kubeconfig: %w", err)
	}
	cfg.Timeout = 10 * time.Second
	hc, err := rest.HTTPClientFor(cfg)
	if err != nil {
		return nil, fmt.Errorf("API client: %w", err)
	}
	return &Client{hc: hc, base: strings.TrimRight(cfg.Host, "/")}, nil
}

// ConfigMap is the part of a ConfigMap k3d reads and writes.
type ConfigMap struct {
	Namespace   string
	Name        string
	Labels      map[string]string
	Annotations map[string]string
	Data        map[string]string
	// ResourceVersion is the version read; a write with it fails if the
	// object changed since.
	ResourceVersion string
}

// wireConfigMap is a ConfigMap as the API sends and takes it.
type wireConfigMap struct {
	APIVersion string       `json:"apiVersion"`
	Kind       string       `json:"kind"`
	Metadata   wireMetadata `json:"metadata"`
	// Data is a map even when empty so that a replace clears it.
	Data map[string]string `json:"data"`
}

type wireMetadata struct {
	Name            string            `json:"name"`
	Namespace       string            `json:"namespace,omitempty"`
	ResourceVersion string            `json:"resourceVersion,omitempty"`
	Labels          map[string]string `json:"labels,omitempty"`
	Annotations     map[string]string `json:"annotations,omitempty"`
}

func (cm ConfigMap) wire() wireConfigMap {
	data := cm.Data
	if data == nil {
		data = map[string]string{}
	}
	return wireConfigMap{
		APIVersion: "v1", Kind: "ConfigMap",
		Metadata: wireMetadata{Name: cm.Name, Namespace: cm.Namespace, ResourceVersion: cm.ResourceVersion, Labels: cm.Labels, Annotations: cm.Annotations},
		Data:     data,
	}
}

func (w wireConfigMap) configMap() ConfigMap {
	data := w.Data
	if data == nil {
		data = map[string]string{}
	}
	return ConfigMap{Namespace: w.Metadata.Namespace, Name: w.Metadata.Name, Labels: w.Metadata.Labels,
		Annotations: w.Metadata.Annotations, Data: data, ResourceVersion: w.Metadata.ResourceVersion}
}

func configMapsPath(namespace string) string {
	return "/api/v1/namespaces/" + url.PathEscape(namespace) + "/configmaps"
}

func configMapPath(namespace, name string) string {
	return configMapsPath(namespace) + "/" + url.PathEscape(name)
}

// GetConfigMap reads one ConfigMap; a missing one gives ErrNotFound.
func (c *Client) GetConfigMap(ctx context.Context, namespace, name string) (ConfigMap, error) {
	var w wireConfigMap
	if err := c.do(ctx, http.MethodGet, configMapPath(namespace, name), nil, &w); err != nil {
		return ConfigMap{}, fmt.Errorf("get configmap %s/%s: %w", namespace, name, err)
	}
	return w.configMap(), nil
}

// ApplyConfigMap creates cm, or replaces the labels, annotations and data of
// the ConfigMap of that name, whatever it held.
func (c *Client) ApplyConfigMap(ctx context.Context, cm ConfigMap) error {
	for range conflictRetries {
		cur, err := c.GetConfigMap(ctx, cm.Namespace, cm.Name)
		switch {
		case errors.Is(err, ErrNotFound):
			cm.ResourceVersion = ""
			err = c.do(ctx, http.MethodPost, configMapsPath(cm.Namespace), cm.wire(), nil)
			if err == nil {
				return nil
			}
			if !errors.Is(err, errConflict) { // 409 AlreadyExists: someone created it meanwhile
				return fmt.Errorf("create configmap %s/%s: %w", cm.Namespace, cm.Name, err)
			}
		case err != nil:
			return err
		default:
			cm.ResourceVersion = cur.ResourceVersion
			err = c.do(ctx, http.MethodPut, configMapPath(cm.Namespace, cm.Name), cm.wire(), nil)
			if err == nil {
				return nil
			}
			if !errors.Is(err, errConflict) {
				return fmt.Errorf("replace configmap %s/%s: %w", cm.Namespace, cm.Name, err)
			}
		}
	}
	return fmt.Errorf("apply configmap %s/%s: it kept changing under us (%d tries)", cm.Namespace, cm.Name, conflictRetries)
}

// UpdateConfigMap reads a ConfigMap, lets mutate change its data (reporting
// whether it did), and writes it back, starting again when another writer
// changed it meanwhile. A missing ConfigMap gives ErrNotFound.
func (c *Client) UpdateConfigMap(ctx context.Context, namespace, name string, mutate func(data map[string]string) (changed bool)) error {
	for range conflictRetries {
		cm, err := c.GetConfigMap(ctx, namespace, name)
		if err != nil {
			return err
		}
		data := maps.Clone(cm.Data)
		if !mutate(data) {
			return nil
		}
		cm.Data = data
		err = c.do(ctx, http.MethodPut, configMapPath(namespace, name), cm.wire(), nil)
		if err == nil {
			return nil
		}
		if !errors.Is(err, errConflict) {
			return fmt.Errorf("update configmap %s/%s: %w", namespace, name, err)
		}
	}
	return fmt.Errorf("update configmap %s/%s: it kept changing under us (%d tries)", namespace, name, conflictRetries)
}

// do sends body (JSON) and decodes a 2xx answer into out; other answers
// become errors carrying the API's own message.
func (c *Client) do(ctx context.Context, method, path string, body, out any) error {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, rd)
	if err != nil {
		return err
	}
	req.Header.Set("Accept", "application/json")
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 8<<20))
	if err != nil {
		return fmt.Errorf("read answer: %w", err)
	}
	if resp.StatusCode/100 == 2 {
		if out == nil {
			return nil
		}
		if err := json.Unmarshal(b, out); err != nil {
			return fmt.Errorf("decode answer: %w", err)
		}
		return nil
	}
	msg := apiMessage(b, resp.Status)
	switch resp.StatusCode {
	case http.StatusNotFound:
		return fmt.Errorf("%w: %s", ErrNotFound, msg)
	case http.StatusConflict:
		return fmt.Errorf("%w: %s", errConflict, msg)
	}
	return fmt.Errorf("%s %s: %s", method, path, msg)
}

// apiMessage is the message of a Kubernetes Status answer, or the HTTP
// status when the answer is something else.
func apiMessage(b []byte, status string) string {
	var st struct {
		Message string `json:"message"`
	}
	if json.Unmarshal(b, &st) == nil && st.Message != "" {
		return st.Message
	}
	return status
}
