package k3s

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// The ConfigMap API, JSON only: k3d writes kube-public/local-registry-hosting
// through it and tests read it back, so answers, errors included, follow the
// real apiserver's.

type configMapObject struct {
	Kind       string            `json:"kind"`
	APIVersion string            `json:"apiVersion"`
	Metadata   objectMeta        `json:"metadata"`
	Data       map[string]string `json:"data,omitempty"`
	BinaryData map[string][]byte `json:"binaryData,omitempty"`
}

type configMapList struct {
	Kind       string            `json:"kind"`
	APIVersion string            `json:"apiVersion"`
	Metadata   listMeta          `json:"metadata"`
	Items      []configMapObject `json:"items"`
}

func toConfigMap(rec ConfigMapRecord) configMapObject {
	return configMapObject{Kind: "ConfigMap", APIVersion: "v1",
		Metadata: objectMeta{Name: rec.Name, Namespace: rec.Namespace, UID: rec.UID,
			ResourceVersion: strconv.FormatInt(rec.ResourceVersion, 10), CreationTimestamp: kubeTime(rec.CreatedAt),
			Labels: rec.Labels, Annotations: rec.Annotations},
		Data: rec.Data, BinaryData: rec.BinaryData}
}

// apiError is a failure to answer with as a Status.
type apiError struct {
	code    int
	reason  string
	msg     string
	details map[string]string
}

func (e *apiError) Error() string { return e.msg }

func writeAPIError(w http.ResponseWriter, err error) {
	var ae *apiError
	if errors.As(err, &ae) {
		writeStatus(w, ae.code, ae.reason, ae.msg, ae.details)
		return
	}
	writeStatus(w, http.StatusInternalServerError, "InternalError", "Internal error occurred: "+err.Error(), nil)
}

func configMapDetails(name string) map[string]string {
	return map[string]string{"name": name, "kind": "configmaps"}
}

func configMapNotFound(name string) error {
	return &apiError{http.StatusNotFound, "NotFound", fmt.Sprintf("configmaps %q not found", name), configMapDetails(name)}
}

func configMapConflict(name, why string) error {
	return &apiError{http.StatusConflict, "Conflict",
		fmt.Sprintf("Operation cannot be fulfilled on configmaps %q: %s", name, why), configMapDetails(name)}
}

func badRequest(msg string) error {
	return &apiError{code: http.StatusBadRequest, reason: "BadRequest", msg: msg}
}

// storeError turns the store's errors into the API's.
func storeError(err error, name string) error {
	switch {
	case errors.Is(err, errConfigMapNotFound):
		return configMapNotFound(name)
	case errors.Is(err, errConfigMapExists):
		return &apiError{http.StatusConflict, "AlreadyExists", fmt.Sprintf("configmaps %q already exists", name), configMapDetails(name)}
	}
	return err
}

// servedNamespaces are the namespaces the double's cluster has: those of a
// fresh k3s cluster.
func servedNamespaces() []string {
	return []string{"default", "kube-node-lease", "kube-public", "kube-system"}
}

func namespaceExists(ns string) error {
	for _, n := range servedNamespaces() {
		if n == ns {
			return nil
		}
	}
	return &apiError{http.StatusNotFound, "NotFound", fmt.Sprintf("namespaces %q not found", ns), map[string]string{"name": ns, "kind": "namespaces"}}
}

// maxRequestBody is the apiserver's limit on a request body.
const maxRequestBody = 3 << 20

// decodeBody decodes a request body, which must be JSON: the double speaks
// no protobuf, and says so as the apiserver does for a format it lacks
// (client-go's clientset sends protobuf unless told to send JSON).
func decodeBody(r *http.Request, what string, out any) error {
	if ct := r.Header.Get("Content-Type"); ct != "" {
		if mt, _, err := mime.ParseMediaType(ct); err != nil || mt != "application/json" {
			return &apiError{code: http.StatusUnsupportedMediaType, reason: "UnsupportedMediaType",
				msg: "the body of the request was in an unknown format - accepted media types include: application/json"}
		}
	}
	err := json.NewDecoder(io.LimitReader(r.Body, maxRequestBody)).Decode(out)
	if err != nil && !(errors.Is(err, io.EOF) && what == "DeleteOptions") {
		return badRequest(fmt.Sprintf("error decoding %s: %v", what, err))
	}
	return nil
}

