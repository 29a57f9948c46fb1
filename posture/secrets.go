package posture

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"regexp"
	"strings"

	"github.com/google/osv-scalibr/veles"
	"github.com/google/osv-scalibr/veles/secrets/anthropicapikey"
	"github.com/google/osv-scalibr/veles/secrets/awsaccesskey"
	"github.com/google/osv-scalibr/veles/secrets/azurestorageaccountaccesskey"
	"github.com/google/osv-scalibr/veles/secrets/cratesioapitoken"
	"github.com/google/osv-scalibr/veles/secrets/digitaloceanapikey"
	"github.com/google/osv-scalibr/veles/secrets/dockerhubpat"
	"github.com/google/osv-scalibr/veles/secrets/gcpapikey"
	"github.com/google/osv-scalibr/veles/secrets/gcpoauth2client"
	"github.com/google/osv-scalibr/veles/secrets/gcpsak"
	"github.com/google/osv-scalibr/veles/secrets/gcshmackey"
	"github.com/google/osv-scalibr/veles/secrets/github"
	"github.com/google/osv-scalibr/veles/secrets/gitlabpat"
	"github.com/google/osv-scalibr/veles/secrets/huggingfaceapikey"
	"github.com/google/osv-scalibr/veles/secrets/npmjsaccesstoken"
	"github.com/google/osv-scalibr/veles/secrets/openai"
	"github.com/google/osv-scalibr/veles/secrets/privatekey"
	"github.com/google/osv-scalibr/veles/secrets/pypiapitoken"
	"github.com/google/osv-scalibr/veles/secrets/rubygemsapikey"
	"github.com/google/osv-scalibr/veles/secrets/sendgrid"
	"github.com/google/osv-scalibr/veles/secrets/slacktoken"
	"github.com/google/osv-scalibr/veles/secrets/stripeapikeys"
	"github.com/google/osv-scalibr/veles/secrets/telegrambotapitoken"
	"github.com/google/osv-scalibr/veles/secrets/tinkkeyset"
)

// secretRule is one of Veles' detectors (github.com/google/osv-scalibr/veles,
// the secret scanner of osv-scalibr and osv-scanner), and the literal
// strings one of which every secret it finds contains. A file is handed to
// a detector only when it contains one of them, as Trivy's and gitleaks'
// keyword filters do: the detectors' regular expressions are too slow to run
// on every file of an image.
type secretRule struct {
	name     string
	keywords []string
	detector veles.Detector
	// prefilter, when set, replaces the keywords: a cheaper check that
	// the file can hold the secret.
	prefilter func([]byte) bool
}

// secretRules are the detectors customs runs. Where a token's own prefix
// is common text ("cio" for crates.io, "GOOG" in every Google license),
// the keyword is the context it is written in, or a rarer part of it. Left out: Veles' generic
// detectors (JWTs, HTTP cookies and bearer tokens, CSRF tokens,
// credentials in URLs), which documentation and test data in every base
// image trip, and HashiCorp Vault's, whose "s." token form matches ordinary
// identifiers.
var secretRules = []secretRule{
	{"private-key", []string{"PRIVATE KEY-----"}, privatekey.NewDetector(), nil},
	{"aws-access-key", nil, awsaccesskey.NewDetector(), awsKeyID},
	{"gcp-service-account-key", []string{"auth_provider_x509_cert_url", "ewogICJ0eXBlIjogInNlcnZpY2VfYWNjb3VudCIs"}, gcpsak.NewDetector(), nil},
	{"gcp-api-key", []string{"AIzaSy"}, gcpapikey.NewDetector(), nil},
	{"gcp-oauth2-client", []string{".apps.googleusercontent.com"}, gcpoauth2client.NewDetector(), nil},
	{"gcs-hmac-key", []string{"GOOG1"}, gcshmackey.NewDetector(), nil},
	{"azure-storage-key", nil, azurestorageaccountaccesskey.NewDetector(), azureKey},
	{"github-classic-pat", []string{"ghp_"}, github.NewClassicPATDetector(), nil},
	{"github-fine-grained-pat", []string{"github_pat_"}, github.NewFineGrainedPATDetector(), nil},
	{"github-oauth-token", []string{"gho_"}, github.NewOAuthTokenDetector(), nil},
	{"github-app-token", []string{"ghs_", "Z2hzX"}, github.NewAppS2STokenDetector(), nil},
	{"github-app-user-token", []string{"ghu_", "Z2h1X"}, github.NewAppU2SDetector(), nil},
	{"github-app-refresh-token", []string{"ghr_"}, github.NewAppRefreshTokenDetector(), nil},
	{"gitlab-pat", []string{"glpat-"}, gitlabpat.NewDetector(), nil},
	{"slack-app-token", []string{"xapp-"}, slacktoken.NewAppLevelTokenDetector(), nil},
	{"slack-config-token", []string{"xoxe"}, slacktoken.NewAppConfigAccessTokenDetector(), nil},
	{"slack-config-refresh-token", []string{"xoxe-"}, slacktoken.NewAppConfigRefreshTokenDetector(), nil},
	{"stripe-secret-key", []string{"sk_live_"}, stripeapikeys.NewSecretKeyDetector(), nil},
	{"stripe-restricted-key", []string{"rk_live_"}, stripeapikeys.NewRestrictedKeyDetector(), nil},
	{"stripe-webhook-secret", []string{"whsec_"}, stripeapikeys.NewWebhookSecretDetector(), nil},
	{"npm-token", []string{"npm_"}, npmjsaccesstoken.NewDetector(), nil},
	{"pypi-token", []string{"pypi-"}, pypiapitoken.NewDetector(), nil},
	{"rubygems-key", []string{"rubygems_"}, rubygemsapikey.NewDetector(), nil},
	{"crates-io-token", []string{"crates", "CARGO", "cargo"}, cratesioapitoken.NewDetector(), nil},
	{"docker-hub-pat", []string{"dckr_pat_"}, dockerhubpat.NewDetector(), nil},
	{"openai-key", []string{"T3BlbkFJ"}, openai.NewDetector(), nil},
	{"anthropic-key", []string{"sk-ant-"}, anthropicapikey.NewDetector(), nil},
	{"huggingface-token", []string{"hf_"}, huggingfaceapikey.NewDetector(), nil},
	{"digitalocean-token", []string{"dop_v1_"}, digitaloceanapikey.NewDetector(), nil},
	{"sendgrid-key", []string{"SG."}, sendgrid.NewDetector(), nil},
	{"telegram-bot-token", []string{"elegram", "ELEGRAM", "tgram"}, telegrambotapitoken.NewDetector(), nil},
	{"tink-keyset", []string{"primaryKeyId", "dHlwZS5nb29nbGVhcGlzLmNvbS9nb29nbGUuY3J5cHRvLnRpbm", "R5cGUuZ29vZ2xlYXBpcy5jb20vZ29vZ2xlLmNyeXB0by50aW5r", "0eXBlLmdvb2dsZWFwaXMuY29tL2dvb2dsZS5jcnlwdG8"}, tinkkeyset.NewDetector(), nil},
}

