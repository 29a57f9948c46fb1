package capabilities

import (
	"errors"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

// designExample is the example of DESIGN.md and docs/capabilities.md,
// which is written the way Format aligns it.
const designExample = `capabilities 1                  # format version: the first directive
unlisted deny                   # modules without a line: deny (default) | warn | allow
on-violation log                # run-time action: log (default) | stop | kill

# module pattern                capabilities                       scope (run time only)
main                            ALL                                # the main module
github.com/jackc/pgx/v5         NETWORK/CONNECT                    host=*:5432
github.com/spf13/viper          FILES/READ READ_SYSTEM_STATE       path=/etc/myapp/**
golang.org/x/sys                SYSTEM_CALLS UNSAFE_POINTER
gopkg.in/yaml.v3                REFLECT
github.com/acme/*               NETWORK
deny github.com/acme/logger     NETWORK                            # deny beats grant at equal specificity
`

func TestParse(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want *File
	}{
		{
			name: "design example",
			in:   designExample,
			want: &File{
				Name: "capabilities.txt", Version: 1, Unlisted: Deny, OnViolation: "log",
				Rules: []Rule{
					{Subject: "main", Caps: []Capability{All}, Comment: "the main module", Line: 6, Col: 1},
					{Subject: "github.com/jackc/pgx/v5", Caps: []Capability{NetworkConnect}, Scopes: []Scope{{"host", "*:5432"}}, Line: 7, Col: 1},
					{Subject: "github.com/spf13/viper", Caps: []Capability{FilesRead, ReadSystemState}, Scopes: []Scope{{"path", "/etc/myapp/**"}}, Line: 8, Col: 1},
					{Subject: "golang.org/x/sys", Caps: []Capability{SystemCalls, UnsafePointer}, Line: 9, Col: 1},
					{Subject: "gopkg.in/yaml.v3", Caps: []Capability{Reflect}, Line: 10, Col: 1},
					{Subject: "github.com/acme/*", Caps: []Capability{Network}, Line: 11, Col: 1},
					{Deny: true, Subject: "github.com/acme/logger", Caps: []Capability{Network}, Comment: "deny beats grant at equal specificity", Line: 12, Col: 1},
				},
				Lines: []Line{
					{Kind: VersionLine, Comment: "format version: the first directive"},
					{Kind: UnlistedLine, Comment: "modules without a line: deny (default) | warn | allow"},
					{Kind: OnViolationLine, Comment: "run-time action: log (default) | stop | kill"},
					{Kind: BlankLine},
					{Kind: CommentLine, Comment: " module pattern                capabilities                       scope (run time only)"},
					{Kind: RuleLine}, {Kind: RuleLine}, {Kind: RuleLine}, {Kind: RuleLine},
					{Kind: RuleLine}, {Kind: RuleLine}, {Kind: RuleLine},
				},
			},
		},
		{
			name: "defaults",
			in:   "capabilities 1\n",
			want: &File{Name: "capabilities.txt", Version: 1, Unlisted: Deny, OnViolation: "log", Lines: []Line{{Kind: VersionLine}}},
		},
		{
			name: "tabs, indentation, CRLF, comments without spaces, no final newline",
			in:   "\t# header\r\n  capabilities\t1#v\r\nunlisted warn\non-violation kill #\n\t \n  deny\tmain   FILES/WRITE EXEC\tprogram=/usr/bin/git path=/a=b#why\r\nruntime ALL",
			want: &File{
				Name: "capabilities.txt", Version: 1, Unlisted: Warn, OnViolation: "kill",
				Rules: []Rule{
					{Deny: true, Subject: "main", Caps: []Capability{FilesWrite, Exec}, Scopes: []Scope{{"program", "/usr/bin/git"}, {"path", "/a=b"}}, Comment: "why", Line: 6, Col: 3},
					{Subject: "runtime", Caps: []Capability{All}, Line: 7, Col: 1},
				},
				Lines: []Line{
					{Kind: CommentLine, Comment: " header"},
					{Kind: VersionLine, Comment: "v"},
					{Kind: UnlistedLine},
					{Kind: OnViolationLine},
					{Kind: BlankLine},
					{Kind: RuleLine},
					{Kind: RuleLine},
				},
			},
		},
		{
			name: "byte-order mark, comment inside a token, unicode in comments and scopes",
			in:   "\uFEFFcapabilities 1\nmain ALL#c\tNETWORK\nexample.com/* NETWORK/LISTEN host=bücher.example:443 # ça va\n#\t\n",
			want: &File{
				Name: "capabilities.txt", Version: 1, Unlisted: Deny, OnViolation: "log",
				Rules: []Rule{
					{Subject: "main", Caps: []Capability{All}, Comment: "c\tNETWORK", Line: 2, Col: 1},
					{Subject: "example.com/*", Caps: []Capability{NetworkListen}, Scopes: []Scope{{"host", "bücher.example:443"}}, Comment: "ça va", Line: 3, Col: 1},
				},
				Lines: []Line{{Kind: VersionLine}, {Kind: RuleLine}, {Kind: RuleLine}, {Kind: CommentLine}},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Parse("capabilities.txt", []byte(tt.in))
			if err != nil {
				t.Fatalf("Parse(%q) = %v, want no error", tt.in, err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("Parse(%q) mismatch (-want +got):\n%s", tt.in, diff)
			}
		})
	}
}

func TestParseErrors(t *testing.T) {
	const v = "capabilities 1\n"
	tests := []struct {
		in   string
		want string
	}{
		// The version directive.
		{"", `caps.txt:1:1: missing "capabilities 1" directive`},
		{"# only a comment\n\n", `caps.txt:1:1: missing "capabilities 1" directive`},
		{"capabilities\n", `caps.txt:1:13: missing format version: write "capabilities 1"`},
		{"capabilities 2\n", `caps.txt:1:14: unknown format version "2": this program reads version 1`},
		{"capabilities 01\n", `caps.txt:1:14: unknown format version "01": this program reads version 1`},
		{"capabilities 1 2\n", `caps.txt:1:16: unexpected "2" after "capabilities 1"`},
		{"unlisted deny\ncapabilities 1\n", `caps.txt:1:1: "unlisted" directive before "capabilities 1", which must be the first directive`},
		{"# c\nmain ALL\ncapabilities 1\n", `caps.txt:2:1: rule before "capabilities 1", which must be the first directive`},
		{v + "capabilities 1\n", `caps.txt:2:1: duplicate "capabilities" directive (first on line 1)`},

		// The other directives.
		{v + "unlisted\n", `caps.txt:2:9: missing unlisted action: want deny, warn or allow`},
		{v + "unlisted maybe\n", `caps.txt:2:10: unknown unlisted action "maybe": want deny, warn or allow`},
		{v + "unlisted Deny\n", `caps.txt:2:10: unknown unlisted action "Deny": want deny, warn or allow`},
		{v + "unlisted deny\n\n  unlisted allow\n", `caps.txt:4:3: duplicate "unlisted" directive (first on line 2)`},
		{v + "unlisted deny warn\n", `caps.txt:2:15: unexpected "warn" after "unlisted deny"`},
		{v + "on-violation\n", `caps.txt:2:13: missing on-violation action: want log, stop or kill`},
		{v + "on-violation panic\n", `caps.txt:2:14: unknown on-violation action "panic": want log, stop or kill`},
		{v + "on-violation log\non-violation stop\n", `caps.txt:3:1: duplicate "on-violation" directive (first on line 2)`},
		{v + "version 2\n", `caps.txt:2:1: unknown directive "version"`},
		{v + "on_violation log\n", `caps.txt:2:1: unknown directive "on_violation"`},
		{v + "Capabilities 1\n", `caps.txt:2:1: unknown directive "Capabilities"`},

		// Subjects.
		{v + "deny\n", `caps.txt:2:1: deny without a subject`},
		{v + "deny  # nothing\n", `caps.txt:2:1: deny without a subject`},
		{v + "NETWORK\n", `caps.txt:2:1: missing subject before capability NETWORK`},
		{v + "deny ALL\n", `caps.txt:2:6: missing subject before capability ALL`},
		{v + "host=*:80 NETWORK\n", `caps.txt:2:1: missing subject before scope "host=*:80"`},
		{v + "deny mymodule FILES\n", `caps.txt:2:6: invalid subject "mymodule": want a module path, main or runtime`},
		{v + "deny deny FILES\n", `caps.txt:2:6: invalid subject "deny": want a module path, main or runtime`},
		{v + "github.com//x FILES\n", `caps.txt:2:1: invalid module path "github.com//x": double slash`},
		{v + "/github.com/x FILES\n", `caps.txt:2:1: invalid module path "/github.com/x": empty path element`},
		{v + "github.com/x/ FILES\n", `caps.txt:2:1: invalid module path "github.com/x/": trailing slash`},
		{v + "github.com/x@v1 FILES\n", `caps.txt:2:1: invalid module path "github.com/x@v1": invalid char '@'`},
		{v + "github.com/x/.. FILES\n", `caps.txt:2:1: invalid module path "github.com/x/..": invalid path element ".."`},
		{v + "github.com/\u00e9 FILES\n", `caps.txt:2:1: invalid module path "github.com/é": invalid char 'é'`},
		{v + "github.com/acme/** FILES\n", `caps.txt:2:1: invalid glob "github.com/acme/**": "**" is "*", which matches "/" too`},
		{v + "deny github.com/*/ FILES\n", `caps.txt:2:6: invalid glob "github.com/*/": trailing slash`},
		{v + "github.com/*?/x FILES\n", `caps.txt:2:1: invalid glob "github.com/*?/x": invalid char '?'`},
		{v + "github.com/[ab]* FILES\n", `caps.txt:2:1: invalid glob "github.com/[ab]*": invalid char '['`},

		// Capabilities and scopes.
		{v + "main\n", `caps.txt:2:5: missing capability for main`},
		{v + "github.com/x # no capability\n", `caps.txt:2:13: missing capability for github.com/x`},
		{v + "main NETWORKING\n", `caps.txt:2:6: unknown capability "NETWORKING"`},
		{v + "main FILES network\n", `caps.txt:2:12: unknown capability "network" (capability names are upper case: NETWORK)`},
		{v + "main files/read\n", `caps.txt:2:6: unknown capability "files/read" (capability names are upper case: FILES/READ)`},
		{v + "main FILES/EXEC\n", `caps.txt:2:6: unknown capability "FILES/EXEC"`},
		{v + "main all\n", `caps.txt:2:6: unknown capability "all" (capability names are upper case: ALL)`},
		{v + "main FILES FILES/READ FILES\n", `caps.txt:2:23: duplicate capability FILES`},
		{v + "main host=*:5432\n", `caps.txt:2:6: scope "host=*:5432" before any capability`},
		{v + "main host=*:5432 NETWORK\n", `caps.txt:2:6: scope "host=*:5432" before any capability`},
		{v + "main NETWORK host=*:5432 FILES\n", `caps.txt:2:26: capability "FILES" after a scope: write the capabilities first`},
		{v + "main NETWORK port=5432\n", `caps.txt:2:14: unknown scope key "port": want host, path or program`},
		{v + "main NETWORK Host=x\n", `caps.txt:2:14: unknown scope key "Host": want host, path or program`},
		{v + "main NETWORK =x\n", `caps.txt:2:14: unknown scope key "": want host, path or program`},
		{v + "main FILES path=\n", `caps.txt:2:12: empty path scope`},
		{v + "main FILES path=#/etc\n", `caps.txt:2:12: empty path scope`},

		// What is not text, and sizes.
		{v + "main FILES\x00\n", `caps.txt:2:11: NUL byte: not a text file`},
		{v + "main FILES # caf\xe9\n", `caps.txt:2:17: invalid UTF-8`},
		{"\xef\xbb", `caps.txt:1:1: invalid UTF-8`},
		{v + "main\vFILES\n", `caps.txt:2:5: control character U+000B`},
		{v + "main FILES\r\r\n", `caps.txt:2:11: control character U+000D`},
		{v + "main\rFILES\n", `caps.txt:2:5: control character U+000D`},
		{v + "# \u0085\n", `caps.txt:2:3: control character U+0085`},
		{v + "main ALL # \u2028\n", `caps.txt:2:12: control character U+2028`},
		{v + "main FILES # \u202e/* deny */\n", `caps.txt:2:14: bidirectional control character U+202E`},
		{v + "main\u2066 FILES\n", `caps.txt:2:5: bidirectional control character U+2066`},
		{v + "#" + strings.Repeat("x", maxLineSize) + "\n", `caps.txt:2:4097: line longer than 4096 bytes`},
		{v + strings.Repeat("#\n", maxFileSize), `caps.txt:524282:2: file longer than 1048576 bytes`},
	}
	for _, tt := range tests {
		f, err := Parse("caps.txt", []byte(tt.in))
		if err == nil || err.Error() != tt.want {
			t.Errorf("Parse(%q) = %v, want %v", short(tt.in), err, tt.want)
			continue
		}
		var perr *ParseError
		if !errors.As(err, &perr) {
			t.Errorf("Parse(%q) = %T, want *ParseError", short(tt.in), err)
		}
		if f != nil {
			t.Errorf("Parse(%q) = %v, %v, want a nil *File", short(tt.in), f, err)
		}
	}
}

func TestParseErrorFields(t *testing.T) {
	_, err := Parse("dir/capabilities.txt", []byte("capabilities 1\n\nmain  FILES BOGUS\n"))
	want := &ParseError{File: "dir/capabilities.txt", Line: 3, Col: 13, Msg: `unknown capability "BOGUS"`}
	var got *ParseError
	if !errors.As(err, &got) {
		t.Fatalf("Parse() = %v, want a *ParseError", err)
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("Parse() mismatch (-want +got):\n%s", diff)
	}
}

// TestFormatCanonical holds files written the way Format writes them:
// Format prints them back byte for byte.
func TestFormatCanonical(t *testing.T) {
	tests := map[string]string{
		"design example": designExample,
		"minimal":        "capabilities 1\n",
		"comments and blank lines kept": `# Written by customs caps init; review every line.
#
#	indented with a tab

capabilities 1
# unlisted and on-violation are left to their defaults


main                            FILES NETWORK
# trailing blank lines are kept too


`,
		"a long subject widens the subject column": `capabilities 1                                # v1
main                                          ALL
github.com/Azure/azure-sdk-for-go/sdk/azcore  NETWORK/CONNECT
`,
		"long capabilities widen the capability column": `capabilities 1
main                            ALL                                                       # main
example.com/x                   FILES NETWORK EXEC READ_SYSTEM_STATE MODIFY_SYSTEM_STATE  path=/x
`,
		"comments follow the longest scope that has one": `capabilities 1
unlisted warn                   # watch first
on-violation stop
main                            ALL                                                       # main
example.com/db                  NETWORK/CONNECT                    host=db.internal:5432  # the database
example.com/tmp                 FILES/WRITE                        path=/tmp/**
example.com/git                 EXEC                               program=/usr/bin/git
`,
	}
	for name, in := range tests {
		t.Run(name, func(t *testing.T) {
			f, err := Parse("capabilities.txt", []byte(in))
			if err != nil {
				t.Fatalf("Parse(%q) = %v, want no error", in, err)
			}
			if got := string(f.Format()); got != in {
				t.Errorf("Format() of Parse(%q) = %q, want it unchanged; diff (-want +got):\n%s", in, got, cmp.Diff(in, got))
			}
		})
	}
}

// TestFormat holds files written otherwise: Format re-aligns them.
func TestFormat(t *testing.T) {
	tests := []struct {
		name, in, want string
	}{
		{
			name: "tabs, indentation, CRLF, missing spaces around comments",
			in:   "\uFEFF  capabilities  1#v1\r\n\tdeny   example.com/x\tFILES  NETWORK host=*:1#no\r\n   \t\r\n\t# indented comment  \r\nmain ALL",
			want: `capabilities 1                  # v1
deny example.com/x              FILES NETWORK                      host=*:1  # no

# indented comment
main                            ALL
`,
		},
		{
			name: "one space after the hash, trailing spaces dropped",
			in:   "capabilities 1\n#  two spaces kept, not the trailing ones \t \nmain ALL #   two spaces after the hash  \n",
			want: "capabilities 1\n#  two spaces kept, not the trailing ones\nmain                            ALL                                # two spaces after the hash\n",
		},
		{
			name: "a file alignment would make too long is printed compact",
			in:   "capabilities 1 #  v\n" + strings.Repeat("x.com  ALL\tpath=/ # c\n", maxFileSize/24),
			want: "capabilities 1#v\n" + strings.Repeat("x.com ALL path=/#c\n", maxFileSize/24),
		},
		{
			name: "empty trailing comments are dropped",
			in:   "capabilities 1 #\nmain ALL #   \n",
			want: "capabilities 1\nmain                            ALL\n",
		},
		{
			name: "a line alignment would make too long is printed with single spaces",
			in:   "capabilities 1\n" + strings.Repeat("a", 2000) + ".com ALL\nmain ALL path=/" + strings.Repeat("p", 2000) + " # " + strings.Repeat("x", 2000) + "\n",
			want: "capabilities 1\n" + strings.Repeat("a", 2000) + ".com  ALL\nmain ALL path=/" + strings.Repeat("p", 2000) + "#" + strings.Repeat("x", 2000) + "\n",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, err := Parse("capabilities.txt", []byte(tt.in))
			if err != nil {
				t.Fatalf("Parse(%q) = %v, want no error", short(tt.in), err)
			}
			if got := string(f.Format()); got != tt.want {
				t.Errorf("Format() of Parse(%q) = %q, want %q; diff (-want +got):\n%s", short(tt.in), short(got), short(tt.want), cmp.Diff(tt.want, got))
			}
		})
	}
}