// readConfigMap decodes a request's ConfigMap.
func readConfigMap(r *http.Request) (configMapObject, error) {
	var in configMapObject
	if err := decodeBody(r, "ConfigMap", &in); err != nil {
		return configMapObject{}, err
	}
	if in.Kind != "" && in.Kind != "ConfigMap" {
		return configMapObject{}, badRequest(fmt.Sprintf("the kind of the object (%s) is not ConfigMap", in.Kind))
	}
	return in, nil
}

// fromRequest is the record a request's ConfigMap asks to store in ns.
func fromRequest(ns string, in configMapObject) ConfigMapRecord {
	return ConfigMapRecord{Namespace: ns, Name: in.Metadata.Name, Data: in.Data, BinaryData: in.BinaryData,
		Labels: in.Metadata.Labels, Annotations: in.Metadata.Annotations}
}

func checkNamespace(in configMapObject, ns string) error {
	if in.Metadata.Namespace != "" && in.Metadata.Namespace != ns {
		return badRequest("the namespace of the provided object does not match the namespace sent on the request")
	}
	return nil
}

var (
	dns1123Subdomain = regexp.MustCompile(`^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$`)
	configKey        = regexp.MustCompile(`^[-._a-zA-Z0-9]+$`)
)

// maxConfigMapBytes is the most data a ConfigMap may hold.
const maxConfigMapBytes = 1 << 20

// validateConfigMap is the apiserver's validation of a ConfigMap, as a 422.
func validateConfigMap(rec ConfigMapRecord) error {
	var errs []string
	switch {
	case rec.Name == "":
		errs = append(errs, "metadata.name: Required value: name or generateName is required")
	case len(rec.Name) > 253:
		errs = append(errs, fmt.Sprintf("metadata.name: Invalid value: %q: must be no more than 253 characters", rec.Name))
	case !dns1123Subdomain.MatchString(rec.Name):
		errs = append(errs, fmt.Sprintf(`metadata.name: Invalid value: %q: a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')`, rec.Name))
	}
	size := 0
	for k, v := range rec.Data {
		errs = append(errs, validateConfigKey("data", k)...)
		if _, dup := rec.BinaryData[k]; dup {
			errs = append(errs, fmt.Sprintf("data[%s]: Invalid value: %q: duplicate of key present in binaryData", k, k))
		}
		size += len(v)
	}
	for k, v := range rec.BinaryData {
		errs = append(errs, validateConfigKey("binaryData", k)...)
		size += len(v)
	}
	if size > maxConfigMapBytes {
		errs = append(errs, fmt.Sprintf("[]: Too long: must have at most %d bytes", maxConfigMapBytes))
	}
	if len(errs) == 0 {
		return nil
	}
	msg := errs[0]
	if len(errs) > 1 {
		msg = "[" + strings.Join(errs, ", ") + "]"
	}
	return &apiError{http.StatusUnprocessableEntity, "Invalid", fmt.Sprintf("ConfigMap %q is invalid: %s", rec.Name, msg),
		map[string]string{"name": rec.Name, "kind": "ConfigMap"}}
}

func validateConfigKey(field, k string) []string {
	if len(k) <= 253 && configKey.MatchString(k) && k != "." && k != ".." {
		return nil
	}
	return []string{fmt.Sprintf(`%s[%s]: Invalid value: %q: a valid config key must consist of alphanumeric characters, '-', '_' or '.' (e.g. 'key.name',  or 'KEY_NAME',  or 'key-name', regex used for validation is '[-._a-zA-Z0-9]+')`, field, k, k)}
}

// preconditions are what a write asks of the stored object, as the
// apiserver checks them: a stale resourceVersion or another UID is a 409.
type preconditions struct {
	UID             *string `json:"uid,omitempty"`
	ResourceVersion *string `json:"resourceVersion,omitempty"`
}

