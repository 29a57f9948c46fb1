package posture

import (
	"archive/tar"
	"fmt"
	"path"
	"sort"
	"strings"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/customs-dev/customs/vuln"
)

// Version names the checks; a cached report of another version is not
// reused.
const Version = "1"

// maxWhiteoutWork bounds the paths visited to apply directory whiteouts,
// so that an image of many layers of whiteouts costs bounded time.
const maxWhiteoutWork = 50_000_000

// Finding is one posture finding.
type Finding struct {
	// Rule is the rule's ID (root-user, secret, ...).
	Rule     string        `json:"id"`
	Severity vuln.Severity `json:"severity"`
	Title    string        `json:"title"`
	// Layer is the index of the layer that holds the path (0 is the
	// base); -1 for findings in the config.
	Layer int `json:"layer"`
	// LayerDigest is the layer's diff ID; CreatedBy the build step that
	// made it, from the config's history.
	LayerDigest string `json:"layer_digest,omitempty"`
	CreatedBy   string `json:"created_by,omitempty"`
	// Path is the file, or for config findings what in the config
	// ("config:User", "config:Env[DB_PASSWORD]").
	Path string `json:"path"`
	Line int    `json:"line,omitempty"`
	// Detail says what was seen; it never holds a secret's value.
	Detail string `json:"detail"`
	Fix    string `json:"fix"`
	// SecretType is the detector that found a secret.
	SecretType string `json:"secret_type,omitempty"`
}

// Key identifies a finding across scans.
func (f Finding) Key() string { return f.Rule + " " + f.Path }

// Report is an image's posture.
type Report struct {
	Version  string    `json:"version"`
	Findings []Finding `json:"findings"`
	// Minimal is set when the image has neither a shell nor a package
	// manager: what is left for an intruder is the program itself.
	Minimal bool `json:"minimal"`
	// User is the user the image runs as ("" is root).
	User string `json:"user"`
	// Layers and Files count what was read.
	Layers int `json:"layers"`
	Files  int `json:"files"`
	// ReadAlone counts the layers the checks read by themselves, because
	// no other reader read them to their end.
	ReadAlone int `json:"read_alone"`
	// Warnings are parts of the image that could not be read.
	Warnings []string `json:"warnings,omitempty"`
}

// finish turns the layers' results and the config into the report.
func finish(layers []*layerResult, cfg *v1.ConfigFile, ref string) *Report {
	rep := &Report{Version: Version, Layers: len(layers), Findings: []Finding{}}
	history := layerHistory(cfg, len(layers))
	if cfg != nil {
		rep.User = cfg.Config.User
		rep.Findings = append(rep.Findings, configFindings(cfg, ref)...)
	}
	// The file system as it runs: each path's last entry, with the layer
	// that wrote it; and what later layers deleted.
	type node struct {
		e     entry
		layer int
	}
	fs := map[string]node{}
	var deleted []Finding
	work := 0
	// remove deletes a path (self) or what is under it, as a whiteout in
	// layer does, and reports the files it hid, one finding per layer that
	// added them.
	remove := func(target string, self bool, layer int) {
		count := map[int]int{}
		if n, ok := fs[target]; ok && self && n.e.typ != tar.TypeDir {
			// A file: nothing is under it.
			delete(fs, target)
			count[n.layer]++
		} else if work += len(fs); work <= maxWhiteoutWork {
			for p, n := range fs {
				if (self && p == target) || strings.HasPrefix(p, target+"/") {
					delete(fs, p)
					if n.e.typ != tar.TypeDir {
						count[n.layer]++
					}
				}
			}
		}
		for added, c := range count {
			detail := fmt.Sprintf("added by layer %d, deleted by layer %d: still in the image", added, layer)
			if c > 1 || !self {
				detail = fmt.Sprintf("%d files under it added by layer %d, deleted by layer %d: still in the image", c, added, layer)
			}
			deleted = append(deleted, Finding{Rule: DeletedFile, Layer: added, Path: target, Detail: detail})
		}
	}
	for _, l := range layers {
		if l.err != nil {
			rep.Warnings = append(rep.Warnings, fmt.Sprintf("%v: the checks saw only part of it", l.err))
		}
		if l.truncated {
			rep.Warnings = append(rep.Warnings, fmt.Sprintf("layer %d has more than %d entries: the rest were not checked", l.index, maxEntries))
		}
		rep.Findings = append(rep.Findings, l.findings...)
		for _, e := range l.entries {
			dir, base := path.Split(e.path)
			dir = strings.TrimSuffix(dir, "/")
			switch {
			case base == ".wh..wh..opq":
				remove(dir, false, l.index)
				continue
			case strings.HasPrefix(base, ".wh."):
				remove(path.Join(dir, strings.TrimPrefix(base, ".wh.")), true, l.index)
				continue
			}
			if old, ok := fs[e.path]; ok && old.e.typ == tar.TypeDir && e.typ != tar.TypeDir {
				remove(e.path, false, l.index)
			}
			fs[e.path] = node{e, l.index}
			rep.Files++
		}
	}
	rep.Findings = append(rep.Findings, deleted...)
	if work > maxWhiteoutWork {
		rep.Warnings = append(rep.Warnings, "the image deletes too many directories in later layers: files deleted after that point were not all reported")
	}
	var hasShell, hasPM bool
	for p, n := range fs {
		f, ok := fileFinding(p, n.e)
		if !ok {
			continue
		}
		f.Layer = n.layer
		hasShell = hasShell || f.Rule == Shell
		hasPM = hasPM || f.Rule == PackageManager
		rep.Findings = append(rep.Findings, f)
	}
	rep.Minimal = !hasShell && !hasPM
	for i := range rep.Findings {
		f := &rep.Findings[i]
		r := Rules[f.Rule]
		if f.Severity == vuln.Unknown {
			f.Severity = r.Severity
		}
		f.Title, f.Fix = r.Title, r.Fix
		if f.Layer >= 0 && f.Layer < len(layers) {
			f.LayerDigest = layers[f.Layer].diffID
			f.CreatedBy = history[f.Layer]
		}
	}
	sort.SliceStable(rep.Findings, func(i, j int) bool {
		a, b := rep.Findings[i], rep.Findings[j]
		if a.Severity != b.Severity {
			return a.Severity > b.Severity
		}
		if a.Rule != b.Rule {
			return a.Rule < b.Rule
		}
		if a.Path != b.Path {
			return a.Path < b.Path
		}
		return a.Layer < b.Layer
	})
	return rep
}

