package verify

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/sigstore/sigstore-go/pkg/root"
	"go.yaml.in/yaml/v3"

	"github.com/customs-dev/customs/internal/yamlline"
	"github.com/customs-dev/customs/posture"
)

// CheckNotAllowed is the check an image fails when no entry of the trust
// policy covers it and the policy denies such images.
const CheckNotAllowed = "image not allowed by the trust policy"

// ErrPolicy marks a trust policy that cannot be used.
var ErrPolicy = errors.New("invalid trust policy")

// Policy is a trust policy: for each image pattern, who must have signed.
// It is shared by `customs verify --policy`, `customs scan --policy` and
// admission.
//
//	version: 1
//	trusted-root: trusted_root.json    # relative to the policy file
//	unmatched: deny                    # images no entry covers: deny (default) | allow
//	images:
//	  - pattern: registry.example/app/**   # * is one path segment, ** any number
//	    authorities:                       # any one of them
//	      - key: cosign.pub
//	      - identity: https://github.com/org/app/.github/workflows/release.yml@refs/heads/main
//	        issuer: https://token.actions.githubusercontent.com
//	        github-workflow: {repository: org/app, trigger: push}
//	    attestations: [slsaprovenance1]    # each must be signed by one of the authorities
//	    annotations: {env: prod}           # the signature must sign them (cosign sign -a env=prod)
//	    multi-arch: each                   # index (default): the index's signature; each: every platform's
//	    max-age: 720h
//	  - pattern: docker.io/library/*
//	    allow-unsigned: true               # named, so that nobody does it by accident
//
// Entries are tried in order; the first whose pattern matches the image's
// repository decides. An entry's "insecure-ignore-tlog: true" and
// "insecure-ignore-sct: true" waive the transparency-log proof and the
// certificate's SCT; both are unsafe.
type Policy struct {
	Version     int           `yaml:"version"`
	TrustedRoot string        `yaml:"trusted-root,omitempty"`
	Unmatched   string        `yaml:"unmatched,omitempty"`
	Images      []ImagePolicy `yaml:"images"`

	// Source is the file the policy came from.
	Source string `yaml:"-"`
	// RequireAnnotations must be signed by the signature of every image,
	// beside its entry's annotations, as a front end asks (customs scan
	// -a). An image allowed unsigned cannot carry them, and fails.
	RequireAnnotations map[string]string `yaml:"-"`
	root               root.TrustedMaterial
}

// ImagePolicy is one entry of a trust policy.
type ImagePolicy struct {
	Pattern       string      `yaml:"pattern"`
	Authorities   []Authority `yaml:"authorities,omitempty"`
	MaxAge        Duration    `yaml:"max-age,omitempty"`
	AllowUnsigned bool        `yaml:"allow-unsigned,omitempty"`
	// Attestations are the predicate types (URIs or cosign's names) that
	// must be attested, by the authority that signed.
	Attestations []string `yaml:"attestations,omitempty"`
	// Annotations must each be signed, with this value, by the signature
	// that verifies (cosign sign -a KEY=VALUE).
	Annotations map[string]string `yaml:"annotations,omitempty"`
	// MultiArch is MultiArchIndex (default) or MultiArchEach.
	MultiArch string `yaml:"multi-arch,omitempty"`
	// InsecureIgnoreTlog accepts signatures without a log entry or signed
	// timestamp. Unsafe.
	InsecureIgnoreTlog bool `yaml:"insecure-ignore-tlog,omitempty"`
	// InsecureIgnoreSCT accepts keyless certificates without a signed
	// certificate timestamp from a CT log of the trusted root. Unsafe.
	InsecureIgnoreSCT bool `yaml:"insecure-ignore-sct,omitempty"`
	// Posture are the posture rules (see customs scan --help) that the
	// images must not break, beyond being signed.
	Posture []string `yaml:"posture,omitempty"`
	// Line is where the entry starts in the policy file.
	Line int `yaml:"-"`
}

// Authority is a signer the policy trusts: a key, or a keyless identity.
type Authority struct {
	Key            string `yaml:"key,omitempty"`
	Identity       string `yaml:"identity,omitempty"`
	IdentityRegexp string `yaml:"identity-regexp,omitempty"`
	Issuer         string `yaml:"issuer,omitempty"`
	IssuerRegexp   string `yaml:"issuer-regexp,omitempty"`
	// GitHubWorkflow are GitHub Actions claims the certificate must carry.
	GitHubWorkflow GitHubWorkflow `yaml:"github-workflow,omitempty"`

	key any // the parsed key
}