// TestFormatBuilt holds files built in code, as customs caps init does.
func TestFormatBuilt(t *testing.T) {
	tests := []struct {
		name string
		f    *File
		want string
	}{
		{
			name: "no layout: the three directives, a blank line, the rules",
			f: &File{Version: 1, Rules: []Rule{
				{Subject: "main", Caps: []Capability{FilesRead}, Comment: "main.main (main.go:12) -> os.ReadFile"},
				{Subject: "golang.org/x/sys", Caps: []Capability{SystemCalls}, Comment: "unix.Syscall (syscall_linux.go:20) -> syscall.Syscall"},
				{Deny: true, Subject: "example.com/*", Caps: []Capability{Exec, Network}, Scopes: []Scope{{"host", "*"}}},
			}},
			want: `capabilities 1
unlisted deny
on-violation log

main                            FILES/READ                         # main.main (main.go:12) -> os.ReadFile
golang.org/x/sys                SYSTEM_CALLS                       # unix.Syscall (syscall_linux.go:20) -> syscall.Syscall
deny example.com/*              EXEC NETWORK                       host=*
`,
		},
		{
			name: "no layout, no rules",
			f:    &File{Version: 1, Unlisted: Allow, OnViolation: "kill"},
			want: "capabilities 1\nunlisted allow\non-violation kill\n",
		},
		{
			name: "a layout that lacks lines: version first, changed directives after it, rules at the end",
			f: &File{
				Version: 1, Unlisted: Warn, OnViolation: "log",
				Rules: []Rule{{Subject: "main", Caps: []Capability{All}}, {Subject: "runtime", Caps: []Capability{Runtime}}},
				Lines: []Line{{Kind: CommentLine, Comment: " header"}, {Kind: RuleLine}, {Kind: VersionLine, Comment: "late"}, {Kind: OnViolationLine}, {Kind: OnViolationLine}},
			},
			want: `# header
capabilities 1
unlisted warn
main                            ALL
on-violation log
runtime                         RUNTIME
`,
		},
		{
			name: "a layout with more rule lines than rules",
			f: &File{
				Version: 1,
				Rules:   []Rule{{Subject: "main", Caps: []Capability{All}}},
				Lines:   []Line{{Kind: VersionLine}, {Kind: RuleLine}, {Kind: BlankLine}, {Kind: RuleLine}, {Kind: LineKind(99)}},
			},
			want: "capabilities 1\nmain                            ALL\n\n",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := string(tt.f.Format())
			if got != tt.want {
				t.Errorf("Format() = %q, want %q; diff (-want +got):\n%s", got, tt.want, cmp.Diff(tt.want, got))
			}
			if _, err := Parse("capabilities.txt", []byte(got)); err != nil {
				t.Errorf("Parse(%q) = %v, want no error", got, err)
			}
		})
	}
}

