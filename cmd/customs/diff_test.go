package main

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/customs-dev/customs/internal/testimage"
)

// shopRepo makes a git repository of a small Go program in three commits:
//
//	base:  github.com/tidwall/gjson v1.9.3 (no advisory), golang.org/x/text
//	       v0.3.0, and a local helper module that does nothing risky;
//	head:  gjson downgraded to v1.6.5 (two advisories: GO-2021-0054, alias
//	       GHSA-p64j-r5f4-pwwx, and GO-2021-0265), and the helper runs
//	       a program (it gains EXEC), which capabilities.txt grants in the
//	       same commit;
//	fixed: gjson back to v1.9.3, nothing else.
func shopRepo(t *testing.T) string {
	t.Helper()
	if _, err := exec.LookPath("git"); err != nil {
		t.Skip("skipping: no git")
	}
	dir := t.TempDir()
	run := func(name string, args ...string) {
		t.Helper()
		cmd := exec.Command(name, args...)
		cmd.Dir = dir
		cmd.Env = append(os.Environ(), "GIT_AUTHOR_NAME=t", "GIT_AUTHOR_EMAIL=t@example.com", "GIT_COMMITTER_NAME=t", "GIT_COMMITTER_EMAIL=t@example.com", "GOFLAGS=-mod=mod")
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("%s %v: %v\n%s", name, args, err, out)
		}
	}
	write := func(name, content string) {
		t.Helper()
		p := filepath.Join(dir, name)
		os.MkdirAll(filepath.Dir(p), 0o755)
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	gomod := func(gjson string) string {
		return "module example.com/shop\n\ngo 1.22\n\nrequire (\n\tgithub.com/tidwall/gjson " + gjson + "\n\tgolang.org/x/text v0.3.0\n\texample.com/helper v0.0.0\n)\n\nreplace example.com/helper => ./helper\n"
	}
	const decl = "capabilities 1\nmain ALL\ngithub.com/tidwall/* ALL\ngolang.org/x/text ALL\nexample.com/helper FILES\n"
	run("git", "init", "-q", "-b", "main")
	write("go.mod", gomod("v1.9.3"))
	write("main.go", "package main\n\nimport (\n\t\"fmt\"\n\n\t\"example.com/helper\"\n\t\"github.com/tidwall/gjson\"\n\t\"golang.org/x/text/width\"\n)\n\nfunc main() {\n\tfmt.Println(gjson.Get(`{\"a\":1}`, \"a\"), width.Narrow.String(\"x\"), helper.Do())\n}\n")
	write("helper/go.mod", "module example.com/helper\n\ngo 1.22\n")
	write("helper/helper.go", "package helper\n\n// Do does nothing risky.\nfunc Do() string { return \"ok\" }\n")
	write("capabilities.txt", decl)
	run("go", "mod", "tidy")
	run("git", "add", "-A")
	run("git", "commit", "-q", "-m", "base")
	run("git", "tag", "base")

	write("go.mod", gomod("v1.6.5"))
	write("helper/helper.go", "package helper\n\nimport \"os/exec\"\n\n// Do runs a program.\nfunc Do() string {\n\tif exec.Command(\"/bin/true\").Run() != nil {\n\t\treturn \"failed\"\n\t}\n\treturn \"ok\"\n}\n")
	write("capabilities.txt", strings.Replace(decl, "example.com/helper FILES", "example.com/helper FILES EXEC", 1))
	run("go", "mod", "tidy")
	run("git", "add", "-A")
	run("git", "commit", "-q", "-m", "head: vulnerable gjson, helper runs programs")
	run("git", "tag", "head")

	write("go.mod", gomod("v1.9.3"))
	run("go", "mod", "tidy")
	run("git", "add", "-A")
	run("git", "commit", "-q", "-m", "fixed: gjson v1.9.3")
	run("git", "tag", "fixed")
	return dir
}

type comparison struct {
	Introduced []struct {
		ID    string
		Fails bool
	} `json:"vulnerabilities_introduced"`
	Fixed []struct {
		ID string
	} `json:"vulnerabilities_fixed"`
	Gained []struct {
		Module, Capability string
	} `json:"capabilities_gained"`
	Lost []struct {
		Module, Capability string
	} `json:"capabilities_lost"`
	Changed []struct {
		Name, From, To string
	} `json:"packages_changed"`
	DeclarationDiff string `json:"declaration_diff"`
	Passed          bool
}