// Duration is a time.Duration written as "720h".
type Duration struct{ time.Duration }

// UnmarshalYAML parses a Go duration.
func (d *Duration) UnmarshalYAML(n *yaml.Node) error {
	v, err := time.ParseDuration(n.Value)
	if err != nil || v < 0 {
		return fmt.Errorf("line %d: %q is not a duration such as 720h", n.Line, n.Value)
	}
	d.Duration = v
	return nil
}

const maxPolicySize = 1 << 20

// LoadPolicy reads a trust policy and the keys and trusted root it names
// (paths relative to the policy file).
func LoadPolicy(file string) (*Policy, error) {
	b, err := os.ReadFile(file)
	if err != nil {
		return nil, fmt.Errorf("reading the trust policy: %w", err)
	}
	p, err := ParsePolicy(file, b)
	if err != nil {
		return nil, err
	}
	if err := p.LoadMaterial(filepath.Dir(file)); err != nil {
		return nil, err
	}
	return p, nil
}

// LoadMaterial reads the keys and the trusted root the policy names, with
// relative paths taken from dir.
func (p *Policy) LoadMaterial(dir string) error {
	rel := func(f string) string {
		if filepath.IsAbs(f) {
			return f
		}
		return filepath.Join(dir, f)
	}
	if p.TrustedRoot != "" {
		tr, err := LoadTrustedRoot(rel(p.TrustedRoot))
		if err != nil {
			return fmt.Errorf("%s: %w: %v", p.Source, ErrPolicy, err)
		}
		p.root = tr
	}
	for i := range p.Images {
		for j := range p.Images[i].Authorities {
			a := &p.Images[i].Authorities[j]
			if a.Key == "" {
				continue
			}
			var err error
			if a.key, err = LoadKey(rel(a.Key)); err != nil {
				return fmt.Errorf("%s:%d: %w: %v", p.Source, p.Images[i].Line, ErrPolicy, err)
			}
		}
	}
	return nil
}

// ParsePolicy parses and checks a trust policy; keys and the trusted root
// are not read (LoadPolicy does that).
func ParsePolicy(source string, b []byte) (*Policy, error) {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%s: %w: %s", source, ErrPolicy, fmt.Sprintf(format, args...))
	}
	if len(b) > maxPolicySize {
		return nil, bad("larger than %d bytes", maxPolicySize)
	}
	var p Policy
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	if err := dec.Decode(&p); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, bad("the file is empty")
		}
		return nil, bad("%v", err)
	}
	if err := p.Check(source, b); err != nil {
		return nil, err
	}
	return &p, nil
}