func (p preconditions) check(name string, cur ConfigMapRecord) error {
	if p.UID != nil && *p.UID != cur.UID {
		return configMapConflict(name, fmt.Sprintf("Precondition failed: UID in precondition: %s, UID in object meta: %s", *p.UID, cur.UID))
	}
	if rv := strconv.FormatInt(cur.ResourceVersion, 10); p.ResourceVersion != nil && *p.ResourceVersion != rv {
		return configMapConflict(name, fmt.Sprintf("Precondition failed: ResourceVersion in precondition: %s, ResourceVersion in object meta: %s", *p.ResourceVersion, rv))
	}
	return nil
}

func (s *apiServer) listConfigMaps(w http.ResponseWriter, r *http.Request) {
	if q := r.URL.Query().Get("watch"); q == "true" || q == "1" {
		writeStatus(w, http.StatusMethodNotAllowed, "MethodNotAllowed", "the k3s test double does not support watch", nil)
		return
	}
	match, err := parseSelector(r.URL.Query().Get("labelSelector"))
	if err != nil {
		writeStatus(w, http.StatusBadRequest, "BadRequest", err.Error(), nil)
		return
	}
	recs, rv := s.cms.list(r.PathValue("ns"))
	items := []configMapObject{}
	for _, rec := range recs {
		if match(rec.Labels) {
			items = append(items, toConfigMap(rec))
		}
	}
	listRV := strconv.FormatInt(rv, 10)
	if tv := tableVersion(r); tv != "" {
		writeJSON(w, http.StatusOK, configMapTable(items, s.now(), listRV, tv))
		return
	}
	writeJSON(w, http.StatusOK, configMapList{Kind: "ConfigMapList", APIVersion: "v1", Metadata: listMeta{ResourceVersion: listRV}, Items: items})
}

func (s *apiServer) getConfigMap(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("name")
	rec, ok := s.cms.get(r.PathValue("ns"), name)
	if !ok {
		writeAPIError(w, configMapNotFound(name))
		return
	}
	if tv := tableVersion(r); tv != "" {
		writeJSON(w, http.StatusOK, configMapTable([]configMapObject{toConfigMap(rec)}, s.now(), strconv.FormatInt(rec.ResourceVersion, 10), tv))
		return
	}
	writeJSON(w, http.StatusOK, toConfigMap(rec))
}

func (s *apiServer) createConfigMap(w http.ResponseWriter, r *http.Request) {
	rec, err := s.create(r)
	if err != nil {
		writeAPIError(w, err)
		return
	}
	writeJSON(w, http.StatusCreated, toConfigMap(rec))
}

// create checks in the apiserver's order: the request, the namespace
// (admission), the object (validation), then the store.
func (s *apiServer) create(r *http.Request) (ConfigMapRecord, error) {
	ns := r.PathValue("ns")
	in, err := readConfigMap(r)
	if err != nil {
		return ConfigMapRecord{}, err
	}
	if err := checkNamespace(in, ns); err != nil {
		return ConfigMapRecord{}, err
	}
	if err := namespaceExists(ns); err != nil {
		return ConfigMapRecord{}, err
	}
	rec := fromRequest(ns, in)
	if err := validateConfigMap(rec); err != nil {
		return ConfigMapRecord{}, err
	}
	if in.Metadata.ResourceVersion != "" {
		return ConfigMapRecord{}, errors.New("resourceVersion should not be set on objects to be created")
	}
	created, err := s.cms.create(rec, s.now())
	if err != nil {
		return ConfigMapRecord{}, storeError(err, rec.Name)
	}
	// Tell the other servers before answering: once a write succeeded, a
	// read through any server sees it.
	s.peers.pushConfigMaps(r.Context(), created)
	return created, nil
}

func (s *apiServer) replaceConfigMap(w http.ResponseWriter, r *http.Request) {
	rec, err := s.replace(r)
	if err != nil {
		writeAPIError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, toConfigMap(rec))
}