// roundTrip checks that Format prints f so that Parse reads f back, and
// that Format is then stable. Only the columns where rules start may
// change, since Format does not indent.
func roundTrip(t *testing.T, f *File) {
	t.Helper()
	out := f.Format()
	g, err := Parse(f.Name, out)
	if err != nil {
		t.Fatalf("Parse(%q) = %v, want no error", short(string(out)), err)
	}
	// reflect.DeepEqual first: cmp.Diff is slow, and fuzzing calls this.
	if !reflect.DeepEqual(withoutCols(f), withoutCols(g)) {
		t.Fatalf("Parse(%q) mismatch (-want +got):\n%s", short(string(out)), cmp.Diff(f, g, cmpopts.IgnoreFields(Rule{}, "Col")))
	}
	if again := g.Format(); string(again) != string(out) {
		t.Fatalf("Format() of Parse(%q) = %q, want it unchanged", short(string(out)), short(string(again)))
	}
}

// withoutCols is f with the columns of its rules cleared.
func withoutCols(f *File) *File {
	g := *f
	g.Rules = slices.Clone(f.Rules)
	for i := range g.Rules {
		g.Rules[i].Col = 0
	}
	return &g
}

// short keeps failure messages about long inputs readable.
func short(s string) string {
	if len(s) > 300 {
		return s[:300] + "..."
	}
	return s
}