// Check validates a policy that the caller decoded from the YAML document
// b, for example inline in a larger document such as admission's policy,
// fills in defaults and records the line of each image entry.
func (p *Policy) Check(source string, b []byte) error {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%s: %w: %s", source, ErrPolicy, fmt.Sprintf(format, args...))
	}
	p.Source = source
	if p.Version != 1 {
		return bad("version %d: this customs reads version 1 (write \"version: 1\")", p.Version)
	}
	switch p.Unmatched {
	case "":
		p.Unmatched = "deny"
	case "deny", "allow":
	default:
		return bad("unmatched: %q: use deny or allow", p.Unmatched)
	}
	for j, line := range yamlline.Items(b, "images") {
		if j < len(p.Images) {
			p.Images[j].Line = line
		}
	}
	for i, ip := range p.Images {
		at := fmt.Sprintf("%s:%d", source, ip.Line)
		if ip.Pattern == "" {
			return fmt.Errorf("%s: %w: an image entry without a pattern", at, ErrPolicy)
		}
		if _, err := path.Match(strings.ReplaceAll(ip.Pattern, "**", "*"), ""); err != nil {
			return fmt.Errorf("%s: %w: pattern %q: %v", at, ErrPolicy, ip.Pattern, err)
		}
		switch {
		case ip.AllowUnsigned && len(ip.Authorities) > 0:
			return fmt.Errorf("%s: %w: %q has both authorities and allow-unsigned", at, ErrPolicy, ip.Pattern)
		case !ip.AllowUnsigned && len(ip.Authorities) == 0:
			return fmt.Errorf("%s: %w: %q names no authority (say who must sign, or allow-unsigned: true)", at, ErrPolicy, ip.Pattern)
		}
		switch ip.MultiArch {
		case "":
			ip.MultiArch = MultiArchIndex
		case MultiArchIndex, MultiArchEach:
		default:
			return fmt.Errorf("%s: %w: multi-arch: %q: use index or each", at, ErrPolicy, ip.MultiArch)
		}
		if ip.AllowUnsigned && len(ip.Attestations) > 0 {
			return fmt.Errorf("%s: %w: %q requires attestations but allows unsigned images", at, ErrPolicy, ip.Pattern)
		}
		if ip.AllowUnsigned && len(ip.Annotations) > 0 {
			return fmt.Errorf("%s: %w: %q requires signed annotations but allows unsigned images", at, ErrPolicy, ip.Pattern)
		}
		if _, ok := ip.Annotations[""]; ok {
			return fmt.Errorf("%s: %w: annotations: an empty key", at, ErrPolicy)
		}
		for j, t := range ip.Attestations {
			uri, err := PredicateType(t)
			if err != nil {
				return fmt.Errorf("%s: %w: attestations: %v", at, ErrPolicy, err)
			}
			ip.Attestations[j] = uri
		}
		if err := posture.CheckRules(ip.Posture); err != nil {
			return fmt.Errorf("%s: %w: posture: %v", at, ErrPolicy, err)
		}
		for _, a := range ip.Authorities {
			keyless := a.Identity != "" || a.IdentityRegexp != "" || a.Issuer != "" || a.IssuerRegexp != ""
			switch {
			case a.Key != "" && a.GitHubWorkflow != (GitHubWorkflow{}):
				return fmt.Errorf("%s: %w: github-workflow claims are checked in certificates, not with a key", at, ErrPolicy)
			case a.Key != "" && keyless:
				return fmt.Errorf("%s: %w: an authority with both a key and an identity", at, ErrPolicy)
			case a.Key == "" && ((a.Identity == "" && a.IdentityRegexp == "") || (a.Issuer == "" && a.IssuerRegexp == "")):
				return fmt.Errorf("%s: %w: an authority needs a key, or an identity and an issuer", at, ErrPolicy)
			}
		}
		p.Images[i] = ip
	}
	return nil
}

// NeedsTrustedRoot reports whether the policy names no trusted root but
// has an entry that needs one (keyless signers, or a log to check).
func (p *Policy) NeedsTrustedRoot() bool {
	if p.root != nil {
		return false
	}
	for _, ip := range p.Images {
		for _, a := range ip.Authorities {
			if a.Key == "" || !ip.InsecureIgnoreTlog {
				return true
			}
		}
	}
	return false
}

// SetTrustedMaterial gives the policy the trusted root it names none of,
// such as the one TUF provides.
func (p *Policy) SetTrustedMaterial(tm root.TrustedMaterial) { p.root = tm }

// For returns the entry that decides an image repository
// ("registry.example/app"), or nil.
func (p *Policy) For(repo string) *ImagePolicy {
	for i := range p.Images {
		if MatchRepo(p.Images[i].Pattern, repo) {
			return &p.Images[i]
		}
	}
	return nil
}

// NotAllowed is the failed check of a repository no entry covers, under
// unmatched: deny.
func (p *Policy) NotAllowed(repo string) error {
	return &CheckError{Check: CheckNotAllowed, Err: fmt.Errorf("no entry of %s matches %s, and it denies unmatched images", p.Source, repo)}
}

// Waiver is a check an entry turns off: its option, what is then
// accepted, and without what.
type Waiver struct {
	Option, What, Without string
}

// Waivers are the insecure-* options of the entry that take effect: the
// log proof for an entry that requires signatures, the SCT for one with a
// keyless authority.
func (ip *ImagePolicy) Waivers() []Waiver {
	var out []Waiver
	if ip.InsecureIgnoreTlog && len(ip.Authorities) > 0 {
		out = append(out, Waiver{"insecure-ignore-tlog", "signatures", "a transparency-log entry or signed timestamp; the signing time of one without either is unknown"})
	}
	if ip.InsecureIgnoreSCT && slices.ContainsFunc(ip.Authorities, func(a Authority) bool { return a.Key == "" }) {
		out = append(out, Waiver{"insecure-ignore-sct", "certificates", "a signed certificate timestamp from a trusted CT log"})
	}
	return out
}

// MatchRepo matches a repository against a pattern whose "*" stands for
// one path segment (or part of one) and "**" for any number of segments.
func MatchRepo(pattern, repo string) bool {
	ps, rs := strings.Split(pattern, "/"), strings.Split(repo, "/")
	var match func(i, j int) bool
	match = func(i, j int) bool {
		if i == len(ps) {
			return j == len(rs)
		}
		if ps[i] == "**" {
			for k := j; k <= len(rs); k++ {
				if match(i+1, k) {
					return true
				}
			}
			return false
		}
		if j == len(rs) {
			return false
		}
		ok, err := path.Match(ps[i], rs[j])
		return err == nil && ok && match(i+1, j+1)
	}
	return match(0, 0)
}