// replace writes the request's ConfigMap over the stored one. Without a
// resourceVersion it replaces whatever is there; with one, only that version.
func (s *apiServer) replace(r *http.Request) (ConfigMapRecord, error) {
	ns, name := r.PathValue("ns"), r.PathValue("name")
	in, err := readConfigMap(r)
	if err != nil {
		return ConfigMapRecord{}, err
	}
	if in.Metadata.Name != name {
		return ConfigMapRecord{}, badRequest(fmt.Sprintf("the name of the object (%s) does not match the name on the URL (%s)", in.Metadata.Name, name))
	}
	if err := checkNamespace(in, ns); err != nil {
		return ConfigMapRecord{}, err
	}
	rec := fromRequest(ns, in)
	var pre preconditions
	if in.Metadata.UID != "" {
		pre.UID = &in.Metadata.UID
	}
	check := func(cur ConfigMapRecord) error {
		if err := pre.check(name, cur); err != nil {
			return err
		}
		if rv := in.Metadata.ResourceVersion; rv != "" && rv != strconv.FormatInt(cur.ResourceVersion, 10) {
			return configMapConflict(name, "the object has been modified; please apply your changes to the latest version and try again")
		}
		return validateConfigMap(rec)
	}
	rec, err = s.cms.replace(rec, check, s.now())
	if err != nil {
		return ConfigMapRecord{}, storeError(err, name)
	}
	s.peers.pushConfigMaps(r.Context(), rec)
	return rec, nil
}

func (s *apiServer) deleteConfigMap(w http.ResponseWriter, r *http.Request) {
	gone, err := s.remove(r)
	if err != nil {
		writeAPIError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"kind": "Status", "apiVersion": "v1", "metadata": map[string]any{},
		"status": "Success", "details": map[string]string{"name": gone.Name, "kind": "configmaps", "uid": gone.UID}})
}

// remove deletes a ConfigMap, honouring DeleteOptions' preconditions.
func (s *apiServer) remove(r *http.Request) (ConfigMapRecord, error) {
	ns, name := r.PathValue("ns"), r.PathValue("name")
	var opts struct {
		Preconditions preconditions `json:"preconditions"`
	}
	// DeleteOptions are optional: an empty body deletes unconditionally.
	if err := decodeBody(r, "DeleteOptions", &opts); err != nil {
		return ConfigMapRecord{}, err
	}
	gone, err := s.cms.remove(ns, name, func(cur ConfigMapRecord) error { return opts.Preconditions.check(name, cur) }, s.now())
	if err != nil {
		return ConfigMapRecord{}, storeError(err, name)
	}
	s.peers.pushConfigMaps(r.Context(), gone)
	return gone, nil
}

func (s *apiServer) syncConfigMapsGet(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, s.cms.all())
}

func (s *apiServer) syncConfigMapsPost(w http.ResponseWriter, r *http.Request) {
	var recs []ConfigMapRecord
	if err := json.NewDecoder(r.Body).Decode(&recs); err != nil {
		writeStatus(w, http.StatusBadRequest, "BadRequest", "invalid configmap records", nil)
		return
	}
	if _, err := s.cms.merge(recs...); err != nil {
		writeStatus(w, http.StatusInternalServerError, "InternalError", err.Error(), nil)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// configMapTable is kubectl's `get configmaps` view: NAME, DATA, AGE.
func configMapTable(items []configMapObject, now time.Time, rv, apiVersion string) table {
	t := table{Kind: "Table", APIVersion: apiVersion, Metadata: listMeta{ResourceVersion: rv},
		ColumnDefinitions: []tableColumn{
			{Name: "Name", Type: "string", Format: "name", Description: "Name must be unique within a namespace."},
			{Name: "Data", Type: "string", Description: "Data contains the configuration data."},
			{Name: "Age", Type: "string", Description: "CreationTimestamp is a timestamp representing the server time when this object was created."},
		}}
	t.Rows = []tableRow{}
	for _, cm := range items {
		created, _ := time.Parse(time.RFC3339, cm.Metadata.CreationTimestamp)
		t.Rows = append(t.Rows, tableRow{
			Cells:  []any{cm.Metadata.Name, len(cm.Data) + len(cm.BinaryData), age(now.Sub(created))},
			Object: partialObjMeta{Kind: "PartialObjectMetadata", APIVersion: "meta.k8s.io/v1", Metadata: cm.Metadata},
		})
	}
	return t
}
