package posture

import (
	"fmt"
	"sort"
	"strings"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/customs-dev/customs/vuln"
)

// configFindings checks the image's config: its user, ports, environment,
// health check and the history of its build, and the reference it was
// pulled by.
func configFindings(cfg *v1.ConfigFile, ref string) []Finding {
	var out []Finding
	c := cfg.Config
	if runsAsRoot(c.User) {
		detail := "no USER is set, so it runs as root"
		if c.User != "" {
			detail = fmt.Sprintf("USER is %q", c.User)
		}
		out = append(out, Finding{Rule: RootUser, Layer: -1, Path: "config:User", Detail: detail})
	}
	ports := make([]string, 0, len(c.ExposedPorts))
	for p := range c.ExposedPorts {
		ports = append(ports, p)
	}
	sort.Strings(ports)
	for _, p := range ports {
		f := Finding{Rule: ExposedPort, Layer: -1, Path: "config:ExposedPorts[" + p + "]", Detail: "exposes " + p}
		if num, _, _ := strings.Cut(p, "/"); adminPorts[num] {
			f.Severity = vuln.Medium
			f.Detail += ", a remote-administration port"
		}
		out = append(out, f)
	}
	for _, kv := range c.Env {
		k, v, _ := strings.Cut(kv, "=")
		where := "config:Env[" + k + "]"
		if secrets := findSecrets([]byte(v)); len(secrets) > 0 {
			for _, s := range secrets {
				out = append(out, Finding{Rule: Secret, Layer: -1, Path: where, SecretType: s.rule,
					Detail: fmt.Sprintf("%s (fingerprint %s) in the environment", s.rule, s.fingerprint)})
			}
			continue
		}
		if credentialEnv(k, v) {
			out = append(out, Finding{Rule: CredentialEnv, Layer: -1, Path: where,
				Detail: fmt.Sprintf("%s is set to a literal value of %d characters (fingerprint %s)", k, len(v), fingerprint(v))})
		}
	}
	if c.Healthcheck == nil || len(c.Healthcheck.Test) == 0 || c.Healthcheck.Test[0] == "NONE" {
		out = append(out, Finding{Rule: NoHealthcheck, Layer: -1, Path: "config:Healthcheck", Detail: "no HEALTHCHECK is set"})
	}
	// Build steps: a credential passed as a build argument or on a RUN
	// line stays in the history.
	layer := 0
	for i, h := range cfg.History {
		where := fmt.Sprintf("config:History[%d]", i)
		for _, s := range findSecrets([]byte(h.CreatedBy)) {
			out = append(out, Finding{Rule: Secret, Layer: -1, Path: where, SecretType: s.rule,
				Detail: fmt.Sprintf("%s (fingerprint %s) in the build step that made layer %d", s.rule, s.fingerprint, layer)})
		}
		for _, name := range historyCredentials(h.CreatedBy) {
			out = append(out, Finding{Rule: CredentialEnv, Layer: -1, Path: where,
				Detail: fmt.Sprintf("build argument %s holds a literal value, recorded in the history", name)})
		}
		if !h.EmptyLayer {
			layer++
		}
	}
	if ref != "" {
		if t, err := name.NewTag(ref, name.WeakValidation); err == nil && !strings.Contains(ref, "@") && (t.TagStr() == "latest" || !strings.Contains(lastSegment(ref), ":")) {
			out = append(out, Finding{Rule: UnpinnedTag, Layer: -1, Path: "reference",
				Detail: fmt.Sprintf("%s is pulled by the tag %q, not by digest", ref, t.TagStr())})
		}
	}
	return out
}

// runsAsRoot says whether a config's user is root: empty, root or 0, with
// or without a group.
func runsAsRoot(user string) bool {
	u, _, _ := strings.Cut(strings.TrimSpace(user), ":")
	return u == "" || u == "root" || u == "0"
}

// historyCredentials are the names of the build arguments a RUN step
// recorded with literal values that look like credentials ("|2 A=1
// DB_PASSWORD=x /bin/sh -c ...").
func historyCredentials(createdBy string) []string {
	if !strings.HasPrefix(createdBy, "|") {
		return nil
	}
	var out []string
	fields := strings.Fields(createdBy)
	for _, f := range fields[1:] {
		k, v, ok := strings.Cut(f, "=")
		if !ok {
			break
		}
		if credentialEnv(k, v) {
			out = append(out, k)
		}
	}
	return out
}

// withheldHistory replaces a build step that holds a credential, so that no
// report repeats it.
func withheldHistory(createdBy string) string {
	if len(findSecrets([]byte(createdBy))) > 0 || len(historyCredentials(createdBy)) > 0 {
		return "(withheld: the build step holds a credential)"
	}
	return createdBy
}

func lastSegment(ref string) string {
	return ref[strings.LastIndex(ref, "/")+1:]
}
