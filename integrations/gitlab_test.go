package integrations

import (
	"encoding/json"
	"encoding/xml"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"

	"github.com/customs-dev/customs/internal/testimage"
)

// TestGitLabTemplate runs the template's script as a GitLab runner would
// (bash, its variables, CI_PROJECT_DIR), with customs on PATH and the demo
// database: the job fails on the HIGH finding and leaves the dependency
// scanning report, the JUnit report and the JSON report.
func TestGitLabTemplate(t *testing.T) {
	b, err := os.ReadFile(filepath.Join(testimage.Root(), "ci", "gitlab", "customs.gitlab-ci.yml"))
	if err != nil {
		t.Fatal(err)
	}
	var tpl struct {
		Variables map[string]string `yaml:"variables"`
		Job       struct {
			Script    []string `yaml:"script"`
			Artifacts struct {
				Reports map[string]string `yaml:"reports"`
			} `yaml:"artifacts"`
		} `yaml:"customs"`
	}
	if err := yaml.Unmarshal(b, &tpl); err != nil {
		t.Fatal(err)
	}
	bin := buildCustoms(t)
	project := t.TempDir()
	os.WriteFile(filepath.Join(project, "go.mod"), []byte("module example.com/app\n\ngo 1.22\n\nrequire github.com/tidwall/gjson v1.6.5\n"), 0o644)
	env := append(os.Environ(), "PATH="+filepath.Dir(bin)+":"+os.Getenv("PATH"), "CI_PROJECT_DIR="+project,
		"CUSTOMS_DB="+filepath.Join(testimage.Root(), "testdata", "osv-demo"), "CUSTOMS_CACHE="+filepath.Join(project, ".cache"))
	for k, v := range tpl.Variables {
		env = append(env, k+"="+v)
	}
	// A runner runs the script lines in one shell and stops at the first
	// that fails.
	cmd := exec.Command("bash", "-e", "-c", strings.Join(tpl.Job.Script, "\n"))
	cmd.Dir, cmd.Env = project, env
	out, _ := cmd.CombinedOutput()
	if code := cmd.ProcessState.ExitCode(); code != 1 {
		t.Fatalf("the job: exit %d, want 1 (a HIGH finding)\n%s", code, out)
	}
	var gl struct {
		Scan            struct{ Type string }
		Vulnerabilities []struct{ Name string }
	}
	report, err := os.ReadFile(filepath.Join(project, tpl.Job.Artifacts.Reports["dependency_scanning"]))
	if err != nil || json.Unmarshal(report, &gl) != nil || gl.Scan.Type != "dependency_scanning" || len(gl.Vulnerabilities) == 0 {
		t.Errorf("dependency scanning report: %v\n%s", err, report)
	}
	junit, err := os.ReadFile(filepath.Join(project, tpl.Job.Artifacts.Reports["junit"]))
	var suites struct {
		Suites []struct {
			Failures int `xml:"failures,attr"`
		} `xml:"testsuite"`
	}
	if err != nil || xml.Unmarshal(junit, &suites) != nil || len(suites.Suites) != 1 || suites.Suites[0].Failures == 0 {
		t.Errorf("JUnit report: %v\n%s", err, junit)
	}
	if _, err := os.Stat(filepath.Join(project, "customs.json")); err != nil {
		t.Errorf("customs.json: %v", err)
	}
}

// TestPreCommitHooks runs each hook's entry, as pre-commit does, in a
// clean module with a capabilities.txt: they pass; once the module's
// code runs programs without a grant, the capability hook fails.
func TestPreCommitHooks(t *testing.T) {
	b, err := os.ReadFile(filepath.Join(testimage.Root(), ".pre-commit-hooks.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var hooks []struct {
		ID       string `yaml:"id"`
		Entry    string `yaml:"entry"`
		Language string `yaml:"language"`
	}
	if err := yaml.Unmarshal(b, &hooks); err != nil || len(hooks) != 2 {
		t.Fatalf("hooks: %v %v", hooks, err)
	}
	bin := buildCustoms(t)
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "go.mod"), []byte("module example.com/app\n\ngo 1.22\n"), 0o644)
	os.WriteFile(filepath.Join(dir, "main.go"), []byte("package main\n\nimport \"fmt\"\n\nfunc main() { fmt.Println(\"hi\") }\n"), 0o644)
	os.WriteFile(filepath.Join(dir, "capabilities.txt"), []byte("capabilities 1\nmain FILES\n"), 0o644)
	run := func(entry string) (int, string) {
		args := strings.Fields(entry)
		if args[0] != "customs" {
			t.Fatalf("entry %q does not run customs", entry)
		}
		cmd := exec.Command(bin, args[1:]...)
		cmd.Dir = dir
		cmd.Env = append(os.Environ(), "CUSTOMS_DB="+filepath.Join(testimage.Root(), "testdata", "osv-demo"), "CUSTOMS_CACHE="+filepath.Join(dir, ".cache"))
		out, _ := cmd.CombinedOutput()
		return cmd.ProcessState.ExitCode(), string(out)
	}
	for _, h := range hooks {
		if h.Language != "golang" {
			t.Errorf("%s: language %q", h.ID, h.Language)
		}
		if code, out := run(h.Entry); code != 0 {
			t.Errorf("%s on a clean module: exit %d\n%s", h.ID, code, out)
		}
	}
	os.WriteFile(filepath.Join(dir, "main.go"), []byte("package main\n\nimport \"os/exec\"\n\nfunc main() { exec.Command(\"/bin/true\").Run() }\n"), 0o644)
	for _, h := range hooks {
		if h.ID == "customs-caps-check" {
			if code, out := run(h.Entry); code != 1 || !strings.Contains(out, "EXEC") {
				t.Errorf("%s with an undeclared EXEC: exit %d\n%s", h.ID, code, out)
			}
		}
	}
}