// found is one secret in a file: which rule, on what line, and a
// fingerprint that tells two findings of the same value apart without
// showing it.
type found struct {
	rule        string
	line        int
	fingerprint string
}

// findSecrets runs the detectors whose keywords occur in data.
func findSecrets(data []byte) []found {
	var out []found
	for _, r := range secretRules {
		if r.prefilter != nil && !r.prefilter(data) || r.prefilter == nil && !containsAny(data, r.keywords) {
			continue
		}
		secrets, positions := r.detector.Detect(data)
		for i, s := range secrets {
			line := 0
			if i < len(positions) && positions[i] >= 0 && positions[i] <= len(data) {
				line = bytes.Count(data[:positions[i]], []byte{'\n'}) + 1
			}
			out = append(out, found{rule: r.name, line: line, fingerprint: fingerprint(s)})
		}
	}
	return out
}

// awsKeyID says whether data holds what looks like an AWS access key ID:
// AKIA or ASIA and 16 upper-case letters or digits. The AWS detector pairs
// it with a secret by a regular expression that matches any 40 base64
// characters, too slow to run on every file that says "ASIA".
func awsKeyID(data []byte) bool {
	for _, prefix := range [][]byte{[]byte("AKIA"), []byte("ASIA")} {
		rest := data
		for {
			i := bytes.Index(rest, prefix)
			if i < 0 {
				break
			}
			id := rest[i+4:]
			if len(id) >= 16 && upperAlnum(id[:16]) {
				return true
			}
			rest = rest[i+4:]
		}
	}
	return false
}

// azureKey says whether data holds what looks like an Azure storage key:
// 86 base64 characters and "==", which the detector's own expression looks
// for far more slowly.
func azureKey(data []byte) bool {
	rest := data
	off := 0
	for {
		i := bytes.Index(rest, []byte("=="))
		if i < 0 {
			return false
		}
		if at := off + i; at >= 86 && base64Run(data[at-86:at]) {
			return true
		}
		rest, off = rest[i+2:], off+i+2
	}
}

func base64Run(b []byte) bool {
	for _, c := range b {
		if (c < 'A' || c > 'Z') && (c < 'a' || c > 'z') && (c < '0' || c > '9') && c != '+' && c != '/' {
			return false
		}
	}
	return true
}

func upperAlnum(b []byte) bool {
	for _, c := range b {
		if (c < 'A' || c > 'Z') && (c < '0' || c > '9') {
			return false
		}
	}
	return true
}

func containsAny(data []byte, keywords []string) bool {
	for _, k := range keywords {
		if bytes.Contains(data, []byte(k)) {
			return true
		}
	}
	return false
}

// fingerprint is a short hash of the secret: enough to see that two
// findings are one credential, and to check a rotation, never the value.
func fingerprint(s veles.Secret) string {
	sum := sha256.Sum256(fmt.Appendf(nil, "%#v", s))
	return "sha256:" + hex.EncodeToString(sum[:6])
}

// credentialName matches environment variable names that hold
// credentials by convention.
var credentialName = regexp.MustCompile(`(?i)(^|_)(PASSWORD|PASSWD|PASS|PWD|SECRET|TOKEN|API_?KEY|ACCESS_?KEY|PRIVATE_?KEY|CREDENTIALS?|AUTH)(_|$)`)

// credentialEnv says whether a variable looks like it holds a credential:
// a conventional name with a literal value, not a path to one or a
// reference to another variable.
func credentialEnv(name, value string) bool {
	if !credentialName.MatchString(name) || len(value) < 4 {
		return false
	}
	upper := strings.ToUpper(name)
	for _, suffix := range []string{"_FILE", "_PATH", "_DIR", "_URL_FILE", "_LENGTH", "_LEN", "_TTL", "_TIMEOUT", "_EXPIRY", "_HEADER", "_NAME", "_TYPE", "_ENABLED"} {
		if strings.HasSuffix(upper, suffix) {
			return false
		}
	}
	if strings.HasPrefix(value, "/") || strings.HasPrefix(value, "$") {
		return false
	}
	switch strings.ToLower(value) {
	case "true", "false", "none", "null", "changeme", "change-me", "required", "disabled", "enabled":
		return false
	}
	return true
}