func TestRoundTrip(t *testing.T) {
	inputs := []string{
		designExample,
		"capabilities 1\n",
		"capabilities 1",
		"\n\n#\ncapabilities 1#\n\n\n",
		"\uFEFF# bom\r\ncapabilities 1\r\n",
		"  capabilities\t1 #  version  \n unlisted allow#x#y\non-violation stop\n\n\tdeny example.com/a*b ALL path=/x#y\n",
		"capabilities 1\nmain FILES/READ FILES/WRITE program=/bin/sh program=/bin/bash host=é:1 # ünï\n",
		"capabilities 1\nexample.com/" + strings.Repeat("x", 4000) + " ALL # c\nmain NETWORK host=" + strings.Repeat("h", 4000) + "#c\n",
		// The largest file, with no final newline: Format adds one.
		"capabilities 1\n" + strings.Repeat("#\n", (maxFileSize-16)/2) + "#",
	}
	for _, in := range inputs {
		f, err := Parse("capabilities.txt", []byte(in))
		if err != nil {
			t.Fatalf("Parse(%q) = %v, want no error", short(in), err)
		}
		roundTrip(t, f)
	}
}

func TestDecide(t *testing.T) {
	const header = "capabilities 1\n"
	tests := []struct {
		name   string
		file   string
		module string
		c      Capability
		want   Decision
		line   int // the deciding rule's line, 0 for none
	}{
		{"exact grant", "main ALL\nexample.com/x NETWORK", "example.com/x", Network, Decision{Allowed: true}, 3},
		{"a parent grants its child", "example.com/x NETWORK", "example.com/x", NetworkConnect, Decision{Allowed: true}, 2},
		{"a child does not grant its parent", "example.com/x NETWORK/CONNECT", "example.com/x", Network, Decision{}, 0},
		{"a child does not grant its sibling", "example.com/x NETWORK/CONNECT", "example.com/x", NetworkListen, Decision{}, 0},
		{"ALL grants everything", "example.com/x ALL", "example.com/x", ModifySystemStateEnv, Decision{Allowed: true}, 2},
		{"the second capability of a rule", "example.com/x FILES EXEC", "example.com/x", Exec, Decision{Allowed: true}, 2},
		{"scopes count as unscoped", "example.com/x NETWORK host=*:5432", "example.com/x", NetworkConnect, Decision{Allowed: true}, 2},

		// Listed modules get only what their rules grant.
		{"listed, capability not granted", "example.com/x NETWORK", "example.com/x", Files, Decision{}, 0},
		{"listed by a deny of something else", "unlisted allow\ndeny example.com/x EXEC", "example.com/x", Files, Decision{}, 0},
		{"listed by a glob", "unlisted allow\nexample.com/* NETWORK", "example.com/x", Exec, Decision{}, 0},

		// Unlisted modules.
		{"unlisted deny by default", "main ALL", "example.com/x", Files, Decision{Unlisted: true}, 0},
		{"unlisted deny", "unlisted deny", "example.com/x", Files, Decision{Unlisted: true}, 0},
		{"unlisted warn", "unlisted warn", "example.com/x", Files, Decision{Allowed: true, Warn: true, Unlisted: true}, 0},
		{"unlisted allow", "unlisted allow\nexample.com/y FILES", "example.com/x", Files, Decision{Allowed: true, Unlisted: true}, 0},
		{"a path prefix is not a match", "example.com/x ALL", "example.com/xy", Files, Decision{Unlisted: true}, 0},
		{"a parent module path is not a match", "example.com/x ALL", "example.com/x/v2", Files, Decision{Unlisted: true}, 0},

		// Denies.
		{"deny", "deny example.com/x FILES", "example.com/x", Files, Decision{}, 2},
		{"a deny of a parent denies its children", "example.com/x ALL\ndeny example.com/x FILES", "example.com/x", FilesWrite, Decision{}, 3},
		{"a deny of a child leaves its siblings", "example.com/x FILES\ndeny example.com/x FILES/WRITE", "example.com/x", FilesRead, Decision{Allowed: true}, 2},
		{"a deny of a child leaves the parent", "example.com/x FILES\ndeny example.com/x FILES/WRITE", "example.com/x", Files, Decision{Allowed: true}, 2},
		{"deny wins between exact subjects, grant after", "deny example.com/x NETWORK\nexample.com/x NETWORK/CONNECT", "example.com/x", NetworkConnect, Decision{}, 2},
		{"deny ALL", "example.com/x NETWORK\ndeny example.com/x ALL", "example.com/x", Network, Decision{}, 3},

		// Specificity.
		{"glob", "example.com/* NETWORK", "example.com/x", Network, Decision{Allowed: true}, 2},
		{"a glob matches across slashes", "example.com/* NETWORK", "example.com/x/y/v2", Network, Decision{Allowed: true}, 2},
		{"a glob matches an empty run", "example.com/x* NETWORK", "example.com/x", Network, Decision{Allowed: true}, 2},
		{"a glob in the middle", "example.com/*/log NETWORK", "example.com/a/b/log", Network, Decision{Allowed: true}, 2},
		{"a glob in the middle, no match", "example.com/*/log NETWORK", "example.com/a/logger", Network, Decision{Unlisted: true}, 0},
		{"several globs", "*.example.com/*/x* NETWORK", "a.b.example.com/c/d/xy", Network, Decision{Allowed: true}, 2},
		{"a glob needs its literal suffix", "example.com/*/x NETWORK", "example.com/x", Network, Decision{Unlisted: true}, 0},
		{"exact beats glob: deny", "example.com/* NETWORK\ndeny example.com/logger NETWORK", "example.com/logger", Network, Decision{}, 3},
		{"exact beats glob: grant", "deny example.com/* NETWORK\nexample.com/logger NETWORK", "example.com/logger", Network, Decision{Allowed: true}, 3},
		{"exact beats a longer glob", "deny example.com/logger* NETWORK\nexample.com/logger NETWORK", "example.com/logger", Network, Decision{Allowed: true}, 3},
		{"the longer glob wins: grant", "deny example.com/* NETWORK\nexample.com/acme/* NETWORK", "example.com/acme/x", Network, Decision{Allowed: true}, 3},
		{"the longer glob wins: deny", "example.com/* NETWORK\ndeny example.com/acme/* NETWORK", "example.com/acme/x", Network, Decision{}, 3},
		{"stars do not count as literal characters", "deny example.com/*b* FILES\nexample.com/ab* FILES", "example.com/abc", Files, Decision{Allowed: true}, 3},
		{"deny wins between equal globs", "example.com/a* FILES\ndeny example.com/*c FILES", "example.com/abc", Files, Decision{}, 3},
		{"deny wins between equal globs, deny first", "deny example.com/*c FILES\nexample.com/a* FILES", "example.com/abc", Files, Decision{}, 2},
		{"the first of equal grants", "example.com/a* FILES\nexample.com/*c FILES/READ", "example.com/abc", FilesRead, Decision{Allowed: true}, 2},
		{"a less specific rule that covers beats a more specific one that does not", "example.com/* NETWORK\nexample.com/x FILES", "example.com/x", Network, Decision{Allowed: true}, 2},

		// main and runtime.
		{"main", "main ALL", "main", UnsafePointer, Decision{Allowed: true}, 2},
		{"runtime", "runtime RUNTIME", "runtime", Runtime, Decision{Allowed: true}, 2},
		{"runtime listed", "unlisted allow\nruntime RUNTIME", "runtime", Files, Decision{}, 0},
		{"globs do not name main", "unlisted warn\n* ALL", "main", Files, Decision{Allowed: true, Warn: true, Unlisted: true}, 0},
		{"globs do not name runtime", "deny * ALL\nunlisted allow", "runtime", Files, Decision{Allowed: true, Unlisted: true}, 0},
		{"a lone star names every module", "deny * EXEC", "example.com/x", Exec, Decision{}, 2},
		{"main is not a module path", "example.com/main ALL", "main", Files, Decision{Unlisted: true}, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := header + tt.file + "\n"
			f, err := Parse("capabilities.txt", []byte(in))
			if err != nil {
				t.Fatalf("Parse(%q) = %v, want no error", in, err)
			}
			got := f.Decide(tt.module, tt.c)
			want := tt.want
			if tt.line != 0 {
				want.Rule = ruleAt(f, tt.line)
			}
			if got != want {
				t.Errorf("Decide(%q, %s) = %+v (rule %v), want %+v (rule %v) for\n%s", tt.module, tt.c, got, got.Rule, want, want.Rule, in)
			}
		})
	}
}

