package verify

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"sort"
	"strings"

	protobundle "github.com/sigstore/protobuf-specs/gen/pb-go/bundle/v1"
	"github.com/sigstore/sigstore-go/pkg/bundle"
)

// statement is the part of an in-toto statement that is checked here.
type statement struct {
	PredicateType string          `json:"predicateType"`
	Predicate     json.RawMessage `json:"predicate"`
}

// inTotoStatement decodes the in-toto statement a DSSE bundle carries; nil
// for a message signature.
func inTotoStatement(b *bundle.Bundle) (*statement, error) {
	env, ok := b.Bundle.GetContent().(*protobundle.Bundle_DsseEnvelope)
	if !ok {
		return nil, nil
	}
	if env.DsseEnvelope.GetPayloadType() != InTotoPayloadType {
		return nil, fmt.Errorf("the DSSE payload is %q, not an in-toto statement", env.DsseEnvelope.GetPayloadType())
	}
	var st statement
	if err := json.Unmarshal(env.DsseEnvelope.GetPayload(), &st); err != nil {
		return nil, fmt.Errorf("the in-toto statement: %v", err)
	}
	if st.PredicateType == "" {
		return nil, errors.New("the in-toto statement has no predicate type")
	}
	return &st, nil
}

// bundlePredicateType is the predicate type of a DSSE bundle's in-toto
// statement, "" for a message signature.
func bundlePredicateType(b *bundle.Bundle) (string, error) {
	st, err := inTotoStatement(b)
	if err != nil || st == nil {
		return "", err
	}
	return st.PredicateType, nil
}

// predicate is the predicate a verified attestation carries.
func predicate(b *bundle.Bundle) (json.RawMessage, error) {
	st, err := inTotoStatement(b)
	if err != nil || st == nil {
		return nil, err
	}
	return st.Predicate, nil
}

// PredicateType turns cosign's predicate names (slsaprovenance,
// slsaprovenance1, spdxjson, cyclonedx, vuln, openvex, link, custom) into
// their URIs; a URI is taken as it is.
func PredicateType(s string) (string, error) {
	if uri, ok := predicateTypes[s]; ok {
		return uri, nil
	}
	if u, err := url.ParseRequestURI(s); err != nil || u.Scheme == "" {
		return "", fmt.Errorf("unknown attestation type %q: use one of %s, or a predicate type URI", s, strings.Join(PredicateNames(), ", "))
	}
	return s, nil
}

// PredicateNames are the short predicate names PredicateType knows.
func PredicateNames() []string {
	names := make([]string, 0, len(predicateTypes))
	for n := range predicateTypes {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// predicateTypes are cosign's names for predicate types (cosign v2
// options.PredicateTypeMap).
var predicateTypes = map[string]string{
	"custom":           "https://cosign.sigstore.dev/attestation/v1",
	"slsaprovenance":   "https://slsa.dev/provenance/v0.2",
	"slsaprovenance02": "https://slsa.dev/provenance/v0.2",
	"slsaprovenance1":  "https://slsa.dev/provenance/v1",
	"spdx":             "https://spdx.dev/Document",
	"spdxjson":         "https://spdx.dev/Document",
	"cyclonedx":        "https://cyclonedx.org/bom",
	"link":             "https://in-toto.io/Link/v1",
	"vuln":             "https://cosign.sigstore.dev/attestation/vuln/v1",
	"openvex":          "https://openvex.dev/ns",
}
