package repocheck

import (
	"bufio"
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// root is the module root, two levels up from this package.
const root = "../.."

// TestGoModTidy fails when `go mod tidy` would change go.mod or go.sum.
func TestGoModTidy(t *testing.T) {
	if testing.Short() {
		t.Skip("skipping: go mod tidy reads every package (-short)")
	}
	cmd := exec.Command("go", "mod", "tidy", "-diff")
	cmd.Dir = root
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("go mod tidy would change go.mod or go.sum (run it and commit the result): %v\n%s", err, out)
	}
}

// sources calls f for each Go file of the module, with its path relative
// to the root, skipping testdata, hidden directories and third_party
// (copies of other projects' modules, kept close to how their authors
// wrote them: the line, flag and timing rules are ours).
func sources(t *testing.T, f func(rel string, b []byte)) {
	t.Helper()
	err := filepath.WalkDir(root, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && p != root && (d.Name() == "testdata" || d.Name() == "third_party" || strings.HasPrefix(d.Name(), ".")) {
			return filepath.SkipDir
		}
		if d.IsDir() || !strings.HasSuffix(p, ".go") {
			return nil
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		f(filepath.ToSlash(rel), b)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

var generated = regexp.MustCompile(`(?m)^// Code generated .* DO NOT EDIT\.$`)

// data are Go files that are tables rather than code; they may be long.
var data = map[string]bool{
	"capabilities/stdlib_table.go": true,
}

// TestFileLength keeps hand-written, non-test Go files under 600 lines,
// and scan/scan.go, the orchestrator, under 350.
func TestFileLength(t *testing.T) {
	sources(t, func(rel string, b []byte) {
		if strings.HasSuffix(rel, "_test.go") || generated.Match(b) || data[rel] {
			return
		}
		n := bytes.Count(b, []byte("\n"))
		limit := 600
		if rel == "scan/scan.go" {
			limit = 350
		}
		if n > limit {
			t.Errorf("%s has %d lines; split it by concern (limit %d)", rel, n, limit)
		}
	})
}

// front ends word their own hints: the CLI names its flags, admission its
// policy keys. Library packages return typed errors and structured
// reasons (pull.LimitError.Flag is the model).
var frontEnds = []string{"cmd/", "internal/", "bench/", "integrations/"}

// flagsAllowed are the library files that may name a flag, and which, each
// for the reason given.
var flagsAllowed = map[string]string{
	// Dockerfile's RUN --mount=type=secret, in the fix of a posture rule.
	"posture/rules.go: --mount": "a Dockerfile flag, not customs'",
	// The SARIF rule help of posture findings tells a CLI user how to
	// require the rule; SARIF is written for the CLI and CI only.
	"report/posture.go: --require-posture": "SARIF help, read by CLI and CI users",
}

var flagLike = regexp.MustCompile(`(?:^|[^-\w])(--[a-z][a-z-]+)`)

// TestNoFlagsInLibraries fails when a library package's code (not its
// comments or tests) holds a string that names a command-line flag.
func TestNoFlagsInLibraries(t *testing.T) {
	sources(t, func(rel string, b []byte) {
		if strings.HasSuffix(rel, "_test.go") || generated.Match(b) {
			return
		}
		for _, fe := range frontEnds {
			if strings.HasPrefix(rel, fe) {
				return
			}
		}
		sc := bufio.NewScanner(bytes.NewReader(b))
		sc.Buffer(nil, 1<<20)
		for n := 1; sc.Scan(); n++ {
			line := sc.Text()
			code, _, _ := strings.Cut(line, "//")
			if strings.HasPrefix(strings.TrimSpace(line), "//") || !strings.Contains(code, `"`) && !strings.Contains(code, "`") {
				continue
			}
			m := flagLike.FindStringSubmatch(code)
			if m == nil {
				continue
			}
			if _, ok := flagsAllowed[rel+": "+m[1]]; ok {
				continue
			}
			t.Errorf("%s:%d names a command-line flag (%s) in library code; return a typed error (internal/hint) and let the front end word the hint", rel, n, m[1])
		}
	})
}

// timing is a figure of time in a comment: "5 ms", "1.5s", "90 seconds".
var timing = regexp.MustCompile(`\b[0-9]+(?:\.[0-9]+)? ?(?:ns|µs|us|ms|s|seconds?|minutes?)\b`)

// timingsAllowed are durations in comments that are settings of other
// software, not measured figures, and the reason for each.
var timingsAllowed = map[string]string{
	"admission/decide.go: 1 s":  "go-containerregistry's retry schedule",
	"admission/server.go: 10 s": "the API server's default webhook timeout",
}

// TestNoTimingsInComments: figures of time go stale in comments;
// bench/README.md holds them, measured and dated. Durations that are
// settings (a default timeout, a cache's lifetime) are written in code,
// not as a measured figure in a comment; tests may say what they wait for.
func TestNoTimingsInComments(t *testing.T) {
	sources(t, func(rel string, b []byte) {
		if strings.HasSuffix(rel, "_test.go") || generated.Match(b) || strings.HasPrefix(rel, "bench/") {
			return
		}
		sc := bufio.NewScanner(bytes.NewReader(b))
		sc.Buffer(nil, 1<<20)
		for n := 1; sc.Scan(); n++ {
			_, comment, ok := strings.Cut(sc.Text(), "//")
			if !ok {
				continue
			}
			if m := timing.FindString(comment); m != "" && timingsAllowed[rel+": "+m] == "" {
				t.Errorf("%s:%d: a timing in a comment (%q): put measured figures in bench/README.md", rel, n, m)
			}
		}
	})
}

// TestNoCloudSDKs keeps out of the customs executable what no command uses
// and costs megabytes and start-up time (issue 27): cloud SDKs that syft's
// dependencies link for features customs does not offer.
func TestNoCloudSDKs(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", "../../cmd/customs").CombinedOutput()
	if err != nil {
		t.Skipf("skipping: go list: %v\n%s", err, out)
	}
	banned := []string{"github.com/aws/aws-sdk-go-v2/service/s3", "cloud.google.com/go/storage", "github.com/envoyproxy/", "google.golang.org/grpc/xds"}
	for _, pkg := range strings.Fields(string(out)) {
		for _, b := range banned {
			if strings.HasPrefix(pkg, b) {
				t.Errorf("cmd/customs links %s; see third_party/go-getter/README.customs.md", pkg)
			}
		}
	}
}