// TestDiffAndBaseline: the head of a change adds a vulnerable module
// version and a dependency that gains EXEC; customs diff and scan
// --baseline report exactly those as new and fail. A change that only
// updates the module to a fixed version passes and reports the fix. An
// advisory published after the baseline, for a package the change did not
// touch, is existing and does not fail.
func TestDiffAndBaseline(t *testing.T) {
	repo := shopRepo(t)
	env := cacheEnv(t)
	demo := filepath.Join(testimage.Root(), "testdata", "osv-demo")
	out := t.TempDir()

	diff := func(base, head string) (comparison, string, int) {
		t.Helper()
		f := filepath.Join(out, base+"-"+head+".json")
		stdout, stderr, code := customs(t, env, "diff", base, head, "--repo", repo, "--db", demo, "-o", "json="+f, "-o", "markdown")
		var c comparison
		b, _ := os.ReadFile(f)
		if err := json.Unmarshal(b, &c); err != nil {
			t.Fatalf("diff %s %s: exit %d, no JSON: %v\n%s", base, head, code, err, stderr)
		}
		return c, stdout + stderr, code
	}
	c, text, code := diff("base", "head")
	var introduced []string
	for _, f := range c.Introduced {
		introduced = append(introduced, f.ID)
	}
	slices.Sort(introduced)
	if code != 1 || c.Passed || !slices.Equal(introduced, []string{"GO-2021-0054", "GO-2021-0265"}) {
		t.Errorf("base..head: exit %d, introduced %v; want 1 and the two gjson advisories\n%s", code, introduced, text)
	}
	if len(c.Gained) != 1 || c.Gained[0].Module != "example.com/helper" || c.Gained[0].Capability != "EXEC" {
		t.Errorf("base..head: capabilities gained %+v; want exactly example.com/helper EXEC", c.Gained)
	}
	if d := c.DeclarationDiff; !strings.HasPrefix(d, "-example.com/helper") || !strings.Contains(d, "\n+example.com/helper") || !strings.HasSuffix(d, "FILES EXEC\n") || !strings.Contains(text, "```diff") {
		t.Errorf("base..head: the capabilities.txt diff is missing: %q", c.DeclarationDiff)
	}
	// Granting it in the same change is for a reviewer to accept.
	_, _, code = customs(t, env, "diff", "base", "head", "--repo", repo, "--db", demo, "--allow-declared-changes", "--unknown-severity", "pass", "--fail-on", "critical")
	if code != 0 {
		t.Errorf("base..head with --allow-declared-changes and only critical failing: exit %d, want 0", code)
	}

	c, text, code = diff("head", "fixed")
	var fixed []string
	for _, f := range c.Fixed {
		fixed = append(fixed, f.ID)
	}
	slices.Sort(fixed)
	if code != 0 || !c.Passed || len(c.Introduced) != 0 || len(c.Gained) != 0 || !slices.Equal(fixed, []string{"GO-2021-0054", "GO-2021-0265"}) {
		t.Errorf("head..fixed: exit %d, introduced %v, gained %v, fixed %v; want 0, none, none and the two advisories\n%s", code, c.Introduced, c.Gained, fixed, text)
	}

	// --baseline: the base's report, made when the database did not yet
	// have the x/text advisory.
	older := t.TempDir()
	entries, _ := os.ReadDir(demo)
	for _, e := range entries {
		if e.Name() != "GO-2021-0113.json" {
			b, _ := os.ReadFile(filepath.Join(demo, e.Name()))
			os.WriteFile(filepath.Join(older, e.Name()), b, 0o644)
		}
	}
	export := func(rev string) string {
		d := filepath.Join(t.TempDir(), rev)
		if err := gitExport(repo, rev, d); err != nil {
			t.Fatal(err)
		}
		return d
	}
	baseJSON := filepath.Join(out, "base.json")
	if _, stderr, code := customs(t, env, "scan", "dir:"+export("base"), "--db", older, "-o", "json="+baseJSON); code != 0 {
		t.Fatalf("scanning the base: exit %d\n%s", code, stderr)
	}
	headDir := export("head")
	headJSON := filepath.Join(out, "head.json")
	_, stderr, code := customs(t, env, "scan", "dir:"+headDir, "--db", demo, "--baseline", baseJSON, "-o", "json="+headJSON)
	var head struct {
		Findings []struct {
			ID       string
			Baseline string
			Fails    bool
			Package  struct{ Name string }
		}
		Gate struct {
			Passed  bool
			Reasons []string
		}
		Baseline struct{ New, Existing int }
	}
	b, _ := os.ReadFile(headJSON)
	json.Unmarshal(b, &head)
	got := map[string]string{}
	for _, f := range head.Findings {
		got[f.ID] = f.Baseline
		if f.Baseline == "existing" && f.Fails {
			t.Errorf("%s is existing but fails the gate", f.ID)
		}
	}
	want := map[string]string{"GO-2021-0054": "new", "GO-2021-0265": "new", "GO-2021-0113": "existing"}
	if code != 1 || len(got) != len(want) {
		t.Errorf("scan --baseline: exit %d, findings %v; want 1 and %v\n%s", code, got, want, stderr)
	}
	for id, w := range want {
		if got[id] != w {
			t.Errorf("scan --baseline: %s is %q, want %q", id, got[id], w)
		}
	}
	if !strings.Contains(strings.Join(head.Gate.Reasons, ";"), "capabilities gained since the baseline: example.com/helper EXEC") {
		t.Errorf("scan --baseline: reasons %q do not name the capability gained", head.Gate.Reasons)
	}
	// The x/text advisory alone (the same head against a baseline that
	// already had gjson's advisories) does not fail.
	_, stderr, code = customs(t, env, "scan", "dir:"+headDir, "--db", demo, "--baseline", headJSON, "--allow-declared-changes")
	if code != 0 {
		t.Errorf("scan --baseline of an unchanged head: exit %d, want 0\n%s", code, stderr)
	}
	_, _, code = customs(t, env, "scan", "dir:"+headDir, "--db", demo, "--baseline", headJSON, "--fail-on-existing")
	if code != 1 {
		t.Errorf("--fail-on-existing: exit %d, want 1", code)
	}
}
