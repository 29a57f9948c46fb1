package pull

import (
	"fmt"
	"os"
	"strings"
)

// Kind is the transport of a target.
type Kind int

// The kinds of target, as written before the colon in TARGET.
const (
	Registry      Kind = iota // registry.example/repo:tag or @sha256:...
	OCILayout                 // oci:DIR[:tag]
	DockerArchive             // docker-archive:FILE
	OCIArchive                // oci-archive:FILE
	Dir                       // dir:PATH or an existing path
	GoModule                  // gomod:MODULE@VERSION
	SBOMFile                  // sbom:FILE
)

var kindNames = map[Kind]string{
	Registry:      "registry",
	OCILayout:     "oci",
	DockerArchive: "docker-archive",
	OCIArchive:    "oci-archive",
	Dir:           "dir",
	GoModule:      "gomod",
	SBOMFile:      "sbom",
}

func (k Kind) String() string { return kindNames[k] }

// IsImage reports whether the kind names a container image.
func (k Kind) IsImage() bool {
	return k == Registry || k == OCILayout || k == DockerArchive || k == OCIArchive
}

// Target is a parsed TARGET argument.
type Target struct {
	Kind Kind
	// Ref is what follows the transport: an image reference, a path, or
	// MODULE@VERSION.
	Ref string
	// Tag selects an image in an OCI layout (oci:DIR:tag); empty otherwise.
	Tag string
	// Input is the target as the user wrote it.
	Input string
}

func (t Target) String() string { return t.Input }

// ParseTarget parses a TARGET argument. A string without a known transport
// is a directory if such a path exists, else an image reference.
func ParseTarget(s string) (Target, error) {
	if s == "" {
		return Target{}, &UsageError{Msg: "empty target", Hint: "name an image, oci:DIR, docker-archive:FILE, oci-archive:FILE, dir:PATH, gomod:MODULE@VERSION or sbom:FILE"}
	}
	t := Target{Input: s}
	scheme, rest, ok := strings.Cut(s, ":")
	if ok {
		switch scheme {
		case "oci":
			t.Kind, t.Ref = OCILayout, rest
			// oci:DIR:tag, but keep Windows-style or odd paths whole when they exist.
			if i := strings.LastIndex(rest, ":"); i > 0 {
				if _, err := os.Stat(rest); err != nil {
					t.Ref, t.Tag = rest[:i], rest[i+1:]
				}
			}
		case "docker-archive":
			t.Kind, t.Ref = DockerArchive, rest
		case "oci-archive":
			t.Kind, t.Ref = OCIArchive, rest
		case "dir":
			t.Kind, t.Ref = Dir, rest
		case "gomod":
			t.Kind, t.Ref = GoModule, rest
		case "sbom":
			t.Kind, t.Ref = SBOMFile, rest
		case "registry", "docker":
			t.Kind, t.Ref = Registry, strings.TrimPrefix(rest, "//")
		default:
			if looksLikeTransport(scheme, rest) {
				return Target{}, &UsageError{
					Msg:  fmt.Sprintf("unknown transport %q in target %q", scheme, s),
					Hint: "use one of: registry (default), oci, docker-archive, oci-archive, dir, gomod, sbom",
				}
			}
		}
		if ok && t.Ref == "" && t.Kind != Registry {
			return Target{}, &UsageError{Msg: fmt.Sprintf("target %q names no %s", s, t.Kind), Hint: "write " + scheme + ":PATH"}
		}
		if t.Ref != "" {
			return t, nil
		}
	}
	if _, err := os.Stat(s); err == nil {
		return Target{Kind: Dir, Ref: s, Input: s}, nil
	}
	return Target{Kind: Registry, Ref: s, Input: s}, nil
}

// looksLikeTransport tells "foo:rest" (a transport we do not know) from
// "host:port/repo" and "repo:tag", which are image references.
func looksLikeTransport(scheme, rest string) bool {
	if strings.ContainsAny(scheme, "./") {
		return false // registry host or path before a tag
	}
	if strings.Contains(rest, "/") && !strings.HasPrefix(rest, "/") && !strings.HasPrefix(rest, ".") {
		// host:port/repo has a numeric port
		if isDigits(strings.SplitN(rest, "/", 2)[0]) {
			return false
		}
	}
	// repo:tag has a tag without slashes; a tag is at most 128 word chars.
	if !strings.ContainsAny(rest, "/\\") && !strings.Contains(rest, "@") && validTag(rest) {
		return false
	}
	return true
}

func isDigits(s string) bool {
	if s == "" {
		return false
	}
	for _, r := range s {
		if r < '0' || r > '9' {
			return false
		}
	}
	return true
}

func validTag(s string) bool {
	if s == "" || len(s) > 128 {
		return false
	}
	for i, r := range s {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '_':
		case (r == '.' || r == '-') && i > 0:
		default:
			return false
		}
	}
	return true
}
