// Package integrations tests the CI integrations that are not Go: the
// GitHub composite action, the GitLab template and the pre-commit hooks.
package integrations

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"

	"go.yaml.in/yaml/v3"

	"github.com/customs-dev/customs/internal/testimage"
)

type action struct {
	Inputs map[string]struct {
		Default string `yaml:"default"`
	} `yaml:"inputs"`
	Runs struct {
		Using string `yaml:"using"`
		Steps []struct {
			ID    string            `yaml:"id"`
			Shell string            `yaml:"shell"`
			Env   map[string]string `yaml:"env"`
			Run   string            `yaml:"run"`
		} `yaml:"steps"`
	} `yaml:"runs"`
}

var expr = regexp.MustCompile(`\$\{\{\s*([^}]+?)\s*\}\}`)

var (
	buildOnce sync.Once
	built     string
	buildErr  error
)

// buildCustoms builds the customs binary the integrations run, once per
// test binary.
func buildCustoms(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "customs-integrations-")
		if err != nil {
			buildErr = err
			return
		}
		built = filepath.Join(dir, "customs")
		cmd := exec.Command("go", "build", "-o", built, "./cmd/customs")
		cmd.Dir = testimage.Root()
		if out, err := cmd.CombinedOutput(); err != nil {
			buildErr = fmt.Errorf("building customs: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return built
}

func TestMain(m *testing.M) {
	code := m.Run()
	if built != "" {
		os.RemoveAll(filepath.Dir(built))
	}
	os.Exit(code)
}

// runAction runs the composite action's steps with bash as the runner
// would: inputs and step outputs substituted, GITHUB_OUTPUT, GITHUB_PATH
// and GITHUB_STEP_SUMMARY files provided. It returns the action's outputs.
func runAction(t *testing.T, a action, inputs map[string]string, runner string) (map[string]string, int) {
	t.Helper()
	outputs := map[string]map[string]string{}
	var code int
	for _, step := range a.Runs.Steps {
		if step.Shell != "bash" {
			t.Fatalf("step %s: shell %q; the test runs bash steps", step.ID, step.Shell)
		}
		out := filepath.Join(runner, "output-"+step.ID)
		os.WriteFile(out, nil, 0o644)
		env := append(os.Environ(), "RUNNER_TEMP="+runner, "GITHUB_OUTPUT="+out, "GITHUB_PATH="+filepath.Join(runner, "path"),
			"GITHUB_STEP_SUMMARY="+filepath.Join(runner, "summary.md"))
		for k, v := range step.Env {
			v = expr.ReplaceAllStringFunc(v, func(m string) string {
				e := strings.TrimSpace(expr.FindStringSubmatch(m)[1])
				switch {
				case strings.HasPrefix(e, "inputs."):
					name := strings.TrimPrefix(e, "inputs.")
					if v, ok := inputs[name]; ok {
						return v
					}
					return a.Inputs[name].Default
				case strings.HasPrefix(e, "steps."):
					parts := strings.Split(e, ".") // steps.ID.outputs.K
					return outputs[parts[1]][parts[3]]
				}
				t.Fatalf("unknown expression %s", e)
				return ""
			})
			env = append(env, k+"="+v)
		}
		if expr.MatchString(step.Run) {
			t.Errorf("step %s: expressions inside run: (use env: so that inputs are not code)", step.ID)
		}
		cmd := exec.Command("bash", "-e", "-c", step.Run)
		cmd.Env = env
		b, err := cmd.CombinedOutput()
		code = cmd.ProcessState.ExitCode()
		t.Logf("step %s: exit %d\n%s", step.ID, code, b)
		outputs[step.ID] = map[string]string{}
		f, _ := os.Open(out)
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			if k, v, ok := strings.Cut(sc.Text(), "="); ok {
				outputs[step.ID][k] = v
			}
		}
		f.Close()
		if err != nil {
			break
		}
	}
	return outputs["scan"], code
}

// TestAction runs the action's steps on a module with a HIGH finding: the
// check fails with exit 1 and writes SARIF, JSON and the step summary;
// run again with that JSON as the baseline, nothing is new and it passes.
func TestAction(t *testing.T) {
	b, err := os.ReadFile(filepath.Join(testimage.Root(), "action.yml"))
	if err != nil {
		t.Fatal(err)
	}
	var a action
	if err := yaml.Unmarshal(b, &a); err != nil {
		t.Fatal(err)
	}
	if a.Runs.Using != "composite" {
		t.Fatalf("runs.using %q", a.Runs.Using)
	}
	bin := buildCustoms(t)
	src := t.TempDir()
	os.WriteFile(filepath.Join(src, "go.mod"), []byte("module example.com/app\n\ngo 1.22\n\nrequire github.com/tidwall/gjson v1.6.5\n"), 0o644)
	runner := t.TempDir()
	inputs := map[string]string{
		"binary": bin, "target": "dir:" + src, "db": filepath.Join(testimage.Root(), "testdata", "osv-demo"),
		"sarif": filepath.Join(runner, "customs.sarif"), "json": filepath.Join(runner, "customs.json"), "args": "--unknown-severity pass",
	}
	t.Setenv("CUSTOMS_CACHE", filepath.Join(runner, "cache"))
	out, code := runAction(t, a, inputs, runner)
	if code != 1 || out["exit-code"] != "1" {
		t.Fatalf("a HIGH finding: exit %d, output %v; want 1", code, out)
	}
	for _, f := range []string{"customs.sarif", "customs.json"} {
		if _, err := os.Stat(filepath.Join(runner, f)); err != nil {
			t.Errorf("%s not written: %v", f, err)
		}
	}
	summary, _ := os.ReadFile(filepath.Join(runner, "summary.md"))
	if !strings.Contains(string(summary), "customs scan of `dir:") || !strings.Contains(string(summary), "GO-2021-0054") {
		t.Errorf("step summary:\n%s", summary)
	}
	if path, _ := os.ReadFile(filepath.Join(runner, "path")); !strings.Contains(string(path), "customs-bin") {
		t.Errorf("GITHUB_PATH: %q", path)
	}

	baseline := filepath.Join(t.TempDir(), "base.json")
	data, _ := os.ReadFile(filepath.Join(runner, "customs.json"))
	os.WriteFile(baseline, data, 0o644)
	inputs["baseline"] = baseline
	out, code = runAction(t, a, inputs, t.TempDir())
	if code != 0 || out["exit-code"] != "0" {
		t.Errorf("against its own baseline: exit %d, output %v; want 0", code, out)
	}
}