// ruleAt is the rule on a line, as a pointer into f.Rules.
func ruleAt(f *File, line int) *Rule {
	for i := range f.Rules {
		if f.Rules[i].Line == line {
			return &f.Rules[i]
		}
	}
	return nil
}

// TestDecideBuilt decides with a File built in code: "" reads as the
// default, unlisted deny.
func TestDecideBuilt(t *testing.T) {
	f := &File{Rules: []Rule{{Subject: "main", Caps: []Capability{All}}}}
	if got, want := f.Decide("example.com/x", Files), (Decision{Unlisted: true}); got != want {
		t.Errorf("Decide(%q, %s) = %+v, want %+v", "example.com/x", Files, got, want)
	}
	if got, want := f.Decide("main", Files), (Decision{Allowed: true, Rule: &f.Rules[0]}); got != want {
		t.Errorf("Decide(%q, %s) = %+v, want %+v", "main", Files, got, want)
	}
}

func TestDecideGlob(t *testing.T) {
	tests := []struct {
		pattern, s string
		want       bool
	}{
		{"*", "", true},
		{"*", "a/b", true},
		{"a*", "a", true},
		{"a*b*c", "abc", true},
		{"a*b*c", "aXbYbZc", true},
		{"a*b*c", "aXbYbZcd", false},
		{"a*bc", "abcbc", true},
		{"a*bc", "abcb", false},
		{"*a", "bbb", false},
		{"a*a*a*a*b", strings.Repeat("a", 100), false},
		{"abc", "abc", true},
		{"abc", "ab", false},
	}
	for _, tt := range tests {
		if got := glob(tt.pattern, tt.s); got != tt.want {
			t.Errorf("glob(%q, %q) = %v, want %v", tt.pattern, tt.s, got, tt.want)
		}
	}
}