// fileFinding is what a file of the final file system is, if anything.
func fileFinding(p string, e entry) (Finding, bool) {
	dir, base := path.Split(p)
	dir = strings.TrimSuffix(dir, "/")
	exec := e.mode&0o111 != 0 || e.typ == tar.TypeSymlink || e.typ == tar.TypeLink
	regular := e.typ == tar.TypeReg || e.typ == tar.TypeLink
	onPath := binDirs[dir]
	lower := strings.ToLower(base)
	switch {
	case miners[lower] && (exec || regular):
		return Finding{Rule: Miner, Path: p, Detail: fmt.Sprintf("%s is a cryptominer's name", base)}, true
	case regular && e.mode&0o6000 != 0 && e.mode&0o111 != 0:
		bits := "setuid"
		if e.mode&0o4000 == 0 {
			bits = "setgid"
		} else if e.mode&0o2000 != 0 {
			bits = "setuid and setgid"
		}
		owner := fmt.Sprintf("uid %d", e.uid)
		if e.uid == 0 {
			owner = "root"
		}
		return Finding{Rule: Setuid, Path: p, Detail: fmt.Sprintf("%s, owned by %s (mode %04o)", bits, owner, e.mode&0o7777)}, true
	case (regular || e.typ == tar.TypeDir) && e.mode&0o002 != 0 && !scratch(p):
		if e.typ == tar.TypeDir && e.mode&0o1000 != 0 {
			// A sticky world-writable directory: users cannot remove each
			// other's files. Still, only scratch directories need it.
			return Finding{Rule: WorldWritable, Path: p, Severity: vuln.Low, Detail: fmt.Sprintf("world-writable directory with the sticky bit (mode %04o)", e.mode&0o7777)}, true
		}
		what := "file"
		if e.typ == tar.TypeDir {
			what = "directory"
		}
		return Finding{Rule: WorldWritable, Path: p, Detail: fmt.Sprintf("world-writable %s (mode %04o)", what, e.mode&0o7777)}, true
	case onPath && exec && shells[base]:
		return Finding{Rule: Shell, Path: p, Detail: base + " on PATH"}, true
	case onPath && exec && packageManagers[base]:
		return Finding{Rule: PackageManager, Path: p, Detail: base + " on PATH"}, true
	case onPath && exec && attackTools[base]:
		return Finding{Rule: AttackTool, Path: p, Detail: base + " on PATH"}, true
	}
	return Finding{}, false
}

func scratch(p string) bool {
	for _, d := range scratchDirs {
		if p == d || strings.HasPrefix(p, d+"/") {
			return true
		}
	}
	return false
}

// layerHistory is the build step of each layer, from the config's
// history (entries marked empty_layer made no layer).
func layerHistory(cfg *v1.ConfigFile, n int) []string {
	out := make([]string, n)
	if cfg == nil {
		return out
	}
	i := 0
	for _, h := range cfg.History {
		if h.EmptyLayer {
			continue
		}
		if i >= n {
			break
		}
		out[i] = truncate(withheldHistory(h.CreatedBy), 200)
		i++
	}
	return out
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}