// PolicyResult is the trust policy's verdict on an image.
type PolicyResult struct {
	// Reference and Digest name the image that was decided on, by digest.
	Reference string `json:"reference"`
	Digest    string `json:"digest"`
	// Entry is the pattern of the policy entry that decided, "" for none.
	Entry string `json:"entry,omitempty"`
	// Unsigned is set when the entry allowed the image without a signature.
	Unsigned bool `json:"unsigned,omitempty"`
	// Signature is the signature that verified, if one was required.
	Signature *ImageResult `json:"signature,omitempty"`
}

// Verify resolves the image once and holds the digest it resolved to
// against the policy. The result names the digest even on failure, so
// that callers can report it.
func (p *Policy) Verify(ctx context.Context, ref name.Reference, ro []remote.Option) (*PolicyResult, error) {
	ip := p.For(ref.Context().Name())
	sigs, err := Fetch(ctx, ref, ro, ip != nil && ip.MultiArch == MultiArchEach)
	if err != nil {
		return nil, err
	}
	res := &PolicyResult{Reference: sigs.At.String(), Digest: sigs.digest.String()}
	if ip == nil {
		if p.Unmatched == "allow" {
			res.Unsigned = true
			return res, p.unsignedAnnotations(fmt.Sprintf("no entry of %s matches %s, which it allows unsigned", p.Source, ref.Context().Name()))
		}
		return res, p.NotAllowed(ref.Context().Name())
	}
	res.Entry = ip.Pattern
	if ip.AllowUnsigned {
		res.Unsigned = true
		return res, p.unsignedAnnotations(fmt.Sprintf("the entry %q of %s allows %s unsigned", ip.Pattern, p.Source, ref.Context().Name()))
	}
	annotations, err := p.annotations(ip)
	if err != nil {
		return res, err
	}
	var first error
	for _, a := range ip.Authorities {
		opts := Options{TrustedRoot: p.root, MaxAge: ip.MaxAge.Duration, InsecureIgnoreTlog: ip.InsecureIgnoreTlog, InsecureIgnoreSCT: ip.InsecureIgnoreSCT}
		if a.key != nil {
			opts.Key = a.key
		} else {
			opts.Identity = &Identity{Subject: a.Identity, SubjectRegexp: a.IdentityRegexp, Issuer: a.Issuer, IssuerRegexp: a.IssuerRegexp, GitHubWorkflow: a.GitHubWorkflow}
		}
		if opts.TrustedRoot == nil && (opts.Key == nil || !opts.InsecureIgnoreTlog) {
			return res, fmt.Errorf("%s: %w: %q needs trusted-root (the Rekor, Fulcio and timestamp keys)", p.Source, ErrPolicy, ip.Pattern)
		}
		r, err := sigs.Check(Request{Options: opts, Signature: true, Attestations: ip.Attestations, Annotations: annotations, MultiArch: ip.MultiArch})
		if err == nil {
			res.Signature = r
			return res, nil
		}
		if first == nil {
			first = err
		}
	}
	return res, first
}

// annotations are what the signature of an image ip decides must sign:
// the entry's annotations and RequireAnnotations, which cannot both hold
// when they want different values of one key.
func (p *Policy) annotations(ip *ImagePolicy) (map[string]string, error) {
	if len(p.RequireAnnotations) == 0 {
		return ip.Annotations, nil
	}
	out := maps.Clone(p.RequireAnnotations)
	for k, v := range ip.Annotations {
		if w, ok := out[k]; ok && w != v {
			return nil, &CheckError{Check: CheckAnnotations, Err: fmt.Errorf("the entry %q of %s wants %s=%s, and %s=%s is required too", ip.Pattern, p.Source, k, v, k, w)}
		}
		out[k] = v
	}
	return out, nil
}

// unsignedAnnotations fails an image allowed unsigned when annotations
// are required of every image: there is no signature to sign them.
func (p *Policy) unsignedAnnotations(why string) error {
	if len(p.RequireAnnotations) == 0 {
		return nil
	}
	keys := slices.Sorted(maps.Keys(p.RequireAnnotations))
	return &CheckError{Check: CheckAnnotations, Err: fmt.Errorf("%s, so nothing signs the annotations required (%s)", why, strings.Join(keys, ", "))}
}