func FuzzParse(f *testing.F) {
	for _, s := range []string{
		designExample,
		"capabilities 1\n",
		"capabilities 1\r\nunlisted warn # w\r\n\tdeny  main\tFILES/READ path=/x#c\r\n",
		"\uFEFF#\ncapabilities 1#\n\n* ALL host=*\nexample.com/a*b NETWORK program=/bin/sh path=/a=b # c # d\n",
		"capabilities 1\non-violation kill\nunlisted allow\nruntime RUNTIME UNANALYZED\n",
		"capabilities 2\n",
		"main FILES\n",
		"capabilities 1\nmain host=x\n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		file, err := Parse("fuzz.txt", b)
		if err != nil {
			var perr *ParseError
			if !errors.As(err, &perr) || perr.Line < 1 || perr.Col < 1 || perr.File != "fuzz.txt" {
				t.Fatalf("Parse(%q) = %#v, want a *ParseError with a position", b, err)
			}
			return
		}
		roundTrip(t, file)
		// Decide must not panic; a few subjects suffice, and all of them
		// would make a file of many rules quadratic.
		for _, r := range file.Rules[:min(len(file.Rules), 8)] {
			for _, c := range []Capability{Files, NetworkConnect, All} {
				file.Decide(r.Subject, c)
			}
		}
	})
}
